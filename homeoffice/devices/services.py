"""Laptop handovers, returns and the inventory import: every device change in one place.

Each function checks who may act, changes state and writes the audit event, and never
commits: the request boundary commits all of it or nothing. One laptop is with one
person at a time: the device row is locked (``SELECT … FOR UPDATE``) before a handover,
and the partial unique index "one open handover per device" is the last line of defence.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from xml.etree.ElementTree import ParseError

from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from homeoffice.agreements.models import (
    CURRENT_AGREEMENT_STATES,
    Agreement,
    HomeOfficeRequest,
)
from homeoffice.agreements.services import NotAllowed, current_agreement
from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.devices.models import DEVICE_STATES, Device, Handover
from homeoffice.people.models import IT, Person
from homeoffice.tasks.models import DONE, ISSUE_LAPTOP, OPEN, RETURN_LAPTOP, ItTask
from homeoffice.webhooks import services as webhooks
from homeoffice.webhooks.models import DEVICE_HANDED_OVER, DEVICE_RETURNED

__all__ = [
    "DeviceError",
    "ImportReport",
    "NotAllowed",
    "RowError",
    "can_see_handover",
    "confirm_handover",
    "hand_over",
    "import_devices",
    "load_handover",
    "overdue",
    "read_workbook",
    "recipient",
    "take_back",
]

log = logging.getLogger(__name__)

IN_STOCK = "in_stock"
ISSUED = "issued"
IN_REPAIR = "in_repair"

#: the upload limit of the app (MAX_CONTENT_LENGTH), checked here again for the CLI
MAX_IMPORT_BYTES = 5 * 1024 * 1024
#: an .xlsx is a zip file: what it may unpack to, so that a "zip bomb" is refused unread
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
#: data rows of one import (the header row not counted)
MAX_IMPORT_ROWS = 20_000
#: asset tags or serial numbers per ``IN (…)`` query, well below SQLite's parameter limit
_CHUNK = 500


class DeviceError(Exception):
    """A refused action; ``message`` is shown to the user as it is (translated)."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


# --- who may do what ------------------------------------------------------------------


def _require_it(person: Person) -> None:
    if IT not in person.role_set:
        raise NotAllowed()


def can_see_handover(actor: Person, handover: Handover) -> bool:
    """The person who received the device and IT; nobody else learns it exists."""
    return actor.id == handover.person_id or IT in actor.role_set


def load_handover(
    session: Session, handover_id: int, actor: Person, *, lock: bool = False
) -> Handover:
    """The handover, or NotAllowed when it does not exist or the actor may not see it.

    ``lock`` takes a row lock so that two clicks on "take back" or "confirm" are
    serialised; ``populate_existing`` makes the locked read win over a cached object.
    """
    statement = select(Handover).where(Handover.id == handover_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    handover = session.exec(statement).first()
    if handover is None or not can_see_handover(actor, handover):
        raise NotAllowed()
    return handover


def _locked_device(session: Session, device_id: int) -> Device:
    device = session.exec(
        select(Device)
        .where(Device.id == device_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if device is None:
        raise NotAllowed()
    return device


# --- handing over ---------------------------------------------------------------------


def recipient(session: Session, who: str) -> tuple[Person, Agreement]:
    """The active person with this user name or staff number, and their current agreement.

    A laptop goes out only under a current (approved or active) agreement that asks
    for one; anything else is refused with a message that says what is missing.
    """
    who = (who or "").strip()
    people = (
        session.exec(
            select(Person).where(
                col(Person.active).is_(True),
                (func.lower(Person.username) == who.lower()) | (Person.employee_number == who),
            )
        ).all()
        if who
        else []
    )
    by_username = [p for p in people if p.username.lower() == who.lower()]
    if by_username:
        person = by_username[0]
    elif len(people) == 1:
        person = people[0]
    elif people:
        raise DeviceError(
            _l("Several people have this staff number. Please enter the user name instead.")
        )
    else:
        raise DeviceError(_l("Nobody with this user name or staff number was found."))
    agreement = current_agreement(session, person)
    _check_agreement(session, person, agreement)
    return person, agreement


def _check_agreement(session: Session, person: Person, agreement: Agreement | None) -> None:
    if (
        agreement is None
        or agreement.person_id != person.id
        or agreement.state not in CURRENT_AGREEMENT_STATES
    ):
        raise DeviceError(
            _l("%(name)s has no current home-office agreement.", name=person.display_name)
        )
    request = session.get(HomeOfficeRequest, agreement.request_id)
    if request is None or not request.wants_laptop:
        raise DeviceError(
            _l(
                "The home-office agreement of %(name)s does not include a laptop.",
                name=person.display_name,
            )
        )


def hand_over(
    *,
    session: Session,
    device_id: int,
    person: Person,
    agreement: Agreement,
    by: Person,
    accessories: str | None,
    on: date,
) -> Handover:
    """IT hands a laptop in stock to a person under their current agreement (Übergabe)."""
    _require_it(by)
    if person.id == by.id:
        raise DeviceError(
            _l("You cannot hand a device to yourself. Please ask a colleague from IT.")
        )
    _check_agreement(session, person, agreement)
    device = _locked_device(session, device_id)
    if device.state != IN_STOCK:
        raise DeviceError(_l("The device is not in stock."))
    held = session.exec(
        select(Device.asset_tag)
        .join(Handover, Handover.device_id == Device.id)
        .where(Handover.person_id == person.id, col(Handover.returned_on).is_(None))
    ).first()
    if held is not None:
        raise DeviceError(
            _l(
                "%(name)s already has the laptop %(asset_tag)s. Please take it back first.",
                name=person.display_name,
                asset_tag=held,
            )
        )
    # The device row changes first: on SQLite this UPDATE opens the transaction, so the
    # savepoint below nests inside it instead of committing on release.
    device.state = ISSUED
    session.flush()
    handover = Handover(
        device_id=device.id,
        person_id=person.id,
        agreement_id=agreement.id,
        handed_over_on=on,
        handed_over_by_id=by.id,
        accessories=(accessories or "").strip()[:500] or None,
        expected_return=agreement.end_date,
    )
    try:
        with session.begin_nested():
            session.add(handover)
            session.flush()
    except IntegrityError:
        # Another open handover of this device exists (the unique index said so); the
        # savepoint dropped our row, and the device keeps its state: the session stays
        # usable for the rest of the request.
        device.state = IN_STOCK
        session.flush()
        log.warning("Handover of device %s refused by the unique index", device.id)
        raise DeviceError(
            _l(
                "Another handover of this device was recorded at the same moment. "
                "Please reload the page."
            )
        ) from None
    tasks = _finish_tasks(session, agreement_id=agreement.id, kind=ISSUE_LAPTOP, by=by)
    record(
        session,
        action="device.handed_over",
        actor=by,
        object_type="handover",
        object_id=handover.id,
        before={"device_state": IN_STOCK, "tasks": {task.id: OPEN for task in tasks}},
        after={
            "device_state": ISSUED,
            "device_id": device.id,
            "asset_tag": device.asset_tag,
            "person_id": person.id,
            "agreement_id": agreement.id,
            "handed_over_on": on.isoformat(),
            "expected_return": agreement.end_date.isoformat() if agreement.end_date else None,
            "accessories": handover.accessories,
            "tasks": {task.id: DONE for task in tasks},
        },
    )
    webhooks.emit(session, DEVICE_HANDED_OVER, webhooks.handover_payload(handover, device, person))
    log.info("Device %s handed to person %s by %s", device.id, person.id, by.id)
    return handover


def _finish_tasks(session: Session, *, agreement_id: int | None, kind: str, by: Person):
    """Mark the open IT tasks of this kind for the agreement done."""
    if agreement_id is None:
        return []
    tasks = session.exec(
        select(ItTask).where(
            ItTask.agreement_id == agreement_id, ItTask.kind == kind, ItTask.state == OPEN
        )
    ).all()
    for task in tasks:
        task.state, task.done_at, task.done_by_id = DONE, utcnow(), by.id
    session.flush()
    return list(tasks)


def confirm_handover(*, session: Session, handover: Handover, by: Person) -> Handover:
    """The person confirms they received the device (once; a second click changes nothing)."""
    if handover.person_id != by.id:
        raise NotAllowed()
    if handover.returned_on is not None:
        raise DeviceError(_l("This handover is already closed."))
    if handover.confirmed_at is not None:
        return handover
    handover.confirmed_at = utcnow()
    session.flush()
    record(
        session,
        action="handover.confirmed",
        actor=by,
        object_type="handover",
        object_id=handover.id,
        before={"confirmed_at": None},
        after={"confirmed_at": handover.confirmed_at.isoformat()},
    )
    return handover


def take_back(
    *,
    session: Session,
    handover: Handover,
    by: Person,
    on: date,
    note: str | None,
    repair: bool = False,
) -> Handover:
    """IT takes a laptop back: into stock, or into repair when it needs one."""
    _require_it(by)
    if handover.person_id == by.id:
        raise DeviceError(
            _l("You cannot take a device back from yourself. Please ask a colleague from IT.")
        )
    if handover.returned_on is not None:
        raise DeviceError(_l("This device has already been returned."))
    if on < handover.handed_over_on:
        raise DeviceError(_l("The return date cannot be before the handover."))
    device = _locked_device(session, handover.device_id)
    before = device.state
    handover.returned_on, handover.returned_to_id = on, by.id
    handover.return_note = (note or "").strip()[:1000] or None
    device.state = IN_REPAIR if repair else IN_STOCK
    session.flush()
    tasks = _finish_tasks(session, agreement_id=handover.agreement_id, kind=RETURN_LAPTOP, by=by)
    record(
        session,
        action="device.taken_back",
        actor=by,
        object_type="handover",
        object_id=handover.id,
        before={"device_state": before, "returned_on": None, "tasks": {t.id: OPEN for t in tasks}},
        after={
            "device_state": device.state,
            "device_id": device.id,
            "asset_tag": device.asset_tag,
            "returned_on": on.isoformat(),
            "note": handover.return_note,
            "tasks": {t.id: DONE for t in tasks},
        },
    )
    holder = session.get(Person, handover.person_id)
    webhooks.emit(session, DEVICE_RETURNED, webhooks.handover_payload(handover, device, holder))
    log.info("Device %s taken back from person %s by %s", device.id, handover.person_id, by.id)
    return handover


def overdue(session: Session, today: date) -> list[tuple[Handover, Person, Device]]:
    """Open handovers whose expected return has passed, oldest first (one query)."""
    return list(
        session.exec(
            select(Handover, Person, Device)
            .join(Person, Person.id == Handover.person_id)
            .join(Device, Device.id == Handover.device_id)
            .where(
                col(Handover.returned_on).is_(None),
                col(Handover.expected_return).is_not(None),
                col(Handover.expected_return) < today,
            )
            .order_by(Handover.expected_return, Handover.id)
        ).all()
    )


# --- the inventory import -------------------------------------------------------------

#: column → the header names accepted for it (compared in lower case, "_"/"-" as space)
HEADERS = {
    "asset_tag": ("inventarnummer", "asset tag"),
    "serial_number": ("seriennummer", "serial number"),
    "model": ("modell", "model"),
    "purchase_date": ("kaufdatum", "purchase date"),
    "state": ("zustand", "state"),
    "notes": ("notizen", "notes"),
}
REQUIRED_COLUMNS = {
    "asset_tag": _l("Asset tag"),
    "serial_number": _l("Serial number"),
    "model": _l("Model"),
}
#: the state names a sheet may use: our keys, the English and the German labels
STATE_NAMES = {
    **{state: state for state in DEVICE_STATES},
    **{state.replace("_", " "): state for state in DEVICE_STATES},
    "im lager": IN_STOCK,
    "lager": IN_STOCK,
    "ausgegeben": ISSUED,
    "in reparatur": IN_REPAIR,
    "reparatur": IN_REPAIR,
    "ausgemustert": "retired",
}
_LENGTHS = {"asset_tag": 50, "serial_number": 100, "model": 200, "notes": 2000}
_FIELD_NAMES = {
    "asset_tag": _l("Asset tag"),
    "serial_number": _l("Serial number"),
    "model": _l("Model"),
    "notes": _l("Notes"),
}
_MISSING = {
    "asset_tag": _l("asset tag missing"),
    "serial_number": _l("serial number missing"),
    "model": _l("model missing"),
}
_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@dataclass
class RowError:
    """What is wrong with one row of the sheet; ``row`` is the spreadsheet's row number."""

    row: int
    message: Any

    def __str__(self) -> str:
        return str(_l("Row %(row)d: %(error)s", row=self.row, error=str(self.message)))


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Row:
    number: int
    asset_tag: str
    serial_number: str
    model: str
    purchase_date: date | None
    state: str | None
    notes: str | None


def read_workbook(stream: IO[bytes]) -> list[tuple]:
    """The rows of the first sheet of an uploaded .xlsx, the header row first.

    Position ``i`` holds spreadsheet row ``i + 1`` (empty rows stay as empty tuples so
    that row numbers in messages match what the clerk sees). Cells are read as they are
    stored: a formula comes back as its text and is never evaluated.
    """
    data = stream.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise DeviceError(_l("The file is too large."))
    unreadable = DeviceError(_l("The file could not be read. Please upload an Excel file (.xlsx)."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, NotImplementedError):
        raise unreadable from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise DeviceError(_l("The file is too large."))
    rows: list[tuple] = []
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            if not workbook.worksheets:
                raise unreadable
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some programs write a wrong size; read what is there
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                filled = any(_text(v) for v in values)
                if number > MAX_IMPORT_ROWS + 1:
                    if filled:
                        raise DeviceError(
                            _l(
                                "The file has more than %(max)d rows. Please split it.",
                                max=MAX_IMPORT_ROWS,
                            )
                        )
                    continue
                rows.append(tuple(values) if filled else ())
        finally:
            workbook.close()
    # openpyxl reports a damaged or foreign file in many ways; each means "unreadable".
    except (
        InvalidFileException,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        ParseError,
        EOFError,
        NotImplementedError,
        zlib.error,
    ) as error:
        log.info("Unreadable device import: %s", type(error).__name__)
        raise unreadable from None
    return rows


def _text(value: Any) -> str:
    """A cell as text: whole numbers without ".0", dates as ISO dates, never evaluated."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value == datetime.combine(value.date(), datetime.min.time()):
        return value.date().isoformat()
    return str(value).strip()


def _header_key(value: Any) -> str:
    return " ".join(_text(value).lower().replace("_", " ").replace("-", " ").split())


def _columns(header: Sequence[Any]) -> dict[str, int]:
    names = {alias: key for key, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, value in enumerate(header):
        key = names.get(_header_key(value))
        if key is not None and key not in columns:
            columns[key] = index
    return columns


def _purchase_date(value: Any) -> date | None:
    """A date cell or a "dd.mm.yyyy" (or ISO) text; ValueError for anything else."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if match := _GERMAN_DATE.fullmatch(text):
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        if match := _ISO_DATE.fullmatch(text):
            year, month, day = (int(g) for g in match.groups())
            return date(year, month, day)
    raise ValueError(value)


def _parse_row(number: int, values: Sequence[Any], columns: dict[str, int]):
    """A row's values, checked on their own; (row, errors)."""

    def cell(key: str) -> Any:
        index = columns.get(key)
        return values[index] if index is not None and index < len(values) else None

    errors: list[RowError] = []
    texts = {key: _text(cell(key)) for key in ("asset_tag", "serial_number", "model", "notes")}
    for key, message in _MISSING.items():
        if not texts[key]:
            errors.append(RowError(number, message))
    for key, limit in _LENGTHS.items():
        if len(texts[key]) > limit:
            errors.append(
                RowError(
                    number,
                    _l(
                        "%(field)s is too long (at most %(max)d characters)",
                        field=str(_FIELD_NAMES[key]),
                        max=limit,
                    ),
                )
            )
    purchase_date = None
    raw_date = cell("purchase_date")
    if _text(raw_date):
        try:
            purchase_date = _purchase_date(raw_date)
        except ValueError:
            errors.append(RowError(number, _l("purchase date is not a date (DD.MM.YYYY)")))
    state = None
    raw_state = _text(cell("state"))
    if raw_state:
        state = STATE_NAMES.get(" ".join(raw_state.lower().replace("_", " ").split()))
        if state is None:
            errors.append(RowError(number, _l("unknown state “%(value)s”", value=raw_state[:50])))
    row = _Row(
        number=number,
        asset_tag=texts["asset_tag"],
        serial_number=texts["serial_number"],
        model=texts["model"],
        purchase_date=purchase_date,
        state=state,
        notes=texts["notes"] or None,
    )
    return row, errors


def _existing(session: Session, column, values: Iterable[str]) -> dict[str, Device]:
    values = sorted(set(values))
    found: dict[str, Device] = {}
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        for device in session.exec(select(Device).where(col(column).in_(chunk))).all():
            found[getattr(device, column.key)] = device
    return found


def import_devices(
    *, session: Session, rows: Sequence[Sequence[Any]], by: Person, source: str = ""
) -> ImportReport:
    """Create and update laptops from a sheet (first row: headers), all or nothing.

    Every row is checked first (required fields, dates, states, duplicates in the file
    and serial numbers of other devices). With a single bad row nothing changes and the
    report lists the errors by row; otherwise new asset tags are created and known ones
    updated, where an empty cell leaves the stored value as it is.
    """
    _require_it(by)
    report = ImportReport()
    if not rows or not any(_text(v) for v in rows[0]):
        report.errors.append(RowError(1, _l("the first row must name the columns")))
        return report
    columns = _columns(rows[0])
    for key, label in REQUIRED_COLUMNS.items():
        if key not in columns:
            report.errors.append(
                RowError(1, _l("the column “%(column)s” is missing", column=str(label)))
            )
    if report.errors:
        return report

    parsed: list[_Row] = []
    tag_rows: dict[str, int] = {}
    serial_rows: dict[str, int] = {}
    for number, values in enumerate(rows[1:], start=2):
        if not values:
            continue
        row, errors = _parse_row(number, values, columns)
        report.errors.extend(errors)
        if row.asset_tag in tag_rows:
            report.errors.append(
                RowError(
                    number,
                    _l(
                        "asset tag %(value)s already appears in row %(row)d",
                        value=row.asset_tag,
                        row=tag_rows[row.asset_tag],
                    ),
                )
            )
        elif row.asset_tag:
            tag_rows[row.asset_tag] = number
        if row.serial_number in serial_rows:
            report.errors.append(
                RowError(
                    number,
                    _l(
                        "serial number %(value)s already appears in row %(row)d",
                        value=row.serial_number,
                        row=serial_rows[row.serial_number],
                    ),
                )
            )
        elif row.serial_number:
            serial_rows[row.serial_number] = number
        parsed.append(row)
    report.rows = len(parsed)
    if not parsed:
        report.errors.append(RowError(2, _l("the file contains no devices")))
        return report

    by_tag = _existing(session, Device.asset_tag, tag_rows)
    by_serial = _existing(session, Device.serial_number, serial_rows)
    for row in parsed:
        owner = by_serial.get(row.serial_number)
        if owner is not None and owner.asset_tag != row.asset_tag:
            report.errors.append(
                RowError(
                    row.number,
                    _l(
                        "serial number %(value)s belongs to the device %(asset_tag)s",
                        value=row.serial_number,
                        asset_tag=owner.asset_tag,
                    ),
                )
            )
        device = by_tag.get(row.asset_tag)
        current = device.state if device is not None else None
        if current == ISSUED and row.state not in (None, ISSUED):
            report.errors.append(
                RowError(
                    row.number,
                    _l("the device is issued; its state changes only when it is taken back"),
                )
            )
        elif row.state == ISSUED and current != ISSUED:
            report.errors.append(RowError(row.number, _l("“issued” can only be set by a handover")))
    if report.errors:
        report.errors.sort(key=lambda error: error.row)
        return report

    new_devices = []
    now = utcnow()
    for row in parsed:
        device = by_tag.get(row.asset_tag)
        if device is None:
            new_devices.append(
                {
                    "asset_tag": row.asset_tag,
                    "serial_number": row.serial_number,
                    "model": row.model,
                    "purchase_date": row.purchase_date,
                    "state": row.state or IN_STOCK,
                    "notes": row.notes,
                    "created_at": now,
                }
            )
            continue
        wanted = {"serial_number": row.serial_number, "model": row.model}
        for key in ("purchase_date", "state", "notes"):
            if getattr(row, key) is not None:
                wanted[key] = getattr(row, key)
        changed = {k: v for k, v in wanted.items() if getattr(device, k) != v}
        for key, value in changed.items():
            setattr(device, key, value)
        if changed:
            report.updated += 1
        else:
            report.unchanged += 1
    report.created = len(new_devices)
    record(
        session,
        action="devices.imported",
        actor=by,
        object_type="device",
        after={
            "file": source[:200],
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
        },
    )
    try:
        with session.begin_nested():
            session.flush()
            if new_devices:
                # One bulk INSERT: building 20,000 validated models would take seconds.
                session.exec(insert(Device), params=new_devices)
    except IntegrityError:
        # Somebody saved one of these asset tags or serial numbers meanwhile.
        raise DeviceError(
            _l(
                "The devices were changed by someone else at the same moment. "
                "Please upload the file again."
            )
        ) from None
    log.info("Device import by %s: %s created, %s updated", by.id, report.created, report.updated)
    return report
