"""Presence and single-office allocation through the services, on the database."""

from datetime import date, timedelta

import pytest
from sqlmodel import select

from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.people.models import Person, Unit
from homeoffice.presence import services as presence
from homeoffice.rooms import services as rooms
from homeoffice.rooms.models import Building, HomeRoom, Room, RoomAllocation, RoomUnit
from tests.agreement_helpers import share_agreement
from tests.conftest import both_databases

MONDAY = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=7)


def _people(session):
    return {p.username: p for p in session.exec(select(Person)).all()}


def _setup(session, *, rooms_in_unit=2, capacity=1):
    people = _people(session)
    for name in ("e.kaya", "c.schaefer", "b.vogt"):
        share_agreement(session, people[name], start=MONDAY - timedelta(days=7))
    unit = session.exec(select(Unit).where(Unit.name == "Bürgerbüro")).one()
    building = Building(name="Rathaus")
    session.add(building)
    session.flush()
    for n in range(rooms_in_unit):
        room = Room(
            building_id=building.id,
            number=f"1.0{n}",
            infection_capacity=capacity,
            capacity=2,
            step_free=True,
        )
        session.add(room)
        session.flush()
        session.add(RoomUnit(room_id=room.id, unit_id=unit.id))
    session.flush()
    supervisor = people["b.vogt"]
    presence.set_rotation(
        session=session,
        unit=unit,
        by=supervisor,
        kind="weekly",
        groups=2,
        valid_from=MONDAY,
        office_weekdays=None,
        today=date.today(),
    )
    presence.assign_groups(
        session=session,
        unit=unit,
        by=supervisor,
        valid_from=MONDAY,
        today=date.today(),
        groups={people["e.kaya"].id: 0, people["c.schaefer"].id: 1, supervisor.id: 0},
    )
    return unit, people


@both_databases
def test_allocation_gives_single_offices_and_home_rooms_shared_only_across_groups(app):
    with app.app_context(), session_scope() as session:
        unit, people = _setup(session)
        summary = rooms.run_allocation(
            session=session, today=MONDAY, config=app.config, by=None, weeks=2
        )
        # Only the Bürgerbüro has rooms in this test; everybody of it got one.
        assert summary.placed > 0
        assert not [p for _d, p in summary.unplaced if p.unit_id == unit.id]
        rows = session.exec(select(RoomAllocation)).all()
        per_room_day = {}
        for row in rows:
            per_room_day.setdefault((row.day, row.room_id), []).append(row.person_id)
        assert all(len(v) == 1 for v in per_room_day.values())  # capacity 1 under infection control
        kaya_days = {r.day for r in rows if r.person_id == people["e.kaya"].id}
        schaefer_days = {r.day for r in rows if r.person_id == people["c.schaefer"].id}
        assert kaya_days and schaefer_days and not kaya_days & schaefer_days  # A/B weeks
        assert all(d.weekday() < 5 for d in kaya_days)
        homes = dict(session.exec(select(HomeRoom.person_id, HomeRoom.room_id)).all())
        # Group A (Kaya, Vogt) is in on the same days: different home rooms; B may share.
        assert homes[people["e.kaya"].id] != homes[people["b.vogt"].id]


def test_rerun_never_moves_a_past_day(app):
    with app.app_context(), session_scope() as session:
        unit, people = _setup(session)
        rooms.run_allocation(session=session, today=MONDAY, config=app.config, by=None, weeks=2)
        before = {(r.day, r.person_id): r.room_id for r in session.exec(select(RoomAllocation))}
        # A new rotation from the second week; the run a week later keeps week one.
        later = MONDAY + timedelta(days=7)
        presence.set_rotation(
            session=session,
            unit=unit,
            by=people["b.vogt"],
            kind="none",
            groups=1,
            valid_from=later,
            office_weekdays=None,
            today=MONDAY,
        )
        rooms.run_allocation(session=session, today=later, config=app.config, by=None, weeks=1)
        after = {(r.day, r.person_id): r.room_id for r in session.exec(select(RoomAllocation))}
        past = {k: v for k, v in before.items() if k[0] < later}
        assert past and all(after[k] == v for k, v in past.items())
        # From the change on all three are in every working day: both rooms full.
        week_two = [k[0] for k in after if k[0] >= later]
        assert week_two and all(week_two.count(day) == 2 for day in set(week_two))


def test_demand_above_capacity_is_listed_as_conflict(app):
    with app.app_context(), session_scope() as session:
        unit, people = _setup(session, rooms_in_unit=1)
        presence.set_rotation(
            session=session,
            unit=unit,
            by=people["b.vogt"],
            kind="none",
            groups=1,
            valid_from=MONDAY,
            office_weekdays=None,
            today=date.today(),
        )
        summary = rooms.run_allocation(
            session=session, today=MONDAY, config=app.config, by=None, weeks=1
        )
        # Three people of the Bürgerbüro present daily, one single office in the building.
        assert summary.unplaced and summary.conflicts
        per_day = {}
        for row in session.exec(select(RoomAllocation)):
            per_day[row.day] = per_day.get(row.day, 0) + 1
        assert set(per_day.values()) == {1}


def test_contact_report_is_facility_only_audited_and_expires(app):
    with app.app_context(), session_scope() as session:
        unit, people = _setup(session, rooms_in_unit=1)
        room = session.exec(select(Room)).one()
        day = MONDAY
        for person, offset in (("e.kaya", 0), ("c.schaefer", 1), ("o.weiss", 3)):
            session.add(
                RoomAllocation(
                    day=day + timedelta(days=offset), person_id=people[person].id, room_id=room.id
                )
            )
        session.flush()
        with pytest.raises(rooms.NotAllowed):
            rooms.contact_report(
                session=session,
                person=people["e.kaya"],
                start=day,
                end=day + timedelta(days=5),
                by=people["h.lang"],
            )
        found = rooms.contact_report(
            session=session,
            person=people["e.kaya"],
            start=day,
            end=day + timedelta(days=5),
            by=people["f.horn"],
        )
        # Kaya's one day is followed in that room by Schäfer's day: a shared desk.
        assert [(c.person.username, c.kind, c.day) for c in found] == [
            ("c.schaefer", "day after", day + timedelta(days=1))
        ]
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "contacts.viewed")).one()
        # Runs name who was in on which day: they expire with the allocations.
        from homeoffice.rooms.models import AllocationRun

        for first, last in (
            (day - timedelta(days=7), day + timedelta(days=1)),
            (day, day + timedelta(days=20)),
        ):
            session.add(
                AllocationRun(
                    from_day=first,
                    to_day=last,
                    conflicts=[
                        {
                            "day": str(last),
                            "person_id": people["e.kaya"].id,
                            "reason": "office_full",
                            "rooms": [],
                            "days": [],
                        }
                    ],
                )
            )
        session.flush()
        deleted = rooms.delete_expired_contacts(
            session=session, today=day + timedelta(days=30), retention_days=28
        )
        assert deleted == 2
        assert len(session.exec(select(RoomAllocation)).all()) == 1
        assert [r.to_day for r in session.exec(select(AllocationRun))] == [day + timedelta(days=20)]


def test_swap_confirmed_moves_the_two_days(app):
    with app.app_context(), session_scope() as session:
        unit, people = _setup(session)
        end = MONDAY + timedelta(days=13)
        inputs = presence.load_unit(session, unit, start=MONDAY, end=end)
        holidays = rooms.holidays_for(app.config, MONDAY, end)
        from homeoffice.presence import plan

        statuses = plan.unit_statuses(
            inputs.inputs, start=MONDAY, end=end, rotations=inputs.rotations, holidays=holidays
        )
        by_person = {}
        for day, day_statuses in statuses.items():
            for person_id, status in day_statuses.items():
                by_person.setdefault(person_id, {})[day] = status
        kaya, schaefer = people["e.kaya"], people["c.schaefer"]
        kaya_day = next(d for d, s in sorted(by_person[kaya.id].items()) if s.kind == "office")
        schaefer_day = next(
            d for d, s in sorted(by_person[schaefer.id].items()) if s.kind == "office"
        )
        swap = presence.propose_swap(
            session=session,
            requester=kaya,
            colleague=schaefer,
            requester_day=kaya_day,
            colleague_day=schaefer_day,
            statuses=by_person,
            today=date.today(),
        )
        with pytest.raises(presence.NotAllowed):
            presence.answer_swap(session=session, swap=swap, by=kaya, accept=True)
        presence.answer_swap(session=session, swap=swap, by=schaefer, accept=True)
        inputs = presence.load_unit(session, unit, start=MONDAY, end=end)
        after = plan.unit_statuses(
            inputs.inputs, start=MONDAY, end=end, rotations=inputs.rotations, holidays=holidays
        )
        assert after[kaya_day][kaya.id].kind == "home"
        assert after[kaya_day][schaefer.id].kind == "office"
        assert after[schaefer_day][kaya.id].kind == "office"


def test_contact_report_counts_only_the_rooms_previous_and_next_use(app):
    """Someone who used the room four days earlier is no shared-desk contact of a day
    that followed the person's own days in that room."""
    with app.app_context(), session_scope() as session:
        unit, people = _setup(session, rooms_in_unit=1)
        room = session.exec(select(Room)).one()
        plan = [("c.schaefer", 0), ("e.kaya", 1), ("e.kaya", 2), ("e.kaya", 3), ("o.weiss", 6)]
        for name, offset in plan:
            session.add(
                RoomAllocation(
                    day=MONDAY + timedelta(days=offset), person_id=people[name].id, room_id=room.id
                )
            )
        session.flush()
        found = rooms.contact_report(
            session=session,
            person=people["e.kaya"],
            start=MONDAY,
            end=MONDAY + timedelta(days=10),
            by=people["f.horn"],
        )
        assert [(c.own_day - MONDAY).days for c in found] == [1, 3]
        assert [(c.person.username, c.kind) for c in found] == [
            ("c.schaefer", "day before"),
            ("o.weiss", "day after"),
        ]


def test_allocation_never_plans_weekends(app):
    with app.app_context(), session_scope() as session:
        _setup(session, rooms_in_unit=1)
        summary = rooms.run_allocation(
            session=session, today=MONDAY, config=app.config, by=None, weeks=2
        )
        assert all(d.weekday() < 5 for c in summary.conflicts for d in c.days)
        assert all(r.day.weekday() < 5 for r in session.exec(select(RoomAllocation)))


def _rooms_of(session, person_id):
    return {
        r.day: r.room_id
        for r in session.exec(select(RoomAllocation).where(RoomAllocation.person_id == person_id))
    }


@both_databases
def test_agreement_decisions_reallocate_future_days_only(app):
    """HR approves fixed home days (Tuesday, Thursday): Otto Weiß loses his room on those
    days from today on, in the decision's own transaction; the revocation gives them back.
    Past days keep their rooms through both."""
    from homeoffice.agreements import services as agreements
    from homeoffice.agreements.models import HomeOfficeRequest
    from homeoffice.agreements.rules import get_rule_book
    from homeoffice.rooms.models import AllocationRun

    today = date.today()
    with app.app_context(), session_scope() as session:
        people = _people(session)
        weiss, hr = people["o.weiss"], people["h.lang"]
        building = Building(name="Rathaus")
        session.add(building)
        session.flush()
        # a room for everyone, open to every unit: nobody is short of a room
        session.add_all(Room(building_id=building.id, number=f"2.{n:02d}") for n in range(10))
        session.flush()
        rooms.run_allocation(
            session=session, today=today - timedelta(days=14), config=app.config, by=None
        )
        before = _rooms_of(session, weiss.id)
        past = {day: room for day, room in before.items() if day < today}
        future = {day for day in before if day >= today}
        assert past and future  # in every working day: no rotation, no agreement yet
        home_days = {day for day in future if day.isoweekday() in (2, 4)}
        assert home_days
        req = HomeOfficeRequest(
            person_id=weiss.id,
            state="submitted",  # nobody above him: HR decides at once
            reasons="commute",
            commute_km=40,
            pattern="weekdays",
            weekdays="2,4",
            start_date=today,
            eligible=True,
            rule_set="ordinary@1",
        )
        session.add(req)
        session.flush()
        runs = len(session.exec(select(AllocationRun)).all())
        agreement = agreements.decide(
            session=session,
            req=req,
            owner=weiss,
            by=hr,
            approve=True,
            reason="",
            override_reason="Vertretung geregelt",
            conditions="",
            rule_book=get_rule_book(),
            today=today,
        )
        approved = _rooms_of(session, weiss.id)
        # one run for the decision, recorded as a change of plan by the HR clerk
        (run,) = session.exec(select(AllocationRun).order_by(AllocationRun.id).offset(runs)).all()
        assert (run.trigger, run.by_id, run.from_day) == ("plan_change", hr.id, today)
    assert {day: room for day, room in approved.items() if day < today} == past
    assert not home_days & set(approved)
    assert future - home_days <= set(approved)

    with app.app_context(), session_scope() as session:
        agreement = session.get(type(agreement), agreement.id)
        agreements.revoke(
            session=session,
            agreement=agreement,
            owner=session.get(Person, weiss.id),
            by=session.get(Person, hr.id),
            reason="Aufgaben im Haus",
            today=today,
        )
        revoked = _rooms_of(session, weiss.id)
    assert {day: room for day, room in revoked.items() if day < today} == past
    assert future <= set(revoked)


def test_dates_job_reallocates_once_when_an_agreement_starts(app):
    """An approved agreement that starts tomorrow: the dates job of tomorrow activates it
    and allocates the rooms again, once; a job run with nothing to do allocates nothing."""
    from homeoffice.agreements import services as agreements
    from homeoffice.agreements.models import Agreement, HomeOfficeRequest
    from homeoffice.rooms.models import AllocationRun

    tomorrow = date.today() + timedelta(days=1)
    with app.app_context(), session_scope() as session:
        people = _people(session)
        building = Building(name="Rathaus")
        session.add(building)
        session.flush()
        session.add(Room(building_id=building.id, number="1.01"))
        for name in ("o.weiss", "i.roth"):
            req = HomeOfficeRequest(
                person_id=people[name].id,
                state="approved",
                reasons="commute",
                pattern="weekdays",
                weekdays="1,2,3,4,5",
                start_date=tomorrow,
                eligible=True,
                rule_set="ordinary@1",
            )
            session.add(req)
            session.flush()
            session.add(
                Agreement(
                    person_id=people[name].id,
                    request_id=req.id,
                    state="approved",
                    start_date=tomorrow,
                    pattern="weekdays",
                    weekdays="1,2,3,4,5",
                    days_per_week=5,
                    rule_set="ordinary@1",
                )
            )
        session.flush()
        assert agreements.apply_dates(session, today=tomorrow) == {"activated": 2, "expired": 0}
        (run,) = session.exec(select(AllocationRun)).all()
        assert (run.trigger, run.by_id, run.from_day) == ("plan_change", None, tomorrow)
        assert agreements.apply_dates(session, today=tomorrow) == {"activated": 0, "expired": 0}
        assert len(session.exec(select(AllocationRun)).all()) == 1


def test_stored_conflict_keeps_no_health_data_and_few_suggestions():
    """A stored run says nothing of a need for step-free access: "no step-free room
    had space" is kept as "no room they may use had space", which is just as true."""
    from homeoffice.rooms.allocation import Conflict

    days = tuple(MONDAY + timedelta(days=n) for n in range(8))
    conflict = Conflict(
        person_id=7,
        day=MONDAY,
        group=1,
        reason="step_free_full",
        rooms=tuple(range(1, 30)),
        days=days,
    )
    stored = rooms.conflict_record(conflict)
    assert stored == {
        "day": MONDAY.isoformat(),
        "person_id": 7,
        "reason": "office_full",
        "rooms": list(range(1, rooms.SUGGESTED_ROOMS + 1)),
        "days": [d.isoformat() for d in days[: rooms.SUGGESTED_DAYS]],
    }
    other = Conflict(
        person_id=7, day=MONDAY, group=None, reason="own_unit_full", rooms=(3,), days=()
    )
    assert rooms.conflict_record(other)["reason"] == "own_unit_full"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migration_moves_each_rooms_unit_into_the_link_table_and_back(backend, tmp_path, request):
    """0009 copies room.unit_id into room_unit before dropping the column; its downgrade
    puts back the first unit of each room."""
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from homeoffice.migrations import alembic_config, upgrade

    if backend == "sqlite":
        url, server = f"sqlite:///{tmp_path / 'm.db'}", None
    else:
        server = request.getfixturevalue("postgres_server")
        server.create_database("room_units_check")
        url = server.url("room_units_check")
    engine = create_engine(url)
    try:
        upgrade(engine, "0008")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO unit (id, name, active, created_at) VALUES "
                    "(1, 'Bürgerbüro', true, '2026-01-01 00:00:00+00'), "
                    "(2, 'Ordnungsamt', true, '2026-01-01 00:00:00+00')"
                )
            )
            connection.execute(text("INSERT INTO building (id, name) VALUES (1, 'Rathaus')"))
            connection.execute(
                text(
                    "INSERT INTO room (id, building_id, number, floor, capacity,"
                    " infection_capacity, step_free, unit_id)"
                    " VALUES (1, 1, '1.01', 1, 1, 1, false, 2),"
                    " (2, 1, '1.02', 1, 1, 1, false, NULL)"
                )
            )
        upgrade(engine, "0009")
        with engine.begin() as connection:
            assert connection.execute(text("SELECT room_id, unit_id FROM room_unit")).all() == [
                (1, 2)
            ]
            assert "unit_id" not in {c["name"] for c in inspect(connection).get_columns("room")}
            connection.execute(text("INSERT INTO room_unit (room_id, unit_id) VALUES (1, 1)"))
        config = alembic_config(url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, unit_id FROM room ORDER BY id")).all()
        assert rows == [(1, 1), (2, None)]  # the first of the room's two units
    finally:
        engine.dispose()
        if server is not None:
            server.drop_database("room_units_check")


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_runs_at_once_both_commit_and_seat_each_person_once(app):
    """Two allocations at the same moment (say HR approves while the nightly job runs):
    the second waits for the first to commit and then plans on what it wrote, instead of
    failing on the rows the first inserted meanwhile."""
    import threading

    with app.app_context(), session_scope() as session:
        _setup(session)
    first_planned = threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with app.app_context(), session_scope() as session:
                rooms.run_allocation(
                    session=session, today=MONDAY, config=app.config, by=None, weeks=2
                )
                first_planned.set()
                # still uncommitted: the second run has started and must wait
                threading.Event().wait(1.0)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
            first_planned.set()

    def second():
        first_planned.wait(10)
        try:
            with app.app_context(), session_scope() as session:
                rooms.run_allocation(
                    session=session, today=MONDAY, config=app.config, by=None, weeks=2
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with app.app_context(), session_scope() as session:
        from homeoffice.rooms.models import AllocationRun

        seats = session.exec(select(RoomAllocation.day, RoomAllocation.person_id)).all()
        assert seats and len(seats) == len(set(seats))
        assert len(session.exec(select(AllocationRun)).all()) == 2
