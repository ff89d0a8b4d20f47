"""Single-office allocation, the day's occupancy and the contact report.

The allocation plans from today on and never touches a past day: past allocations are
history (and the contact report's data) until the retention job deletes them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from homeoffice.audit.services import record
from homeoffice.people.models import FACILITY, Person, Unit
from homeoffice.presence import plan
from homeoffice.presence.services import load_unit
from homeoffice.rooms import allocation
from homeoffice.rooms.models import Building, HomeRoom, Room, RoomAllocation


class NotAllowed(Exception):
    pass


@dataclass
class AllocationSummary:
    start: date
    end: date
    person_days: int
    placed: int
    unplaced: list[tuple[date, Person]]
    conflicts: list[allocation.Conflict]


def holidays_for(config: Mapping, start: date, end: date) -> dict[date, str]:
    """The configured state's public holidays for planning ``start``..``end``.

    A cycle rotation counts working days from its start, so holidays from well before
    the range are included.
    """
    return plan.public_holidays(config["PRESENCE_STATE"], start - timedelta(days=3660), end)


def office_days_by_person(session: Session, *, start: date, end: date, holidays):
    """Every active person's office days in the range, with their unit and group."""
    result: dict[int, tuple[Person, int | None, set[date]]] = {}
    for unit in session.exec(select(Unit).where(col(Unit.active).is_(True))).all():
        inputs = load_unit(session, unit, start=start, end=end)
        statuses = plan.unit_statuses(
            inputs.inputs, start=start, end=end, rotations=inputs.rotations, holidays=holidays
        )
        by_id = {p.id: p for p in inputs.people}
        for day, day_statuses in statuses.items():
            for person_id, status in day_statuses.items():
                person = by_id[person_id]
                entry = result.setdefault(person_id, (person, status.group, set()))
                if status.kind == plan.OFFICE:
                    entry[2].add(day)
    return result


def _room_slots(session: Session, config: Mapping) -> tuple[list[allocation.RoomSlot], dict]:
    rows = session.exec(select(Room, Building.name).join(Building, Building.id == Room.building_id))
    slots, rooms = [], {}
    for room, building_name in rows:
        capacity = room.infection_capacity if config["INFECTION_CONTROL"] else room.capacity
        slots.append(
            allocation.RoomSlot(room.id, building_name, room.unit_id, capacity, room.step_free)
        )
        rooms[room.id] = (room, building_name)
    return slots, rooms


def run_allocation(
    *, session: Session, today: date, config: Mapping, by: Person | None, weeks: int | None = None
) -> AllocationSummary:
    """Give every person present a room from today on; past days stay as they were."""
    start = today
    end = today + timedelta(weeks=weeks or config["ALLOCATION_WEEKS"]) - timedelta(days=1)
    holidays = holidays_for(config, start, end)
    people = office_days_by_person(session, start=start, end=end, holidays=holidays)
    slots, rooms = _room_slots(session, config)
    unit_building: dict[int, str] = {}
    counts: dict[int, Counter] = defaultdict(Counter)
    for room, building_name in rooms.values():
        if room.unit_id:
            counts[room.unit_id][building_name] += 1
    for unit_id, counter in counts.items():
        unit_building[unit_id] = counter.most_common(1)[0][0]
    attendees = [
        allocation.Attendee(
            person.id,
            person.unit_id,
            unit_building.get(person.unit_id),
            person.needs_step_free,
            group,
            frozenset(days),
        )
        for person, group, days in people.values()
        if days
    ]
    previous_home = dict(session.exec(select(HomeRoom.person_id, HomeRoom.room_id)).all())
    # Working days only: the conflict suggestions must never offer a Saturday.
    days = [
        day
        for day in (start + timedelta(days=n) for n in range((end - start).days + 1))
        if day.weekday() < 5 and day not in holidays
    ]
    result = allocation.allocate(attendees, slots, days, previous_home=previous_home)
    session.exec(
        delete(RoomAllocation).where(RoomAllocation.day >= start, RoomAllocation.day <= end)
    )
    placed = 0
    unplaced: list[tuple[date, Person]] = []
    conflicts: list[allocation.Conflict] = []
    by_id = {person.id: person for person, _g, _d in people.values()}
    for day, day_allocation in sorted(result.by_day.items()):
        for person_id, room_id in day_allocation.placed.items():
            session.add(RoomAllocation(day=day, person_id=person_id, room_id=room_id))
            placed += 1
        for person_id in day_allocation.unplaced:
            unplaced.append((day, by_id[person_id]))
        if day_allocation.unplaced:
            present = [a for a in attendees if day in a.days]
            conflicts.extend(
                allocation.conflicts(day_allocation, present, slots, other_days=result.by_day)
            )
    session.exec(delete(HomeRoom))
    for person_id, room_id in result.home.items():
        session.add(HomeRoom(person_id=person_id, room_id=room_id))
    session.flush()
    record(
        session,
        action="rooms.allocated",
        actor=by,
        after={"start": str(start), "end": str(end), "placed": placed, "unplaced": len(unplaced)},
    )
    return AllocationSummary(start, end, placed + len(unplaced), placed, unplaced, conflicts)


def occupancy(session: Session, day: date, building_id: int | None):
    """Rooms of the day with the people in them, per building (one query)."""
    statement = (
        select(RoomAllocation, Room, Building, Person)
        .join(Room, Room.id == RoomAllocation.room_id)
        .join(Building, Building.id == Room.building_id)
        .join(Person, Person.id == RoomAllocation.person_id)
        .where(RoomAllocation.day == day)
        .order_by(Building.name, Room.floor, Room.number, Person.display_name)
    )
    if building_id:
        statement = statement.where(Building.id == building_id)
    return session.exec(statement).all()


@dataclass
class Contact:
    #: the contact's day in the room
    day: date
    #: the reported person's day it relates to
    own_day: date
    room: str
    person: Person
    #: "same day", or "day before" / "day after": the room's previous or next use by
    #: someone else (a shared desk)
    kind: str


def contact_report(
    *, session: Session, person: Person, start: date, end: date, by: Person
) -> list[Contact]:
    """Who used the same room as the person on the same day, and who used that room on
    the occupied day just before and just after (shared desks). Facility only; audited."""
    if FACILITY not in by.role_set:
        raise NotAllowed()
    own = session.exec(
        select(RoomAllocation).where(
            RoomAllocation.person_id == person.id,
            RoomAllocation.day >= start,
            RoomAllocation.day <= end,
        )
    ).all()
    rooms = {
        r.id: f"{b} {r.number}"
        for r, b in session.exec(
            select(Room, Building.name).join(Building, Building.id == Room.building_id)
        )
    }
    contacts: list[Contact] = []
    if own:
        room_ids = {a.room_id for a in own}
        first, last = min(a.day for a in own), max(a.day for a in own)
        rows = session.exec(
            select(RoomAllocation, Person)
            .join(Person, Person.id == RoomAllocation.person_id)
            .where(
                col(RoomAllocation.room_id).in_(room_ids),
                RoomAllocation.day >= first - timedelta(days=14),
                RoomAllocation.day <= last + timedelta(days=14),
            )
        ).all()
        # room → day → people in it that day (the person included)
        use: dict[int, dict[date, list[Person]]] = defaultdict(lambda: defaultdict(list))
        for row, occupant in rows:
            use[row.room_id][row.day].append(occupant)
        for mine in own:
            days = sorted(use[mine.room_id])
            position = days.index(mine.day)
            neighbours = [("same day", mine.day)]
            if position > 0:
                neighbours.append(("day before", days[position - 1]))
            if position + 1 < len(days):
                neighbours.append(("day after", days[position + 1]))
            for kind, day in neighbours:
                for other in use[mine.room_id][day]:
                    if other.id != person.id:
                        contacts.append(Contact(day, mine.day, rooms[mine.room_id], other, kind))
    record(
        session,
        action="contacts.viewed",
        actor=by,
        object_type="person",
        object_id=person.id,
        after={"start": str(start), "end": str(end), "contacts": len(contacts)},
    )
    return sorted(contacts, key=lambda c: (c.own_day, c.day, c.person.display_name))


def delete_expired_contacts(*, session: Session, today: date, retention_days: int) -> int:
    """Delete room allocations older than the retention period (GDPR Art. 5(1)(e))."""
    limit = today - timedelta(days=retention_days)
    count = len(session.exec(select(RoomAllocation.id).where(RoomAllocation.day < limit)).all())
    session.exec(delete(RoomAllocation).where(RoomAllocation.day < limit))
    record(session, action="contacts.deleted", after={"before": str(limit), "rows": count})
    session.flush()
    return count


# --- import from Excel --------------------------------------------------------------------

#: accepted column names (German and English) → field
ROOM_COLUMNS = {
    "gebäude": "building",
    "building": "building",
    "raum": "number",
    "room": "number",
    "etage": "floor",
    "floor": "floor",
    "plätze": "capacity",
    "places": "capacity",
    "plätze infektionsschutz": "infection_capacity",
    "places under infection control": "infection_capacity",
    "barrierefrei": "step_free",
    "step-free": "step_free",
    "amt": "unit",
    "unit": "unit",
}
_YES = {"ja", "yes", "x", "1", "true", "wahr"}


def import_rooms(*, session: Session, rows: list[tuple], by: Person) -> tuple[int, list[str]]:
    """Create or update rooms from sheet rows (header first); all or nothing.

    Returns (rooms written, errors); with any error nothing is changed. Rooms are matched
    by building and number; buildings are created when new; a unit must exist.
    """
    from flask_babel import gettext as _

    if FACILITY not in by.role_set:
        raise NotAllowed()
    if not rows or not rows[0]:
        return 0, [_("the first row must name the columns")]
    header = {
        ROOM_COLUMNS[str(v).strip().casefold()]: i
        for i, v in enumerate(rows[0])
        if v is not None and str(v).strip().casefold() in ROOM_COLUMNS
    }
    missing = [c for c in ("building", "number") if c not in header]
    if missing:
        return 0, [_("the column “%(column)s” is missing", column=m) for m in missing]
    units = {u.name.casefold(): u for u in session.exec(select(Unit))}
    parsed, errors, seen = [], [], set()

    def cell(values, key):
        index = header.get(key)
        value = values[index] if index is not None and index < len(values) else None
        return None if value is None else str(value).strip()

    for number, values in enumerate(rows[1:], start=2):
        if not values or not any(v not in (None, "") for v in values):
            continue
        building, room = cell(values, "building"), cell(values, "number")
        problem = None
        if not building or not room:
            problem = _("building and room are needed")
        elif (building.casefold(), room.casefold()) in seen:
            problem = _("the room appears twice")
        numbers = {}
        for key in ("floor", "capacity", "infection_capacity"):
            text = cell(values, key)
            try:
                numbers[key] = int(float(text)) if text else None
            except ValueError:
                problem = problem or _("%(value)s is not a whole number", value=text)
            if numbers.get(key) is not None and numbers[key] < 0 and key != "floor":
                problem = problem or _("places cannot be negative")
        unit_name = cell(values, "unit")
        if unit_name and unit_name.casefold() not in units:
            problem = problem or _("unknown unit “%(value)s”", value=unit_name)
        if problem:
            errors.append(_("Row %(row)d: %(error)s", row=number, error=problem))
            continue
        seen.add((building.casefold(), room.casefold()))
        parsed.append((building, room, numbers, cell(values, "step_free"), unit_name))
    if errors:
        return 0, errors
    buildings = {b.name.casefold(): b for b in session.exec(select(Building))}
    for building_name, room_number, numbers, step_free, unit_name in parsed:
        building = buildings.get(building_name.casefold())
        if building is None:
            building = Building(name=building_name)
            session.add(building)
            session.flush()
            buildings[building_name.casefold()] = building
        room = session.exec(
            select(Room).where(Room.building_id == building.id, Room.number == room_number)
        ).first()
        if room is None:
            room = Room(building_id=building.id, number=room_number)
            session.add(room)
        if numbers["floor"] is not None:
            room.floor = numbers["floor"]
        if numbers["capacity"] is not None:
            room.capacity = numbers["capacity"]
        if numbers["infection_capacity"] is not None:
            room.infection_capacity = numbers["infection_capacity"]
        if step_free is not None:
            room.step_free = step_free.casefold() in _YES
        if unit_name is not None:
            room.unit_id = units[unit_name.casefold()].id if unit_name else None
    session.flush()
    record(session, action="rooms.imported", actor=by, after={"rooms": len(parsed)})
    return len(parsed), []
