"""Presence and single-office allocation through the services, on the database."""

from datetime import date, timedelta

import pytest
from sqlmodel import select

from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.people.models import Person, Unit
from homeoffice.presence import services as presence
from homeoffice.rooms import services as rooms
from homeoffice.rooms.models import Building, HomeRoom, Room, RoomAllocation
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
        session.add(
            Room(
                building_id=building.id,
                number=f"1.0{n}",
                infection_capacity=capacity,
                capacity=2,
                unit_id=unit.id,
                step_free=True,
            )
        )
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
        deleted = rooms.delete_expired_contacts(
            session=session, today=day + timedelta(days=30), retention_days=28
        )
        assert deleted == 2
        assert len(session.exec(select(RoomAllocation)).all()) == 1


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
            session.add(RoomAllocation(day=MONDAY + timedelta(days=offset),
                                       person_id=people[name].id, room_id=room.id))
        session.flush()
        found = rooms.contact_report(session=session, person=people["e.kaya"], start=MONDAY,
                                     end=MONDAY + timedelta(days=10), by=people["f.horn"])
        assert [(c.own_day - MONDAY).days for c in found] == [1, 3]
        assert [(c.person.username, c.kind) for c in found] == [
            ("c.schaefer", "day before"), ("o.weiss", "day after")]


def test_allocation_never_plans_weekends(app):
    with app.app_context(), session_scope() as session:
        _setup(session, rooms_in_unit=1)
        summary = rooms.run_allocation(session=session, today=MONDAY, config=app.config,
                                       by=None, weeks=2)
        assert all(d.weekday() < 5 for c in summary.conflicts for d in c.days)
        assert all(r.day.weekday() < 5 for r in session.exec(select(RoomAllocation)))
