"""Presence pages through the test client: my week, the team plan, swaps, occupancy,
the contact report and the calendar feed."""

import re
from datetime import date, timedelta

from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.people.models import Person
from homeoffice.presence.models import Rotation
from homeoffice.rooms.models import Building, Room, RoomUnit
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
            room = Room(
                building_id=building.id, number=f"0.0{n}", infection_capacity=1, step_free=True
            )
            session.add(room)
            session.flush()
            session.add(RoomUnit(room_id=room.id, unit_id=people["e.kaya"].unit_id))


def test_supervisor_sets_rotation_and_groups_and_sees_the_month(app, client, auth):
    _with_agreements(app)
    auth.login("supervisor")
    page = client.get("/presence/unit")
    assert page.status_code == 200 and "Teamplan" in page.get_data(as_text=True)
    token = csrf_token(client, "/presence/unit")
    response = client.post(
        "/presence/unit/1/rotation",
        data={
            "kind": "weekly",
            "groups": "2",
            "valid_from": date.today().isoformat(),
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    with app.app_context(), session_scope() as session:
        rotation = session.exec(select(Rotation)).one()
        people = {p.username: p.id for p in session.exec(select(Person))}
    assert rotation.kind == "weekly"
    client.post(
        f"/presence/unit/{rotation.unit_id}/groups",
        data={
            "csrf_token": token,
            f"group-{people['e.kaya']}": "0",
            f"group-{people['c.schaefer']}": "1",
            "valid_from": date.today().isoformat(),
        },
    )
    month = client.get(f"/presence/unit?month={MONDAY:%Y-%m}").get_data(as_text=True)
    assert "Gruppe A" in month and "Gruppe B" in month
    assert re.search(r'class="plan-office">B<', month)
    # Past days cannot get a new rotation.
    client.post(
        f"/presence/unit/{rotation.unit_id}/rotation",
        data={
            "kind": "none",
            "groups": "1",
            "valid_from": (date.today() - timedelta(days=3)).isoformat(),
            "csrf_token": token,
        },
    )
    with app.app_context(), session_scope() as session:
        assert len(session.exec(select(Rotation)).all()) == 1
    proposed = client.post(f"/presence/unit/{rotation.unit_id}/propose", data={"csrf_token": token})
    assert proposed.status_code == 302


def test_other_units_plan_is_not_reachable(app, client, auth):
    auth.login("supervisor")
    token = csrf_token(client, "/presence/unit")
    with app.app_context(), session_scope() as session:
        other = session.exec(select(Person).where(Person.username == "o.weiss")).one().unit_id
    assert (
        client.post(
            f"/presence/unit/{other}/rotation",
            data={
                "kind": "none",
                "groups": "1",
                "valid_from": date.today().isoformat(),
                "csrf_token": token,
            },
        ).status_code
        == 404
    )


def test_my_week_absence_and_calendar_feed(app, client, auth):
    _with_agreements(app)
    auth.login("employee")
    week = client.get(f"/presence/?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert "Büro" in week or "Homeoffice" in week
    token = csrf_token(client, "/presence/")
    client.post(
        "/presence/absences",
        data={
            "start": MONDAY.isoformat(),
            "end": (MONDAY + timedelta(days=1)).isoformat(),
            "csrf_token": token,
        },
    )
    week = client.get(f"/presence/?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert week.count("abwesend") >= 2
    created = client.post("/presence/calendar", data={"csrf_token": token})
    url = re.search(
        r"http://localhost(/presence/calendar/[^<\s]+\.ics)", created.get_data(as_text=True)
    ).group(1)
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
    # post/redirect/get: the answer is the stored run's page
    assert ran.status_code == 302
    run_path = ran.location
    assert re.fullmatch(r"/rooms/allocation-runs/\d+", run_path)
    summary = client.get(run_path).get_data(as_text=True)
    assert "Raumverteilung vom" in summary and "Bürotagen haben einen Raum" in summary
    day = date.today() + timedelta(days=(7 - date.today().weekday()) % 7 or 7)
    occupancy = client.get(f"/presence/occupancy?day={day.isoformat()}").get_data(as_text=True)
    assert "Emre Kaya" in occupancy or "Carla Schäfer" in occupancy or "Berta Vogt" in occupancy
    report = client.get(
        f"/presence/contacts?username=e.kaya&start={date.today().isoformat()}"
        f"&end={(date.today() + timedelta(days=28)).isoformat()}"
    )
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
            session.add(
                RoomAllocation(
                    day=MONDAY + timedelta(days=offset), person_id=people[name].id, room_id=room.id
                )
            )
    auth.login("facility")
    page = client.get(
        f"/presence/contacts?username=e.kaya&start={MONDAY.isoformat()}"
        f"&end={(MONDAY + timedelta(days=6)).isoformat()}"
    )
    assert "Carla Schäfer" in page.get_data(as_text=True)
    token = csrf_token(client, "/presence/occupancy")
    download = client.post(
        "/presence/contacts.xlsx",
        data={
            "csrf_token": token,
            "username": "e.kaya",
            "start": MONDAY.isoformat(),
            "end": (MONDAY + timedelta(days=6)).isoformat(),
        },
    )
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(download.data)).worksheets[0]
    assert sheet.cell(2, 3).value == "Carla Schäfer"
    # A confirmed swap tells the requester's supervisor.
    with app.app_context(), session_scope() as session:
        swap = Swap(
            requester_id=people["e.kaya"].id,
            colleague_id=people["c.schaefer"].id,
            requester_day=MONDAY,
            colleague_day=MONDAY + timedelta(days=7),
        )
        session.add(swap)
        session.flush()
        from homeoffice.presence import services as presence

        presence.answer_swap(session=session, swap=swap, by=people["c.schaefer"], accept=True)
        mails = session.exec(
            select(OutboxMessage).where(OutboxMessage.event == "swap.confirmed")
        ).all()
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

    header = [
        "Gebäude",
        "Raum",
        "Etage",
        "Plätze",
        "Plätze Infektionsschutz",
        "Barrierefrei",
        "Amt",
    ]
    auth.login("facility")
    token = csrf_token(client, "/rooms/import")
    bad = client.post(
        "/rooms/import",
        data={
            "csrf_token": token,
            "file": (
                BytesIO(
                    _xlsx(
                        [
                            header,
                            ["Rathaus", "1.01", 1, 2, 1, "ja", "Bürgerbüro"],
                            ["Rathaus", "1.02", "x", 2, 1, "nein", "Nirgendwo"],
                        ]
                    )
                ),
                "r.xlsx",
            ),
        },
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "Zeile 3" in bad.get_data(as_text=True)
    with app.app_context(), session_scope() as session:
        assert session.exec(select(Room)).all() == []
    good = client.post(
        "/rooms/import",
        data={
            "csrf_token": token,
            "file": (
                BytesIO(
                    _xlsx(
                        [
                            header,
                            ["Rathaus", "1.01", 1, 2, 1, "ja", "Bürgerbüro"],
                            ["=cmd|' /C calc'!A0", "2", 0, 1, 0, "nein", None],
                        ]
                    )
                ),
                "r.xlsx",
            ),
        },
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    with app.app_context(), session_scope() as session:
        rooms = {(r.number, r.step_free, r.infection_capacity) for r in session.exec(select(Room))}
        names = {b.name for b in session.exec(select(Building))}
    assert ("1.01", True, 1) in rooms and "=cmd|' /C calc'!A0" in names  # stored as plain text
    # Several units in the unit column, with ";" or ","; an unknown one refuses the file.
    unknown = client.post(
        "/rooms/import",
        data={
            "csrf_token": token,
            "file": (
                BytesIO(
                    _xlsx(
                        [
                            header,
                            ["Rathaus", "1.01", 1, 2, 1, "ja", "Bürgerbüro"],
                            ["Rathaus", "1.02", 1, 2, 1, "ja", "Ordnungsamt; Bauhof"],
                        ]
                    )
                ),
                "r.xlsx",
            ),
        },
        content_type="multipart/form-data",
    )
    assert unknown.status_code == 400
    assert "Zeile 3" in unknown.get_data(as_text=True)
    assert "Bauhof" in unknown.get_data(as_text=True)
    shared = client.post(
        "/rooms/import",
        data={
            "csrf_token": token,
            "file": (
                BytesIO(
                    _xlsx(
                        [
                            header,
                            ["Rathaus", "1.01", 1, 2, 1, "ja", "Bürgerbüro; Ordnungsamt"],
                            ["Rathaus", "1.02", 1, 2, 1, "ja", "IT, Ordnungsamt"],
                        ]
                    )
                ),
                "r.xlsx",
            ),
        },
        content_type="multipart/form-data",
    )
    assert shared.status_code == 302
    with app.app_context(), session_scope() as session:
        from homeoffice.people.models import Unit
        from homeoffice.rooms.models import RoomUnit

        unit_names = dict(session.exec(select(Unit.id, Unit.name)).all())
        links = {
            (number, unit_names[unit_id])
            for number, unit_id in session.exec(
                select(Room.number, RoomUnit.unit_id).join(RoomUnit, RoomUnit.room_id == Room.id)
            )
        }
    assert links == {
        ("1.01", "Bürgerbüro"),
        ("1.01", "Ordnungsamt"),
        ("1.02", "IT"),
        ("1.02", "Ordnungsamt"),
    }
    # "alle" opens a room to every unit again; an empty cell leaves its units alone.
    opened = client.post(
        "/rooms/import",
        data={
            "csrf_token": token,
            "file": (
                BytesIO(
                    _xlsx(
                        [
                            header,
                            ["Rathaus", "1.01", 1, 2, 1, "ja", None],
                            ["Rathaus", "1.02", 1, 2, 1, "ja", "alle"],
                        ]
                    )
                ),
                "r.xlsx",
            ),
        },
        content_type="multipart/form-data",
    )
    assert opened.status_code == 302
    with app.app_context(), session_scope() as session:
        left = set(session.exec(select(Room.number).join(RoomUnit)).all())
    assert left == {"1.01"}
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
    response = client.post(
        f"/presence/unit/{kaya.unit_id}/override",
        data={"csrf_token": token, "person": kaya.id, "day": day.isoformat(), "where": "home"},
    )
    assert response.status_code == 302
    with app.app_context(), session_scope() as session:
        from homeoffice.presence.models import DayOverride

        override = session.exec(select(DayOverride)).one()
        assert (override.person_id, override.day, override.in_office) == (kaya.id, day, False)
    # Someone of another unit cannot be overridden through this unit.
    client.post(
        f"/presence/unit/{kaya.unit_id}/override",
        data={"csrf_token": token, "person": outsider.id, "day": day.isoformat(), "where": "home"},
    )
    with app.app_context(), session_scope() as session:
        assert len(session.exec(select(DayOverride)).all()) == 1
    _logout(client)
    auth.login("employee")
    week = client.get(f"/presence/?week={MONDAY.isoformat()}").get_data(as_text=True)
    assert "von der Leitung geändert" in week


def _runs(app):
    from homeoffice.rooms.models import AllocationRun

    with app.app_context(), session_scope() as session:
        return session.exec(select(AllocationRun).order_by(AllocationRun.id)).all()


def test_allocation_run_is_stored_and_a_reload_runs_nothing(app, client, auth):
    """The facility's run is recorded with who started it; reloading its page or the
    list shows the stored figures and never allocates again."""
    # Eight people, no rotation: more of them in every day than the three rooms hold.
    _with_agreements(app)
    auth.login("facility")
    token = csrf_token(client, "/presence/occupancy")
    ran = client.post("/presence/allocate", data={"csrf_token": token})
    (run,) = _runs(app)
    assert ran.location == f"/rooms/allocation-runs/{run.id}"
    assert (run.trigger, run.from_day) == ("manual", date.today())
    assert run.person_days == run.placed + run.unplaced and run.placed > 0
    for _ in range(2):
        page = client.get(ran.location)
        assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Falk Horn" in text  # who started it
    assert f"{run.placed} von {run.person_days} Bürotagen haben einen Raum." in text
    # Whoever has no room is named with the reason, as stored.
    assert run.unplaced == len(run.conflicts) > 0
    for conflict in run.conflicts:
        assert set(conflict) == {"day", "person_id", "reason", "rooms", "days"}
        assert conflict["reason"] == "office_full" and conflict["rooms"] == []
    with app.app_context(), session_scope() as session:
        first = session.get(Person, run.conflicts[0]["person_id"]).display_name
    assert "Ohne Raum" in text and first in text
    english = client.get(ran.location, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "no room they may use had space" in english and "started by hand" in english
    listing = client.get("/rooms/allocation-runs")
    assert listing.status_code == 200 and ran.location in listing.get_data(as_text=True)
    assert len(_runs(app)) == 1  # two reloads and the list ran nothing
    assert client.get("/rooms/allocation-runs/999999").status_code == 404
    _logout(client)
    for role in ("employee", "hr", "supervisor"):
        auth.login(role)
        assert client.get(ran.location).status_code == 403
        assert client.get("/rooms/allocation-runs").status_code == 403
        _logout(client)


def test_rooms_list_shows_every_unit_of_a_room(app, client, auth):
    from homeoffice.people.models import Unit
    from homeoffice.rooms.services import set_room_units

    with app.app_context(), session_scope() as session:
        units = {u.name: u.id for u in session.exec(select(Unit))}
        building = Building(name="Stadthaus")
        session.add(building)
        session.flush()
        shared, own, open_ = (Room(building_id=building.id, number=n) for n in ("1", "2", "3"))
        session.add_all([shared, own, open_])
        session.flush()
        set_room_units(session, shared, [units["Bürgerbüro"], units["Ordnungsamt"]])
        set_room_units(session, own, [units["IT"]])
    auth.login("facility")
    page = client.get("/rooms/").get_data(as_text=True)
    rows = re.findall(r"<tr><td>Stadthaus</td><td>(\d)</td>.*?<td>([^<]*)</td></tr>", page)
    assert rows == [("1", "Bürgerbüro, Ordnungsamt"), ("2", "IT"), ("3", "jedes Amt")]
