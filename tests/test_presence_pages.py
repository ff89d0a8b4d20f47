"""Presence pages through the test client: my week, the team plan, swaps, occupancy,
the contact report and the calendar feed."""

import re
from datetime import date, timedelta

from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.people.models import Person
from homeoffice.presence.models import Rotation
from homeoffice.rooms.models import Building, Room
from tests.agreement_helpers import share_agreement
from tests.conftest import csrf_token
from tests.test_presence_rooms import MONDAY


def _logout(client):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def _with_agreements(app):
    with app.app_context(), session_scope() as session:
        people = {p.username: p for p in session.exec(select(Person))}
        for name in ("e.kaya", "c.schaefer"):
            share_agreement(session, people[name], start=MONDAY - timedelta(days=7))
        building = Building(name="Rathaus")
        session.add(building)
        session.flush()
        for n in range(3):
            session.add(Room(building_id=building.id, number=f"0.0{n}", infection_capacity=1,
                             unit_id=people["e.kaya"].unit_id, step_free=True))


def test_supervisor_sets_rotation_and_groups_and_sees_the_month(app, client, auth):
    _with_agreements(app)
    auth.login("supervisor")
    page = client.get("/presence/unit")
    assert page.status_code == 200 and "Teamplan" in page.get_data(as_text=True)
    token = csrf_token(client, "/presence/unit")
    response = client.post("/presence/unit/1/rotation", data={
        "kind": "weekly", "groups": "2", "valid_from": date.today().isoformat(),
        "csrf_token": token})
    assert response.status_code == 302
    with app.app_context(), session_scope() as session:
        rotation = session.exec(select(Rotation)).one()
        people = {p.username: p.id for p in session.exec(select(Person))}
    assert rotation.kind == "weekly"
    client.post(f"/presence/unit/{rotation.unit_id}/groups", data={
        "csrf_token": token, f"group-{people['e.kaya']}": "0",
        f"group-{people['c.schaefer']}": "1", "valid_from": date.today().isoformat()})
    month = client.get(f"/presence/unit?month={MONDAY:%Y-%m}").get_data(as_text=True)
    assert "Gruppe A" in month and "Gruppe B" in month
    assert re.search(r'class="plan-office">B<', month)
    # Past days cannot get a new rotation.
    client.post(f"/presence/unit/{rotation.unit_id}/rotation", data={
        "kind": "none", "groups": "1", "valid_from": (date.today() - timedelta(days=3)).isoformat(),
        "csrf_token": token})
    with app.app_context(), session_scope() as session:
        assert len(session.exec(select(Rotation)).all()) == 1
    proposed = client.post(f"/presence/unit/{rotation.unit_id}/propose",
                           data={"csrf_token": token})
    assert proposed.status_code == 302


def test_other_units_plan_is_not_reachable(app, client, auth):
    auth.login("supervisor")
    token = csrf_token(client, "/presence/unit")
    with app.app_context(), session_scope() as session:
        other = session.exec(select(Person).where(Person.username == "o.weiss")).one().unit_id
    assert client.post(f"/presence/unit/{other}/rotation", data={
        "kind": "none", "groups": "1", "valid_from": date.today().isoformat(),
        "csrf_token": token}).status_code == 404


def test_my_week_absence_and_calendar_feed(app, client, auth):
    _with_agreements(app)
    auth.login("employee")
    week = client.get(f"/presence/?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert "Büro" in week or "Homeoffice" in week
    token = csrf_token(client, "/presence/")
    client.post("/presence/absences", data={"start": MONDAY.isoformat(),
                                            "end": (MONDAY + timedelta(days=1)).isoformat(),
                                            "csrf_token": token})
    week = client.get(f"/presence/?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert week.count("abwesend") >= 2
    created = client.post("/presence/calendar", data={"csrf_token": token})
    url = re.search(r"http://localhost(/presence/calendar/[^<\s]+\.ics)", created.get_data(
        as_text=True)).group(1)
    feed = app.test_client().get(url)  # no login: the address is the key
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    assert b"BEGIN:VEVENT" in feed.data
    client.post("/presence/calendar/revoke", data={"csrf_token": token})
    assert app.test_client().get(url).status_code == 404
    assert app.test_client().get("/presence/calendar/guessed.ics").status_code == 404


def test_occupancy_and_contacts_are_for_facility_only(app, client, auth):
    _with_agreements(app)
    auth.login("employee")
    assert client.get("/presence/occupancy").status_code == 403
    assert client.get("/presence/contacts").status_code == 403
    _logout(client)
    auth.login("facility")
    token = csrf_token(client, "/presence/occupancy")
    ran = client.post("/presence/allocate", data={"csrf_token": token})
    assert ran.status_code == 200 and "Büro" not in "" and "Raum" in ran.get_data(as_text=True)
    day = date.today() + timedelta(days=(7 - date.today().weekday()) % 7 or 7)
    occupancy = client.get(f"/presence/occupancy?day={day.isoformat()}").get_data(as_text=True)
    assert "Emre Kaya" in occupancy or "Carla Schäfer" in occupancy or "Berta Vogt" in occupancy
    report = client.get(f"/presence/contacts?username=e.kaya&start={date.today().isoformat()}"
                        f"&end={(date.today() + timedelta(days=28)).isoformat()}")
    assert report.status_code == 200


def test_contact_report_export_and_swap_mail(app, client, auth):
    from homeoffice.notifications.models import OutboxMessage
    from homeoffice.presence.models import Swap
    from homeoffice.rooms.models import RoomAllocation

    _with_agreements(app)
    with app.app_context(), session_scope() as session:
        people = {p.username: p for p in session.exec(select(Person))}
        room = session.exec(select(Room)).first()
        for name, offset in (("e.kaya", 0), ("c.schaefer", 0)):
            session.add(RoomAllocation(day=MONDAY + timedelta(days=offset),
                                       person_id=people[name].id, room_id=room.id))
    auth.login("facility")
    page = client.get(f"/presence/contacts?username=e.kaya&start={MONDAY.isoformat()}"
                      f"&end={(MONDAY + timedelta(days=6)).isoformat()}")
    assert "Carla Schäfer" in page.get_data(as_text=True)
    token = csrf_token(client, "/presence/occupancy")
    download = client.post("/presence/contacts.xlsx", data={
        "csrf_token": token, "username": "e.kaya", "start": MONDAY.isoformat(),
        "end": (MONDAY + timedelta(days=6)).isoformat()})
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(download.data)).worksheets[0]
    assert sheet.cell(2, 3).value == "Carla Schäfer"
    # A confirmed swap tells the requester's supervisor.
    with app.app_context(), session_scope() as session:
        swap = Swap(requester_id=people["e.kaya"].id, colleague_id=people["c.schaefer"].id,
                    requester_day=MONDAY, colleague_day=MONDAY + timedelta(days=7))
        session.add(swap)
        session.flush()
        from homeoffice.presence import services as presence

        presence.answer_swap(session=session, swap=swap, by=people["c.schaefer"], accept=True)
        mails = session.exec(select(OutboxMessage).where(
            OutboxMessage.event == "swap.confirmed")).all()
    assert [m.to_address for m in mails] == ["b.vogt@musterstadt.example"]


def _xlsx(rows) -> bytes:
    from io import BytesIO

    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_room_import_all_or_nothing(app, client, auth):
    from io import BytesIO

    header = ["Gebäude", "Raum", "Etage", "Plätze", "Plätze Infektionsschutz", "Barrierefrei",
              "Amt"]
    auth.login("facility")
    token = csrf_token(client, "/rooms/import")
    bad = client.post("/rooms/import", data={
        "csrf_token": token, "file": (BytesIO(_xlsx([header, ["Rathaus", "1.01", 1, 2, 1, "ja",
                                                                "Bürgerbüro"],
                                                       ["Rathaus", "1.02", "x", 2, 1, "nein",
                                                        "Nirgendwo"]])), "r.xlsx")},
        content_type="multipart/form-data")
    assert bad.status_code == 400 and "Zeile 3" in bad.get_data(as_text=True)
    with app.app_context(), session_scope() as session:
        assert session.exec(select(Room)).all() == []
    good = client.post("/rooms/import", data={
        "csrf_token": token, "file": (BytesIO(_xlsx([header, ["Rathaus", "1.01", 1, 2, 1, "ja",
                                                                "Bürgerbüro"],
                                                       ["=cmd|' /C calc'!A0", "2", 0, 1, 0,
                                                        "nein", None]])), "r.xlsx")},
        content_type="multipart/form-data")
    assert good.status_code == 302
    with app.app_context(), session_scope() as session:
        rooms = {(r.number, r.step_free, r.infection_capacity) for r in session.exec(select(Room))}
        names = {b.name for b in session.exec(select(Building))}
    assert ("1.01", True, 1) in rooms and "=cmd|' /C calc'!A0" in names  # stored as plain text
    _logout(client)
    auth.login("employee")
    assert client.get("/rooms/import").status_code == 403


def test_supervisor_overrides_a_single_day(app, client, auth):
    _with_agreements(app)
    auth.login("supervisor")
    token = csrf_token(client, "/presence/unit")
    with app.app_context(), session_scope() as session:
        kaya = session.exec(select(Person).where(Person.username == "e.kaya")).one()
        outsider = session.exec(select(Person).where(Person.username == "o.weiss")).one()
    day = MONDAY + timedelta(days=2)
    response = client.post(f"/presence/unit/{kaya.unit_id}/override", data={
        "csrf_token": token, "person": kaya.id, "day": day.isoformat(), "where": "home"})
    assert response.status_code == 302
    with app.app_context(), session_scope() as session:
        from homeoffice.presence.models import DayOverride

        override = session.exec(select(DayOverride)).one()
        assert (override.person_id, override.day, override.in_office) == (kaya.id, day, False)
    # Someone of another unit cannot be overridden through this unit.
    client.post(f"/presence/unit/{kaya.unit_id}/override", data={
        "csrf_token": token, "person": outsider.id, "day": day.isoformat(), "where": "home"})
    with app.app_context(), session_scope() as session:
        assert len(session.exec(select(DayOverride)).all()) == 1
    _logout(client)
    auth.login("employee")
    week = client.get(f"/presence/?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert "von der Leitung geändert" in week
