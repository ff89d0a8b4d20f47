"""The Excel rosters of IT and HR: devices, VPN, terminal server, the combined roster
per person, and the agreements. One writer (``homeoffice.exports.xlsx``) for all.

Every roster is a few set-based queries streamed into the workbook, so 10,000 people
take the same number of statements as 10. Health reasons never appear in an export.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO
from zoneinfo import ZoneInfo

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from homeoffice.access.models import (
    ACTIVE,
    CERTIFICATE,
    TERMINAL_SERVER_GROUP,
    TERMINAL_SERVER_SECRET,
    VPN_GROUP,
    WIREGUARD,
    Credential,
)
from homeoffice.agreements.labels import KIND_LABELS, PATTERN_LABELS, STATE_LABELS, reason_labels
from homeoffice.agreements.models import CURRENT_AGREEMENT_STATES, Agreement, HomeOfficeRequest
from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.devices.models import Device, Handover
from homeoffice.exports.xlsx import Column, Sheet, write_workbook
from homeoffice.people.models import Person, Unit

KINDS = ("devices", "vpn", "terminal-server", "roster", "agreements", "plan")
VPN_KINDS = (VPN_GROUP, CERTIFICATE, WIREGUARD)
TERMINAL_SERVER_KINDS = (TERMINAL_SERVER_GROUP, TERMINAL_SERVER_SECRET)


@dataclass
class ExportFilter:
    unit_id: int | None = None
    unit_name: str | None = None
    #: the date range of the presence plan (other rosters ignore it)
    start: date | None = None
    end: date | None = None

    def describe(self) -> str:
        text = _("Unit: %(unit)s", unit=self.unit_name) if self.unit_name else _("all units")
        if self.start and self.end:
            text += ", " + _(
                "%(start)s to %(end)s",
                start=self.start.strftime("%d.%m.%Y"),
                end=self.end.strftime("%d.%m.%Y"),
            )
        return text


def _credential_label(kind: str) -> str:
    from homeoffice.templating import CREDENTIAL_LABELS

    return str(CREDENTIAL_LABELS.get(kind, kind))


def _device_state_label(state: str) -> str:
    from homeoffice.templating import DEVICE_STATE_LABELS

    return str(DEVICE_STATE_LABELS.get(state, state))


def _people_filter(statement, export_filter: ExportFilter):
    if export_filter.unit_id:
        statement = statement.where(Person.unit_id == export_filter.unit_id)
    return statement


def devices_sheet(session: Session, export_filter: ExportFilter, config: Mapping) -> Sheet:
    holder = aliased(Person)
    statement = (
        select(Device, Handover, holder, Unit.name)
        .outerjoin(
            Handover, (Handover.device_id == Device.id) & col(Handover.returned_on).is_(None)
        )
        .outerjoin(holder, holder.id == Handover.person_id)
        .outerjoin(Unit, Unit.id == holder.unit_id)
        .order_by(Device.asset_tag)
    )
    if export_filter.unit_id:
        statement = statement.where(holder.unit_id == export_filter.unit_id)

    def rows() -> Iterator[dict]:
        for device, handover, person, unit_name in session.exec(statement):
            yield {
                "asset_tag": device.asset_tag,
                "serial": device.serial_number,
                "model": device.model,
                "purchased": device.purchase_date,
                "state": _device_state_label(device.state),
                "holder": person.display_name if person else None,
                "unit": unit_name,
                "handed_over": handover.handed_over_on if handover else None,
                "expected_return": handover.expected_return if handover else None,
                "notes": device.notes,
            }

    return Sheet(
        title=_("Laptops"),
        columns=[
            Column("asset_tag", _("Asset tag")),
            Column("serial", _("Serial number")),
            Column("model", _("Model")),
            Column("purchased", _("Purchased"), "date"),
            Column("state", _("State")),
            Column("holder", _("Holder")),
            Column("unit", _("Unit")),
            Column("handed_over", _("Handed over on"), "date"),
            Column("expected_return", _("Expected return"), "date"),
            Column("notes", _("Notes"), width=40),
        ],
        rows=rows(),
    )


def _access_sheet(session, export_filter, kinds, title) -> Sheet:
    statement = _people_filter(
        select(Credential, Person, Unit.name, HomeOfficeRequest.uses_private_computer)
        .join(Person, Person.id == Credential.person_id)
        .join(Agreement, Agreement.id == Credential.agreement_id)
        .join(HomeOfficeRequest, HomeOfficeRequest.id == Agreement.request_id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .where(Credential.state == ACTIVE, col(Credential.kind).in_(kinds))
        .order_by(Person.display_name, Credential.kind),
        export_filter,
    )

    def rows() -> Iterator[dict]:
        for credential, person, unit_name, byod in session.exec(statement):
            yield {
                "name": person.display_name,
                "username": person.username,
                "staff_number": person.employee_number,
                "unit": unit_name,
                "kind": _credential_label(credential.kind),
                "issued": credential.issued_at,
                "expires": credential.expires_on,
                "detail": credential.certificate_serial or credential.wireguard_address,
                "byod": bool(byod),
            }

    return Sheet(
        title=title,
        columns=[
            Column("name", _("Name")),
            Column("username", _("User name")),
            Column("staff_number", _("Staff number")),
            Column("unit", _("Unit")),
            Column("kind", _("Kind")),
            Column("issued", _("Issued"), "datetime"),
            Column("expires", _("Valid until"), "date"),
            Column("detail", _("Details")),
            Column("byod", _("Private computer"), "bool"),
        ],
        rows=rows(),
    )


def vpn_sheet(session: Session, export_filter: ExportFilter, config: Mapping) -> Sheet:
    return _access_sheet(session, export_filter, VPN_KINDS, _("VPN"))


def terminal_server_sheet(session: Session, export_filter: ExportFilter, config: Mapping) -> Sheet:
    return _access_sheet(session, export_filter, TERMINAL_SERVER_KINDS, _("Terminal server"))


def roster_sheet(session: Session, export_filter: ExportFilter, config: Mapping) -> Sheet:
    """One row per person with a current agreement: term, device, access, expiry."""
    agreements = session.exec(
        _people_filter(
            select(Agreement, Person, Unit, HomeOfficeRequest.uses_private_computer)
            .join(Person, Person.id == Agreement.person_id)
            .join(HomeOfficeRequest, HomeOfficeRequest.id == Agreement.request_id)
            .outerjoin(Unit, Unit.id == Person.unit_id)
            .where(col(Agreement.state).in_(CURRENT_AGREEMENT_STATES))
            .order_by(Unit.name, Person.display_name),
            export_filter,
        )
    ).all()
    person_ids = [person.id for _a, person, _u, _b in agreements]
    devices: dict[int, list[str]] = defaultdict(list)
    access: dict[int, set[str]] = defaultdict(set)
    if person_ids:
        for person_id, asset_tag in session.exec(
            select(Handover.person_id, Device.asset_tag)
            .join(Device, Device.id == Handover.device_id)
            .where(col(Handover.returned_on).is_(None), col(Handover.person_id).in_(person_ids))
        ):
            devices[person_id].append(asset_tag)
        for person_id, kind in session.exec(
            select(Credential.person_id, Credential.kind).where(
                Credential.state == ACTIVE, col(Credential.person_id).in_(person_ids)
            )
        ):
            access[person_id].add(kind)

    def rows() -> Iterator[dict]:
        for agreement, person, unit, byod in agreements:
            kinds = access.get(person.id, set())
            has_access = bool(kinds)
            yield {
                "name": person.display_name,
                "staff_number": person.employee_number,
                "unit": unit.name if unit else None,
                "cost_centre": unit.cost_centre if unit else None,
                "start": agreement.start_date,
                "end": agreement.end_date,
                "state": str(STATE_LABELS.get(agreement.state, agreement.state)),
                "devices": ", ".join(sorted(devices.get(person.id, []))) or None,
                "vpn": bool(kinds & set(VPN_KINDS)),
                "terminal_server": bool(kinds & set(TERMINAL_SERVER_KINDS)),
                "expires": agreement.end_date if has_access else None,
                "byod": bool(byod),
            }

    return Sheet(
        title=_("Roster"),
        columns=[
            Column("name", _("Name")),
            Column("staff_number", _("Staff number")),
            Column("unit", _("Unit")),
            Column("cost_centre", _("Cost centre")),
            Column("start", _("From"), "date"),
            Column("end", _("Until"), "date"),
            Column("state", _("State")),
            Column("devices", _("Laptops")),
            Column("vpn", _("VPN"), "bool"),
            Column("terminal_server", _("Terminal server"), "bool"),
            Column("expires", _("Access until"), "date"),
            Column("byod", _("Private computer"), "bool"),
        ],
        rows=rows(),
    )


def agreements_sheet(session: Session, export_filter: ExportFilter, config: Mapping) -> Sheet:
    statement = _people_filter(
        select(Agreement, HomeOfficeRequest, Person, Unit.name)
        .join(HomeOfficeRequest, HomeOfficeRequest.id == Agreement.request_id)
        .join(Person, Person.id == Agreement.person_id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .order_by(Agreement.start_date, Agreement.id),
        export_filter,
    )

    def rows() -> Iterator[dict]:
        for agreement, req, person, unit_name in session.exec(statement):
            yield {
                "number": agreement.id,
                "name": person.display_name,
                "staff_number": person.employee_number,
                "unit": unit_name,
                "kind": str(KIND_LABELS.get(agreement.kind, agreement.kind)),
                "state": str(STATE_LABELS.get(agreement.state, agreement.state)),
                "start": agreement.start_date,
                "end": agreement.end_date,
                "days": str(PATTERN_LABELS.get(agreement.pattern, agreement.pattern)),
                "days_per_week": agreement.days_per_week,
                # Exports never carry health reasons: "personal reason on file" instead.
                "reasons": ", ".join(reason_labels(req.reason_set, show_health=False)),
                "rule_set": agreement.rule_set,
            }

    return Sheet(
        title=_("Agreements"),
        columns=[
            Column("number", _("Number"), "int"),
            Column("name", _("Name")),
            Column("staff_number", _("Staff number")),
            Column("unit", _("Unit")),
            Column("kind", _("Kind")),
            Column("state", _("State")),
            Column("start", _("From"), "date"),
            Column("end", _("Until"), "date"),
            Column("days", _("Days")),
            Column("days_per_week", _("Days per week"), "number"),
            Column("reasons", _("Reasons"), width=30),
            Column("rule_set", _("Rule set")),
        ],
        rows=rows(),
    )


def plan_sheet(session: Session, export_filter: ExportFilter, config: Mapping) -> Sheet:
    """Who is where on each working day of the range: office (with room) or home."""
    from homeoffice.presence import plan
    from homeoffice.presence.services import load_unit
    from homeoffice.rooms.models import Building, Room, RoomAllocation
    from homeoffice.rooms.services import holidays_for
    from homeoffice.templating import DAY_KIND_LABELS

    start = export_filter.start or date.today()
    end = export_filter.end or start + timedelta(days=27)
    holidays = holidays_for(config, start, end)
    units = session.exec(select(Unit).where(col(Unit.active).is_(True)).order_by(Unit.name)).all()
    if export_filter.unit_id:
        units = [u for u in units if u.id == export_filter.unit_id]
    seats = {
        (row.day, row.person_id): (room.number, building)
        for row, room, building in session.exec(
            select(RoomAllocation, Room, Building.name)
            .join(Room, Room.id == RoomAllocation.room_id)
            .join(Building, Building.id == Room.building_id)
            .where(RoomAllocation.day >= start, RoomAllocation.day <= end)
        )
    }

    def rows() -> Iterator[dict]:
        for unit in units:
            inputs = load_unit(session, unit, start=start, end=end)
            statuses = plan.unit_statuses(
                inputs.inputs, start=start, end=end, rotations=inputs.rotations, holidays=holidays
            )
            names = {p.id: p for p in inputs.people}
            for day, day_statuses in sorted(statuses.items()):
                for person_id, status in sorted(
                    day_statuses.items(), key=lambda item: names[item[0]].display_name
                ):
                    person = names[person_id]
                    room, building = seats.get((day, person_id), (None, None))
                    yield {
                        "day": day,
                        "name": person.display_name,
                        "staff_number": person.employee_number,
                        "unit": unit.name,
                        "where": str(DAY_KIND_LABELS.get(status.kind, status.kind)),
                        "building": building,
                        "room": room,
                    }

    return Sheet(
        title=_("Presence plan"),
        columns=[
            Column("day", _("Day"), "date"),
            Column("name", _("Name")),
            Column("staff_number", _("Staff number")),
            Column("unit", _("Unit")),
            Column("where", _("Where")),
            Column("building", _("Building")),
            Column("room", _("Room")),
        ],
        rows=rows(),
    )


#: every builder takes the settings too: the presence plan needs the holidays' state
SHEETS = {
    "devices": devices_sheet,
    "vpn": vpn_sheet,
    "terminal-server": terminal_server_sheet,
    "roster": roster_sheet,
    "agreements": agreements_sheet,
    "plan": plan_sheet,
}


def export(
    *,
    session: Session,
    kind: str,
    target: str | IO[bytes],
    export_filter: ExportFilter,
    by: Person | None,
    by_name: str,
    config: Mapping,
) -> None:
    """Write one roster and record who exported what with which filter."""
    if kind not in SHEETS:
        raise ValueError(f"unknown roster {kind!r}; choose one of {', '.join(KINDS)}")
    now = utcnow()
    sheet = SHEETS[kind](session, export_filter, config)
    write_workbook(
        target,
        [sheet],
        about=[
            (_("Roster"), sheet.title),
            (_("Filter"), export_filter.describe()),
            (_("Exported at"), format_datetime(now, "dd.MM.yyyy HH:mm")),
            (_("Exported by"), by_name),
        ],
        about_title=_("About this export"),
        tz=ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"]),
    )
    record(
        session,
        action=f"export.{kind}",
        actor=by,
        actor_name=None if by else by_name,
        after={"filter": export_filter.describe(), "at": now.isoformat()},
    )


def filename(kind: str, when: datetime) -> str:
    return f"homeoffice-{kind}-{when:%Y-%m-%d}.xlsx"
