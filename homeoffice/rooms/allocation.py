"""Single offices for the people in the office: a home room each, and a room per office day.

For infection control everyone present gets a single office (Einzelbüro). A room's
capacity here is the capacity in force, its infection-control capacity: usually 1, 0 for
a room not to be used, now and then 2 for a large room.

The module is pure: frozen dataclasses in, plain results out; no Flask, no database and
nothing from ``homeoffice``. The planner derives who is in on which day (rotation,
agreement, absences, holidays) and hands that over; the tests and
``bench/allocation.py`` run the same code without an application.

How a plan comes about (`allocate`):

1. Home rooms (`assign_home_rooms`). Each person gets one room for all their office
   days wherever that is possible, because moving rooms every day costs time and
   spreads contacts. Two people share a capacity-1 home room only when their office
   days never meet (A and B weeks do; the same rotation group never does). Office days
   are bitsets, Python ints over day indexes, so "never meet" is one ``&``.
2. Each day (`allocate_day`): fixed allocations (past days) stand; present people go to
   their home rooms; the others to free rooms in order of preference; whoever is still
   left starts a search for an augmenting path (Kuhn's algorithm over room slots), which
   moves as few people as it needs. The number of people placed is the maximum any
   allocation could place.

What is allowed and what is only preferred:

- Hard limits: a room with capacity 0 is never used; someone who needs step-free access
  only gets a step-free room; with ``restrict_to_own_unit`` only rooms that list the
  person's unit among their units, or rooms without a unit (which any unit may use), are
  allowed.
- Preferences, in this order: a room of the person's own unit, then one in their own
  building, then any room; within that, people who do not need step-free access are
  kept out of step-free rooms, which are scarce. Unit and building are preferences by
  default because the rotation plan already decided who comes in: another unit's empty
  room is better than sending someone home. An administration that wants units kept
  apart passes ``restrict_to_own_unit=True``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType
from typing import Literal

__all__ = [
    "Allocation",
    "Attendee",
    "Conflict",
    "ConflictReason",
    "DayAllocation",
    "Fixed",
    "RoomSlot",
    "allocate",
    "allocate_day",
    "assign_home_rooms",
    "conflicts",
    "greedy_first_fit",
]

#: an empty mapping as a default argument that nobody can change by accident
_NOTHING: Mapping[int, int] = MappingProxyType({})

#: number of preference tiers, see `_tier`
_TIERS = 6


@dataclass(frozen=True, slots=True)
class RoomSlot:
    """A room as the allocation sees it; ``capacity`` is the capacity in force."""

    id: int
    building: str
    #: the units that use the room; empty for a room any unit may use
    unit_ids: frozenset[int]
    #: infection-control capacity: usually 1, 0 for a room not to be used
    capacity: int
    step_free: bool


@dataclass(frozen=True, slots=True)
class Attendee:
    """A person with their office days in the horizon, as the planner derived them."""

    id: int
    unit_id: int | None
    #: the building the person's unit works in; None when it is not known
    building: str | None
    needs_step_free: bool
    #: rotation group, only for explanations
    group: int | None
    days: frozenset[date]


@dataclass(frozen=True, slots=True)
class Fixed:
    """An allocation of a past day (or before ``keep_before``) that must never change."""

    person_id: int
    day: date
    room_id: int


@dataclass(frozen=True, slots=True)
class DayAllocation:
    """The rooms of one day.

    ``placed`` holds everybody with a room, fixed allocations included. ``unplaced`` are
    present people without a room, by id. ``moved_from_home`` are people this run placed
    in a room other than their home room (fixed allocations are not counted: this run did
    not choose them).
    """

    day: date
    placed: dict[int, int]
    unplaced: list[int]
    moved_from_home: list[int]


@dataclass(frozen=True, slots=True)
class Allocation:
    """Home rooms and the rooms of every day in the horizon."""

    home: dict[int, int]
    by_day: dict[date, DayAllocation]

    def unplaced_person_days(self) -> list[tuple[date, int]]:
        """Every (day, person id) of someone present without a room, in date order."""
        return [
            (day, person_id)
            for day in sorted(self.by_day)
            for person_id in self.by_day[day].unplaced
        ]

    def room_changes(self, person_id: int) -> int:
        """How often the person's room differs from their room on their previous office day.

        Only days with a room count: a day without one is neither a change nor the
        start of a new run.
        """
        changes, last = 0, None
        for day in sorted(self.by_day):
            room = self.by_day[day].placed.get(person_id)
            if room is None:
                continue
            if last is not None and room != last:
                changes += 1
            last = room
        return changes

    def room_changes_by_person(self) -> dict[int, int]:
        """`room_changes` for everybody placed at least once, in one pass over the days."""
        changes: dict[int, int] = {}
        last: dict[int, int] = {}
        for day in sorted(self.by_day):
            for person_id, room in self.by_day[day].placed.items():
                before = last.get(person_id)
                if before is None:
                    changes[person_id] = 0
                elif before != room:
                    changes[person_id] += 1
                last[person_id] = room
        return changes


#: why someone has no room:
#: ``office_full``: no room they may use has space;
#: ``step_free_full``: rooms have space, but none of them is step-free;
#: ``own_unit_full``: rooms of other units have space, which they may not use;
#: ``not_allocated``: a room they may use has space (an allocation that is not maximal)
ConflictReason = Literal["office_full", "step_free_full", "own_unit_full", "not_allocated"]


@dataclass(frozen=True, slots=True)
class Conflict:
    """Someone present without a room, with what could be done about it.

    ``rooms`` have space that day, best first; with ``restrict_to_own_unit`` they may be
    outside the person's allowed rooms, for someone who can lift the restriction.
    ``days`` are other days in the horizon on which a room the person may use has space,
    nearest first, for a swap of office days.
    """

    person_id: int
    day: date
    group: int | None
    reason: ConflictReason
    rooms: tuple[int, ...]
    days: tuple[date, ...]


def _tier(room: RoomSlot, unit_id: int | None, building: str | None, restrict: bool) -> int | None:
    """How much a person of this unit and building wants the room: 0 best, None not allowed.

    Own unit first (own building before another), then rooms without a unit in the own
    building, other units' rooms in the own building, rooms without a unit elsewhere and
    other units' rooms elsewhere. A shared room comes before another unit's room because
    that unit may need it the next day. A room of several units is the own room of each
    of them.
    """
    own_unit = unit_id is not None and unit_id in room.unit_ids
    shared = not room.unit_ids
    if restrict and not (own_unit or shared):
        return None
    own_building = building is None or room.building == building
    if own_unit:
        return 0 if own_building else 1
    if shared:
        return 2 if own_building else 4
    return 3 if own_building else 5


class _RoomIndex:
    """The usable rooms, and for each kind of person the allowed rooms best first.

    Built once per run: people of the same unit, building and step-free need share one
    list, so a day only walks lists and never sorts.
    """

    def __init__(self, rooms: Iterable[RoomSlot], restrict_to_own_unit: bool) -> None:
        self.rooms: dict[int, RoomSlot] = {}
        for room in rooms:
            if room.id in self.rooms:
                raise ValueError(f"room {room.id} is listed twice")
            if room.capacity < 0:
                raise ValueError(f"room {room.id} has a negative capacity")
            self.rooms[room.id] = room
        self.restrict = restrict_to_own_unit
        #: capacity of every room that may be used at all
        self.capacity: dict[int, int] = {
            room_id: room.capacity
            for room_id, room in sorted(self.rooms.items())
            if room.capacity > 0
        }
        self._preferences: dict[tuple[int | None, str | None, bool], tuple[list[int], list[int]]]
        self._preferences = {}

    def preference(self, person: Attendee) -> tuple[list[int], list[int]]:
        """The rooms this person may use, best first, and where each tier starts.

        The second list has ``_TIERS + 1`` offsets into the first: tier ``t`` is
        ``rooms[starts[t]:starts[t + 1]]``.
        """
        key = self.preference_key(person)
        found = self._preferences.get(key)
        if found is None:
            ranked = []
            for room_id in self.capacity:
                room = self.rooms[room_id]
                if person.needs_step_free and not room.step_free:
                    continue
                tier = _tier(room, person.unit_id, person.building, self.restrict)
                if tier is not None:
                    # step-free rooms last within a tier for those who can take the stairs
                    ranked.append((tier, room.step_free and not person.needs_step_free, room_id))
            ranked.sort()
            starts = [0] * (_TIERS + 1)
            for tier, _, _ in ranked:
                starts[tier + 1] += 1
            for tier in range(_TIERS):
                starts[tier + 1] += starts[tier]
            found = ([room_id for _, _, room_id in ranked], starts)
            self._preferences[key] = found
        return found

    @staticmethod
    def preference_key(person: Attendee) -> tuple[int | None, str | None, bool]:
        """People with the same key share one preference list."""
        return (person.unit_id, person.building, person.needs_step_free)

    def allows(self, person: Attendee, room_id: int) -> bool:
        """Whether the person may use the room at all (the hard limits only)."""
        room = self.rooms.get(room_id)
        if room is None or room.capacity <= 0:
            return False
        if person.needs_step_free and not room.step_free:
            return False
        return _tier(room, person.unit_id, person.building, self.restrict) is not None

    def kind(self, person: Attendee) -> tuple[bool, int | None]:
        """People of the same kind may use exactly the same rooms (preferences aside)."""
        return (person.needs_step_free, person.unit_id if self.restrict else None)


def _unique(attendees: Iterable[Attendee]) -> list[Attendee]:
    """Attendees by id, one each (the last one given wins), so that order never matters."""
    return sorted({a.id: a for a in attendees}.values(), key=lambda a: a.id)


def assign_home_rooms(
    attendees: Iterable[Attendee],
    rooms: Iterable[RoomSlot],
    *,
    previous: Mapping[int, int] = _NOTHING,
    restrict_to_own_unit: bool = False,
) -> dict[int, int]:
    """A home room per person for all their office days, as far as rooms allow.

    On every day, the number of a room's holders present is at most its capacity, so the
    home room is free whenever its holder comes in. ``previous`` home rooms are kept
    when they still fit, so that a new plan does not move people around. People without
    office days, and people for whom no room fits, get no home room; they still get a
    room on each day that has one free.
    """
    return _assign_home_rooms(_RoomIndex(rooms, restrict_to_own_unit), _unique(attendees), previous)


def _assign_home_rooms(
    index: _RoomIndex, people: list[Attendee], previous: Mapping[int, int]
) -> dict[int, int]:
    """`assign_home_rooms` on a built index and attendees sorted by id."""
    all_days = sorted(set().union(*(person.days for person in people)))
    bit = {day: 1 << position for position, day in enumerate(all_days)}
    masks: dict[int, int] = {}
    for person in people:
        mask = 0
        for day in person.days:
            mask |= bit[day]
        masks[person.id] = mask
    # scarce needs first (step-free), then those with the most office days: they are the
    # hardest to fit later and gain most from a room of their own
    order = sorted(
        (person for person in people if masks[person.id]),
        key=lambda person: (not person.needs_step_free, -masks[person.id].bit_count(), person.id),
    )

    # For a room of capacity c, layers[k] holds the days with more than k holders (a
    # thermometer code). A person fits when their days miss the top layer: one ``&`` for
    # any capacity, so even the few larger rooms need no counts per day.
    layers = {room_id: [0] * capacity for room_id, capacity in index.capacity.items()}
    #: slot-days still free per room, for best fit
    free = {room_id: capacity * len(all_days) for room_id, capacity in index.capacity.items()}
    home: dict[int, int] = {}

    def take(person: Attendee, room_id: int) -> None:
        mask = masks[person.id]
        stack = layers[room_id]
        for k in range(len(stack) - 1, 0, -1):
            stack[k] |= stack[k - 1] & mask
        stack[0] |= mask
        free[room_id] -= mask.bit_count()
        home[person.id] = room_id

    for person in order:
        room_id = previous.get(person.id)
        if (
            room_id is not None
            and index.allows(person, room_id)
            and not layers[room_id][-1] & masks[person.id]
        ):
            take(person, room_id)

    # Tier by tier over everybody, so that nobody takes another unit's room while a
    # member of that unit who would fit there is still waiting for a tier-0 room.
    for tier in range(_TIERS):
        for person in order:
            if person.id in home:
                continue
            mask = masks[person.id]
            ranked, starts = index.preference(person)
            best, best_score = None, None
            for position in range(starts[tier], starts[tier + 1]):
                room_id = ranked[position]
                if layers[room_id][-1] & mask:
                    continue
                # best fit: the fullest room that still fits, so that a B-week person
                # joins an A-week person and empty rooms stay empty for patterns that
                # fit nowhere else; rooms the person does not need step-free come first
                room = index.rooms[room_id]
                score = (room.step_free and not person.needs_step_free, free[room_id])
                if best_score is None or score < best_score:
                    best, best_score = room_id, score
            if best is not None:
                take(person, best)
    return home


def allocate_day(
    day: date,
    present: Iterable[Attendee],
    rooms: Iterable[RoomSlot],
    home: Mapping[int, int],
    fixed: Iterable[Fixed] = (),
    *,
    restrict_to_own_unit: bool = False,
) -> DayAllocation:
    """A room for as many present people as any allocation could place on ``day``.

    Fixed allocations of the day stand first and their slots are taken; present people
    then sit in their home rooms where there is space, the others in free rooms by
    preference, and augmenting paths place whoever is left. Fixed entries for other days
    are ignored.
    """
    index = _RoomIndex(rooms, restrict_to_own_unit)
    today = [entry for entry in fixed if entry.day == day]
    return _allocate_day(index, day, _unique(present), home, today, _NOTHING)


def _allocate_day(
    index: _RoomIndex,
    day: date,
    people: list[Attendee],
    home: Mapping[int, int],
    fixed: Iterable[Fixed],
    recent: Mapping[int, int],
) -> DayAllocation:
    """`allocate_day` on a built index, attendees sorted by id and this day's fixed entries.

    ``recent`` is each person's room on their previous office day: someone without a
    home room (or whose home room is taken) keeps it when it is free, the next best
    thing to a home room.

    The matching runs over room slots: a room of capacity c is c slots. Slots of one room
    are interchangeable, so a room is one node with ``left`` free slots and a list of
    occupants; reaching the room in a search reaches all its slots at once.
    """
    left = dict(index.capacity)
    placed: dict[int, int] = {}
    for entry in fixed:
        if entry.person_id in placed:
            continue
        placed[entry.person_id] = entry.room_id
        if entry.room_id in left:
            # may go below zero if the capacity was lowered after the fact: history
            # stands, and nobody else gets the room that day
            left[entry.room_id] -= 1

    by_id = {person.id: person for person in people if person.id not in placed}
    room_of: dict[int, int] = {}
    occupants: dict[int, list[int]] = {room_id: [] for room_id in left}

    def seat(person_id: int, room_id: int) -> None:
        room_of[person_id] = room_id
        occupants[room_id].append(person_id)
        left[room_id] -= 1

    # home rooms first: by construction they are free whenever their holder is in,
    # unless a fixed allocation or a changed room took the slot
    for person in by_id.values():
        room_id = home.get(person.id)
        if room_id is not None and left.get(room_id, 0) > 0 and index.allows(person, room_id):
            seat(person.id, room_id)
    for person in by_id.values():
        room_id = recent.get(person.id)
        if (
            person.id not in room_of
            and room_id is not None
            and left.get(room_id, 0) > 0
            and index.allows(person, room_id)
        ):
            seat(person.id, room_id)

    # Then free rooms by preference. Rooms only fill up in this phase, so one pointer per
    # preference list that skips full rooms for good finds the best free room in time
    # linear in the list over the whole day.
    pointers: dict[tuple[int | None, str | None, bool], int] = {}
    waiting: list[Attendee] = []
    for person in sorted(
        (person for person in by_id.values() if person.id not in room_of),
        key=lambda person: (not person.needs_step_free, person.id),
    ):
        ranked, _ = index.preference(person)
        key = _RoomIndex.preference_key(person)
        position = pointers.get(key, 0)
        while position < len(ranked) and left[ranked[position]] <= 0:
            position += 1
        pointers[key] = position
        if position < len(ranked):
            seat(person.id, ranked[position])
        else:
            waiting.append(person)

    if waiting:
        _augment_all(index, waiting, by_id, home, left, room_of, occupants)

    moved = sorted(
        person_id
        for person_id, room_id in room_of.items()
        if person_id in home and home[person_id] != room_id
    )
    placed.update(sorted(room_of.items()))
    unplaced = sorted(person_id for person_id in by_id if person_id not in room_of)
    return DayAllocation(day=day, placed=placed, unplaced=unplaced, moved_from_home=moved)


def _augment_all(
    index: _RoomIndex,
    waiting: list[Attendee],
    by_id: Mapping[int, Attendee],
    home: Mapping[int, int],
    left: dict[int, int],
    room_of: dict[int, int],
    occupants: dict[int, list[int]],
) -> None:
    """Kuhn's algorithm: one augmenting-path search per waiting person, breadth first.

    Breadth first finds a shortest path, so a success moves as few seated people as
    possible. One search per person suffices for a maximum matching: a person with no
    augmenting path now has none after later augmentations either (Berge; the classic
    lemma behind Kuhn's single pass).

    Two savings keep a full office cheap. A failed search leaves the matching as it was,
    so every room and person it reached stays useless until the next success: the marks
    are kept instead of cleared. And people of the same kind may use the same rooms, so
    each kind's rooms are walked once per search, not once per person.
    """
    seen_rooms: set[int] = set()
    seen_people: set[int] = set()
    walked_kinds: set[tuple[bool, int | None]] = set()
    #: room -> the person who would move into it on the path found
    came_from: dict[int, int] = {}

    for start in waiting:
        if index.kind(start) in walked_kinds:
            continue  # all its rooms are dead ends until the next success
        seen_people.add(start.id)
        queue = deque([start.id])
        found = None
        while queue and found is None:
            person_id = queue.popleft()
            person = by_id[person_id]
            kind = index.kind(person)
            if kind in walked_kinds:
                continue
            walked_kinds.add(kind)
            ranked, _ = index.preference(person)
            for room_id in ranked:
                if room_id in seen_rooms:
                    continue
                seen_rooms.add(room_id)
                came_from[room_id] = person_id
                if left[room_id] > 0:
                    found = room_id
                    break
                # those away from home move first: moving them costs no home room
                for occupant in sorted(
                    occupants[room_id], key=lambda o: (home.get(o) == room_id, o)
                ):
                    if occupant in seen_people or index.kind(by_id[occupant]) in walked_kinds:
                        continue
                    seen_people.add(occupant)
                    queue.append(occupant)
        if found is None:
            continue
        # shift everyone on the path one room along; only the last room loses a slot
        left[found] -= 1
        room_id, person_id = found, came_from[found]
        while True:
            before = room_of.get(person_id)
            room_of[person_id] = room_id
            occupants[room_id].append(person_id)
            if before is None:
                break
            occupants[before].remove(person_id)
            room_id, person_id = before, came_from[before]
        seen_rooms.clear()
        seen_people.clear()
        walked_kinds.clear()
        came_from.clear()


def _within(person: Attendee, days: frozenset[date]) -> Attendee:
    """The person with office days in ``days`` only; the same object when nothing is cut.

    A year of office days is a few kilobytes per person: copying them for 3,000 people
    when nothing changes would double the memory of a plan.
    """
    if person.days <= days:
        return person
    return replace(person, days=person.days & days)


def allocate(
    attendees: Iterable[Attendee],
    rooms: Iterable[RoomSlot],
    days: Iterable[date],
    *,
    previous_home: Mapping[int, int] = _NOTHING,
    fixed: Iterable[Fixed] = (),
    restrict_to_own_unit: bool = False,
    home_rooms: bool = True,
) -> Allocation:
    """Home rooms for the horizon ``days``, then the rooms of each day.

    Office days outside ``days`` are ignored. Home rooms are planned over the open days
    only: a day with any fixed allocation is a past day, whose rooms are history and
    cannot collide with a home room any more. People without a home room keep their
    room of the previous office day when it is free. ``home_rooms=False`` leaves home
    rooms and kept rooms out (each day is then a maximum matching from scratch), for
    comparison.
    """
    horizon = sorted(set(days))
    fixed_by_day: dict[date, list[Fixed]] = {}
    for entry in fixed:
        fixed_by_day.setdefault(entry.day, []).append(entry)
    index = _RoomIndex(rooms, restrict_to_own_unit)
    in_horizon = frozenset(horizon)
    people = [_within(person, in_horizon) for person in _unique(attendees)]

    home: dict[int, int] = {}
    if home_rooms:
        open_days = in_horizon.difference(fixed_by_day)
        planned = [_within(person, open_days) for person in people]
        home = _assign_home_rooms(index, planned, previous_home)

    present: dict[date, list[Attendee]] = {day: [] for day in horizon}
    for person in people:
        for day in person.days:
            present[day].append(person)
    by_day: dict[date, DayAllocation] = {}
    recent: dict[int, int] = {}
    for day in horizon:
        allocation = _allocate_day(
            index, day, present[day], home, fixed_by_day.get(day, ()), recent
        )
        by_day[day] = allocation
        if home_rooms:
            recent.update(allocation.placed)
    return Allocation(home=home, by_day=by_day)


def greedy_first_fit(
    attendees: Iterable[Attendee], rooms: Iterable[RoomSlot], days: Iterable[date]
) -> Allocation:
    """The naive peer: each day, people in the order given take the first room with space.

    No home rooms, no preferences, no second thoughts; only the hard limits (capacity,
    step-free access) are kept. For the benchmark and for tests that show what the
    matching gains.
    """
    people = list(attendees)
    usable = [room for room in rooms if room.capacity > 0]
    step_free = [position for position, room in enumerate(usable) if room.step_free]
    every = list(range(len(usable)))
    by_day: dict[date, DayAllocation] = {}
    for day in sorted(set(days)):
        left = [room.capacity for room in usable]
        # rooms only fill up during a day, so a pointer past the full ones is first fit
        pointers = {True: 0, False: 0}
        placed: dict[int, int] = {}
        unplaced: list[int] = []
        for person in people:
            if day not in person.days or person.id in placed:
                continue
            candidates = step_free if person.needs_step_free else every
            position = pointers[person.needs_step_free]
            while position < len(candidates) and left[candidates[position]] <= 0:
                position += 1
            pointers[person.needs_step_free] = position
            if position < len(candidates):
                left[candidates[position]] -= 1
                placed[person.id] = usable[candidates[position]].id
            else:
                unplaced.append(person.id)
        by_day[day] = DayAllocation(
            day=day, placed=placed, unplaced=sorted(unplaced), moved_from_home=[]
        )
    return Allocation(home={}, by_day=by_day)


def conflicts(
    day_allocation: DayAllocation,
    present: Iterable[Attendee],
    rooms: Iterable[RoomSlot],
    *,
    other_days: Mapping[date, DayAllocation],
    restrict_to_own_unit: bool = False,
) -> list[Conflict]:
    """What could be done for each person left without a room on the day.

    Same-day rooms with space are listed even outside the person's allowed rooms (but
    never a room without step-free access for someone who needs it), so that whoever
    set the restriction can lift it for a day. Other days are listed only when a room
    the person may use has space and the person is not in the office then already.
    """
    rooms = list(rooms)
    allowed = _RoomIndex(rooms, restrict_to_own_unit)
    anywhere = _RoomIndex(rooms, False)
    people = {person.id: person for person in present}

    def space(allocation: DayAllocation) -> dict[int, int]:
        taken = Counter(allocation.placed.values())
        return {
            room_id: capacity - taken[room_id]
            for room_id, capacity in anywhere.capacity.items()
            if capacity > taken[room_id]
        }

    today = space(day_allocation)
    others = {
        other: (allocation, space(allocation))
        for other, allocation in sorted(other_days.items())
        if other != day_allocation.day
    }
    day = day_allocation.day
    # People with the same preference key have the same rooms in the same order, so the
    # rooms, the reason and the days with space are worked out once per key: a full
    # office has thousands of people without a room but only a few dozen keys.
    by_key: dict[tuple, tuple[tuple[int, ...], ConflictReason, list[date]]] = {}
    result = []
    for person_id in day_allocation.unplaced:
        person = people.get(person_id)
        if person is None:
            raise ValueError(f"person {person_id} is unplaced on {day} but not among present")
        key = _RoomIndex.preference_key(person)
        found = by_key.get(key)
        if found is None:
            ranked, _ = anywhere.preference(person)
            rooms_free = tuple(room_id for room_id in ranked if room_id in today)
            may_use, _ = allowed.preference(person)
            if any(room_id in today for room_id in may_use):
                reason: ConflictReason = "not_allocated"
            elif rooms_free:
                reason = "own_unit_full"
            elif person.needs_step_free and today:
                reason = "step_free_full"
            else:
                reason = "office_full"
            with_space = [
                other
                for other, (_allocation, free) in others.items()
                if free and any(r in free for r in may_use)
            ]
            with_space.sort(key=lambda other: (abs((other - day).days), other))
            found = by_key[key] = (rooms_free, reason, with_space)
        rooms_free, reason, with_space = found
        days_free = [other for other in with_space if person_id not in others[other][0].placed]
        result.append(
            Conflict(
                person_id=person_id,
                day=day,
                group=person.group,
                reason=reason,
                rooms=rooms_free,
                days=tuple(days_free),
            )
        )
    return result
