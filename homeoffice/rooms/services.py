"""Single-office allocation and its stored runs, the units of each room, the day's
occupancy, the contact report and the room import.

The allocation plans from today on and never touches a past day: past allocations are
history (and the contact report's data) until the retention job deletes them. Every run
is stored with its figures and conflicts (``AllocationRun``), whoever started it: the
facility, the nightly job, or a change of plan (`homeoffice.presence.services.replan`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, insert, text
from sqlmodel import Session, col, select

from homeoffice.audit.services import record
from homeoffice.people.models import ADMIN, FACILITY, Person, Unit
from homeoffice.presence import plan
from homeoffice.presence.services import load_unit
from homeoffice.rooms import allocation
from homeoffice.rooms.models import (
    MANUAL,
    RUN_TRIGGERS,
    SCHEDULED,
    AllocationRun,
    Building,
    HomeRoom,
    Room,
    RoomAllocation,
    RoomUnit,
)

#: suggestions kept per conflict in the stored run: enough to act on, and a run with
#: hundreds of conflicts stays a small row
SUGGESTED_ROOMS = 10
SUGGESTED_DAYS = 5
#: conflicts kept per run, the nearest days first; an office short of rooms for weeks
#: has thousands, which nobody works through one by one (the count is kept in full)
STORED_CONFLICTS = 500

#: any fixed number: the key of the PostgreSQL advisory lock that serialises runs
_ALLOCATION_LOCK = 4_711_001


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
    #: the stored record of this run
    run: AllocationRun


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


def units_by_room(session: Session) -> dict[int, frozenset[int]]:
    """The units of each room that has any (one query); rooms open to all are left out."""
    found: dict[int, set[int]] = defaultdict(set)
    for room_id, unit_id in session.exec(select(RoomUnit.room_id, RoomUnit.unit_id)):
        found[room_id].add(unit_id)
    return {room_id: frozenset(units) for room_id, units in found.items()}


def set_room_units(session: Session, room: Room, unit_ids) -> bool:
    """Make ``unit_ids`` the units of the room (none: open to every unit); True if changed."""
    wanted = set(unit_ids)
    rows = session.exec(select(RoomUnit).where(RoomUnit.room_id == room.id)).all()
    have = {row.unit_id for row in rows}
    if have == wanted:
        return False
    for row in rows:
        if row.unit_id not in wanted:
            session.delete(row)
    for unit_id in sorted(wanted - have):
        session.add(RoomUnit(room_id=room.id, unit_id=unit_id))
    session.flush()
    return True


def _room_slots(session: Session, config: Mapping) -> tuple[list[allocation.RoomSlot], dict]:
    rows = session.exec(select(Room, Building.name).join(Building, Building.id == Room.building_id))
    units = units_by_room(session)
    slots, rooms = [], {}
    for room, building_name in rows:
        capacity = room.infection_capacity if config["INFECTION_CONTROL"] else room.capacity
        room_units = units.get(room.id, frozenset())
        slots.append(
            allocation.RoomSlot(room.id, building_name, room_units, capacity, room.step_free)
        )
        rooms[room.id] = (room, building_name, room_units)
    return slots, rooms


def conflict_record(conflict: allocation.Conflict) -> dict:
    """A conflict as the stored run keeps it: plain JSON, no health data.

    "No step-free room had space" would tell everyone who reads the run that the person
    needs step-free access; it is kept as "no room they may use had space", which is
    what ``office_full`` means, so the record says nothing about the person's needs.
    """
    reason = "office_full" if conflict.reason == "step_free_full" else conflict.reason
    return {
        "day": conflict.day.isoformat(),
        "person_id": conflict.person_id,
        "reason": reason,
        "rooms": list(conflict.rooms[:SUGGESTED_ROOMS]),
        "days": [day.isoformat() for day in conflict.days[:SUGGESTED_DAYS]],
    }


def _serialise_runs(session: Session) -> None:
    """Two runs at once would each delete and rewrite the same future days; on
    PostgreSQL the second waits here for the first to commit (the lock ends with the
    transaction) and then plans on what the first wrote. SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_ALLOCATION_LOCK))


def run_allocation(
    *,
    session: Session,
    today: date,
    config: Mapping,
    by: Person | None,
    weeks: int | None = None,
    trigger: str | None = None,
) -> AllocationSummary:
    """Give every person present a room from today on; past days stay as they were.

    The run is stored (``AllocationRun``) in the same transaction as its allocations.
    ``trigger`` says what started it; by default "manual" when someone is named in
    ``by`` and "scheduled" (the nightly job) when not.
    """
    trigger = trigger or (MANUAL if by is not None else SCHEDULED)
    if trigger not in RUN_TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    _serialise_runs(session)
    start = today
    end = today + timedelta(weeks=weeks or config["ALLOCATION_WEEKS"]) - timedelta(days=1)
    holidays = holidays_for(config, start, end)
    people = office_days_by_person(session, start=start, end=end, holidays=holidays)
    slots, rooms = _room_slots(session, config)
    unit_building: dict[int, str] = {}
    counts: dict[int, Counter] = defaultdict(Counter)
    for _room, building_name, room_units in rooms.values():
        for unit_id in room_units:
            counts[unit_id][building_name] += 1
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
    unplaced: list[tuple[date, Person]] = []
    conflicts: list[allocation.Conflict] = []
    by_id = {person.id: person for person, _g, _d in people.values()}
    seats = [
        {"day": day, "person_id": person_id, "room_id": room_id}
        for day, day_allocation in result.by_day.items()
        for person_id, room_id in day_allocation.placed.items()
    ]
    placed = len(seats)
    # One bulk insert: thousands of rows a run, and no ORM objects needed for them.
    if seats:
        session.exec(insert(RoomAllocation), params=seats)
    for day, day_allocation in sorted(result.by_day.items()):
        for person_id in day_allocation.unplaced:
            unplaced.append((day, by_id[person_id]))
        if day_allocation.unplaced:
            present = [a for a in attendees if day in a.days]
            conflicts.extend(
                allocation.conflicts(day_allocation, present, slots, other_days=result.by_day)
            )
    session.exec(delete(HomeRoom))
    if result.home:
        homes = [{"person_id": p, "room_id": r} for p, r in result.home.items()]
        session.exec(insert(HomeRoom), params=homes)
    run = AllocationRun(
        by_id=by.id if by is not None else None,
        trigger=trigger,
        from_day=start,
        to_day=end,
        person_days=placed + len(unplaced),
        placed=placed,
        unplaced=len(unplaced),
        conflicts=[conflict_record(conflict) for conflict in conflicts[:STORED_CONFLICTS]],
    )
    session.add(run)
    session.flush()
    record(
        session,
        action="rooms.allocated",
        actor=by,
        object_type="allocation_run",
        object_id=run.id,
        after={
            "start": str(start),
            "end": str(end),
            "placed": placed,
            "unplaced": len(unplaced),
            "trigger": trigger,
        },
    )
    return AllocationSummary(start, end, placed + len(unplaced), placed, unplaced, conflicts, run)


def _may_read_runs(person: Person) -> bool:
    return bool({FACILITY, ADMIN} & person.role_set)


def recent_runs(*, session: Session, by: Person, limit: int = 50) -> list[tuple]:
    """The latest runs, newest first, with the name of who started each (one query)."""
    if not _may_read_runs(by):
        raise NotAllowed()
    return list(
        session.exec(
            select(AllocationRun, Person.display_name)
            .outerjoin(Person, Person.id == AllocationRun.by_id)
            .order_by(col(AllocationRun.started_at).desc(), col(AllocationRun.id).desc())
            .limit(limit)
        ).all()
    )


@dataclass
class ConflictLine:
    """A stored conflict with names instead of ids, for the run's page."""

    day: date
    person: str
    reason: str
    #: "Building number" of rooms with space that day, best first
    rooms: list[str]
    #: other days with space, nearest first
    days: list[date]


@dataclass
class RunReport:
    """A stored run with its conflicts ready to show."""

    run: AllocationRun
    by_name: str | None
    conflicts: list[ConflictLine]


def run_report(*, session: Session, run_id: int, by: Person) -> RunReport:
    """One stored run for facility management (three queries however many conflicts)."""
    if not _may_read_runs(by):
        raise NotAllowed()
    found = session.exec(
        select(AllocationRun, Person.display_name)
        .outerjoin(Person, Person.id == AllocationRun.by_id)
        .where(AllocationRun.id == run_id)
    ).first()
    if found is None:
        raise LookupError(run_id)
    run, by_name = found
    person_ids = {c["person_id"] for c in run.conflicts}
    room_ids = {room_id for c in run.conflicts for room_id in c["rooms"]}
    names: dict[int, str] = {}
    if person_ids:
        names = dict(
            session.exec(
                select(Person.id, Person.display_name).where(col(Person.id).in_(person_ids))
            ).all()
        )
    rooms: dict[int, str] = {}
    if room_ids:
        rooms = {
            room_id: f"{building} {number}"
            for room_id, number, building in session.exec(
                select(Room.id, Room.number, Building.name)
                .join(Building, Building.id == Room.building_id)
                .where(col(Room.id).in_(room_ids))
            )
        }
    lines = [
        ConflictLine(
            day=date.fromisoformat(c["day"]),
            # someone deleted since the run is still a conflict of that day
            person=names.get(c["person_id"], f"#{c['person_id']}"),
            reason=c["reason"],
            rooms=[rooms[room_id] for room_id in c["rooms"] if room_id in rooms],
            days=[date.fromisoformat(day) for day in c["days"]],
        )
        for c in run.conflicts
    ]
    return RunReport(run=run, by_name=by_name, conflicts=lines)


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
    """Delete room allocations older than the retention period (GDPR Art. 5(1)(e)).

    Allocation runs whose days all lie before it go too: their conflicts say who was in
    the office on which day. Returns the number of allocations deleted.
    """
    limit = today - timedelta(days=retention_days)
    count = len(session.exec(select(RoomAllocation.id).where(RoomAllocation.day < limit)).all())
    session.exec(delete(RoomAllocation).where(RoomAllocation.day < limit))
    runs = len(session.exec(select(AllocationRun.id).where(AllocationRun.to_day < limit)).all())
    session.exec(delete(AllocationRun).where(AllocationRun.to_day < limit))
    record(
        session,
        action="contacts.deleted",
        after={"before": str(limit), "rows": count, "runs": runs},
    )
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
#: a unit cell that opens the room to every unit
_ANY_UNIT = {"", "-", "alle", "all", "jedes amt", "any unit"}


def _unit_names(cell_text: str | None, units: Mapping[str, Unit]) -> tuple[list[Unit] | None, list]:
    """The units named in a cell: (units, unknown names).

    None for an empty cell (the room's units stay as they are); an empty list for "alle"
    (any unit may use the room, see ``_ANY_UNIT``). Several units are separated by ";"
    or ",". A name that itself holds a comma ("Amt für Jugend, Familie und Soziales") is
    found as a whole first, so such units are separated by ";".
    """
    if cell_text is None:
        return None, []
    if cell_text.strip().casefold() in _ANY_UNIT:
        return [], []
    found: list[Unit] = []
    unknown: list[str] = []
    for part in (p.strip() for p in cell_text.split(";")):
        if not part:
            continue
        if part.casefold() in units:
            pieces = [part]
        else:
            pieces = [piece.strip() for piece in part.split(",") if piece.strip()]
        for piece in pieces:
            unit = units.get(piece.casefold())
            if unit is None:
                unknown.append(piece)
            elif all(unit.id != known.id for known in found):
                found.append(unit)
    return found, unknown


def import_rooms(*, session: Session, rows: list[tuple], by: Person) -> tuple[int, list[str]]:
    """Create or update rooms from sheet rows (header first); all or nothing.

    Returns (rooms written, errors); with any error nothing is changed. Rooms are matched
    by building and number; buildings are created when new; every unit named must
    exist. The unit column may name several units (see `_unit_names`).
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
        unit_text = cell(values, "unit")
        room_units, unknown = _unit_names(unit_text, units)
        if unknown:
            problem = problem or _("unknown unit “%(value)s”", value="”, “".join(unknown))
        if problem:
            errors.append(_("Row %(row)d: %(error)s", row=number, error=problem))
            continue
        seen.add((building.casefold(), room.casefold()))
        parsed.append((building, room, numbers, cell(values, "step_free"), room_units))
    if errors:
        return 0, errors
    buildings = {b.name.casefold(): b for b in session.exec(select(Building))}
    for building_name, room_number, numbers, step_free, room_units in parsed:
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
        if room_units is not None:
            session.flush()  # a new room needs its id for the links
            set_room_units(session, room, (unit.id for unit in room_units))
    session.flush()
    record(session, action="rooms.imported", actor=by, after={"rooms": len(parsed)})
    return len(parsed), []
