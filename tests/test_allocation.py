"""Single-office allocation: hard limits, home rooms, maximum matching, conflicts.

Unit tests on small offices built by hand, then hypothesis on random offices, checked
against references written here from the rules alone: Edmonds–Karp for the most
people any allocation could place, Hall's condition by brute force for "everybody
fits".
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeoffice.rooms.allocation import (
    Allocation,
    Attendee,
    DayAllocation,
    Fixed,
    RoomSlot,
    allocate,
    allocate_day,
    assign_home_rooms,
    conflicts,
    greedy_first_fit,
)

MONDAY = date(2026, 1, 5)


def weekdays(weeks: Iterable[int], days: Iterable[int] = range(5)) -> frozenset[date]:
    """The given weekdays (0 = Monday) of the given weeks after MONDAY."""
    days = list(days)
    return frozenset(MONDAY + timedelta(weeks=week, days=day) for week in weeks for day in days)


A_WEEKS = weekdays([0, 2])
B_WEEKS = weekdays([1, 3])
HORIZON = sorted(A_WEEKS | B_WEEKS)


def room(
    id: int,
    capacity: int = 1,
    *,
    building: str = "Rathaus",
    unit: int | None = None,
    units: Iterable[int] = (),
    step_free: bool = False,
) -> RoomSlot:
    """A room of ``unit``, of several ``units``, or of any unit when both are left out."""
    unit_ids = frozenset(units) | ({unit} if unit is not None else set())
    return RoomSlot(
        id=id, building=building, unit_ids=unit_ids, capacity=capacity, step_free=step_free
    )


def person(
    id: int,
    days: Iterable[date],
    *,
    unit: int | None = None,
    building: str | None = "Rathaus",
    step_free: bool = False,
    group: int | None = None,
) -> Attendee:
    return Attendee(
        id=id,
        unit_id=unit,
        building=building,
        needs_step_free=step_free,
        group=group,
        days=frozenset(days),
    )


def may_use(attendee: Attendee, slot: RoomSlot, restrict: bool = False) -> bool:
    """The hard limits, written again from the rules and not taken from the module."""
    if slot.capacity <= 0 or (attendee.needs_step_free and not slot.step_free):
        return False
    if restrict:
        return not slot.unit_ids or (
            attendee.unit_id is not None and attendee.unit_id in slot.unit_ids
        )
    return True


def assert_valid(
    result: Allocation,
    attendees: list[Attendee],
    rooms: list[RoomSlot],
    *,
    restrict: bool = False,
) -> None:
    """Capacities, step-free access and allowed rooms hold on every day and for home rooms."""
    by_room = {slot.id: slot for slot in rooms}
    by_person = {attendee.id: attendee for attendee in attendees}
    for day, allocation in result.by_day.items():
        assert allocation.day == day
        for room_id, count in Counter(allocation.placed.values()).items():
            assert count <= by_room[room_id].capacity, (day, room_id)
        for person_id, room_id in allocation.placed.items():
            assert day in by_person[person_id].days
            assert may_use(by_person[person_id], by_room[room_id], restrict)
        present = {a.id for a in attendees if day in a.days}
        assert set(allocation.placed) | set(allocation.unplaced) == present
        assert not set(allocation.placed) & set(allocation.unplaced)
    for person_id, room_id in result.home.items():
        assert may_use(by_person[person_id], by_room[room_id], restrict)
    for day in result.by_day:
        holders = Counter(
            room_id
            for person_id, room_id in result.home.items()
            if day in by_person[person_id].days
        )
        for room_id, count in holders.items():
            assert count <= by_room[room_id].capacity, (day, room_id)


# -- hard limits ------------------------------------------------------------------------


def test_a_single_office_never_holds_two_people_on_one_day() -> None:
    rooms = [room(1), room(2), room(3)]
    attendees = [person(i, HORIZON) for i in range(10, 15)]
    result = allocate(attendees, rooms, HORIZON)
    assert_valid(result, attendees, rooms)
    for allocation in result.by_day.values():
        assert sorted(Counter(allocation.placed.values()).values()) == [1, 1, 1]
        assert len(allocation.unplaced) == 2
    assert len(result.home) == 3


def test_a_room_of_capacity_two_takes_two() -> None:
    rooms = [room(1, capacity=2)]
    attendees = [person(i, HORIZON) for i in range(10, 13)]
    result = allocate(attendees, rooms, HORIZON)
    assert_valid(result, attendees, rooms)
    assert sorted(result.home) == [10, 11]
    assert all(len(a.placed) == 2 for a in result.by_day.values())


def test_step_free_needs_are_honoured_for_home_and_daily_rooms() -> None:
    rooms = [room(1), room(2, step_free=True)]
    walker, wheelchair = person(10, HORIZON), person(11, HORIZON, step_free=True)
    result = allocate([walker, wheelchair], rooms, HORIZON)
    assert result.home == {10: 1, 11: 2}
    assert all(a.placed == {10: 1, 11: 2} for a in result.by_day.values())

    # without a step-free room the need is not overridden: no room at all
    result = allocate([wheelchair], [room(1), room(3)], HORIZON)
    assert result.home == {}
    assert len(result.unplaced_person_days()) == len(HORIZON)


def test_a_person_who_can_take_the_stairs_leaves_the_step_free_room_free() -> None:
    rooms = [room(1, step_free=True), room(2)]
    result = allocate([person(10, HORIZON)], rooms, HORIZON)
    assert result.home == {10: 2}


def test_rooms_with_capacity_zero_are_never_used() -> None:
    rooms = [room(1, capacity=0), room(2), room(3, capacity=0, step_free=True)]
    attendees = [person(10, HORIZON), person(11, HORIZON, step_free=True), person(12, HORIZON)]
    result = allocate(attendees, rooms, HORIZON, previous_home={10: 1, 11: 3})
    assert_valid(result, attendees, rooms)
    used = set(result.home.values())
    for allocation in result.by_day.values():
        used |= set(allocation.placed.values())
    assert used == {2}
    assert result.home == {10: 2}


def test_duplicate_room_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="room 1 is listed twice"):
        allocate([], [room(1), room(1)], HORIZON)


# -- home rooms ----------------------------------------------------------------------


def test_a_and_b_weeks_share_one_home_room() -> None:
    a, b = person(10, A_WEEKS, group=1), person(11, B_WEEKS, group=2)
    result = allocate([a, b], [room(1), room(2)], HORIZON)
    assert result.home == {10: 1, 11: 1}
    assert result.by_day[MONDAY].placed == {10: 1}
    assert result.by_day[MONDAY + timedelta(weeks=1)].placed == {11: 1}
    assert all(a.moved_from_home == [] for a in result.by_day.values())


def test_the_same_rotation_group_never_shares_a_home_room() -> None:
    group = [person(i, A_WEEKS - {MONDAY + timedelta(days=i - 10)}, group=1) for i in (10, 11)]
    home = assign_home_rooms(group + [person(12, A_WEEKS, group=1)], [room(1), room(2)])
    assert len(home) == 2
    assert len(set(home.values())) == 2

    # a single shared day is enough to keep two people apart
    once = person(13, B_WEEKS | {MONDAY})
    assert len(assign_home_rooms([person(10, A_WEEKS), once], [room(1)])) == 1


def test_fixed_weekdays_that_do_not_meet_share_a_home_room() -> None:
    monday_tuesday = person(10, weekdays(range(4), [0, 1]))
    wednesday_to_friday = person(11, weekdays(range(4), [2, 3, 4]))
    every_day = person(12, HORIZON)
    home = assign_home_rooms([every_day, monday_tuesday, wednesday_to_friday], [room(1), room(2)])
    assert home[10] == home[11] != home[12]


def test_previous_home_rooms_are_kept_while_they_fit() -> None:
    rooms = [room(1), room(2), room(3)]
    attendees = [person(10, HORIZON), person(11, HORIZON)]
    assert assign_home_rooms(attendees, rooms) == {10: 1, 11: 2}
    assert assign_home_rooms(attendees, rooms, previous={10: 3, 11: 1}) == {10: 3, 11: 1}

    # two previous holders of one room who now meet: one keeps it, the other moves
    home = assign_home_rooms(attendees, rooms, previous={10: 2, 11: 2})
    assert sorted(home.values()) == [1, 2]


def test_home_rooms_prefer_own_unit_then_own_building_then_any() -> None:
    rooms = [
        room(1, unit=2),  # another unit, own building
        room(2, building="Stadthaus"),  # no unit, another building
        room(3, unit=1, building="Stadthaus"),  # own unit, another building
        room(4),  # no unit, own building
        room(5, unit=2, building="Stadthaus"),  # another unit, another building
        room(6, unit=1),  # own unit, own building
    ]
    attendees = [person(i, HORIZON, unit=1, group=1) for i in range(10, 16)]
    home = assign_home_rooms(attendees, rooms)
    assert [home[i] for i in range(10, 16)] == [6, 3, 4, 1, 2, 5]


def test_people_of_a_unit_get_its_rooms_before_others_overflow_into_them() -> None:
    rooms = [room(1, unit=1), room(2, unit=2)]
    # person 10 (unit 2) comes first in every order, but must not take unit 1's room
    attendees = [
        person(10, HORIZON, unit=2),
        person(11, HORIZON, unit=2),
        person(12, HORIZON, unit=1),
    ]
    home = assign_home_rooms(attendees, rooms)
    assert home[12] == 1
    assert home[10] == 2


def test_someone_without_a_home_room_gets_a_free_one_for_the_day() -> None:
    holder = person(10, HORIZON[1:], group=1)
    guest = person(11, HORIZON[:3], group=1)
    result = allocate([holder, guest], [room(1)], HORIZON)
    assert result.home == {10: 1}
    assert result.by_day[HORIZON[0]].placed == {11: 1}
    assert result.unplaced_person_days() == [(HORIZON[1], 11), (HORIZON[2], 11)]


# -- fixed allocations ----------------------------------------------------------------


def test_fixed_allocations_never_change_on_a_rerun_even_when_home_rooms_change() -> None:
    rooms = [room(1, step_free=True), room(2), room(3)]
    first_run = [person(10, HORIZON), person(11, A_WEEKS)]
    before = allocate(first_run, rooms, HORIZON)
    past = HORIZON[:5]
    fixed = [
        Fixed(person_id, day, room_id)
        for day in past
        for person_id, room_id in before.by_day[day].placed.items()
    ]
    # a newcomer who needs the step-free room, and room 2 gone: home rooms must change
    second_run = first_run + [person(12, HORIZON, step_free=True)]
    after = allocate(
        second_run, [rooms[0], rooms[2]], HORIZON, previous_home=before.home, fixed=fixed
    )
    assert after.home != before.home
    assert 10 not in after.home
    for day in past:
        # the newcomer takes the slot left over, nobody else moves
        assert after.by_day[day].placed == {**before.by_day[day].placed, 12: 1}
    for entry in fixed:
        assert after.by_day[entry.day].placed[entry.person_id] == entry.room_id


def test_a_fixed_slot_is_not_given_to_anybody_else() -> None:
    fixed = [Fixed(99, MONDAY, 1)]
    allocation = allocate_day(MONDAY, [person(10, [MONDAY])], [room(1)], {10: 1}, fixed)
    assert allocation.placed == {99: 1}
    assert allocation.unplaced == [10]


# -- maximum matching ------------------------------------------------------------------


def test_the_matching_places_whom_greedy_first_fit_leaves_out() -> None:
    rooms = [room(1, step_free=True), room(2)]
    x, y = person(10, [MONDAY]), person(11, [MONDAY], step_free=True)
    greedy = greedy_first_fit([x, y], rooms, [MONDAY]).by_day[MONDAY]
    assert greedy.placed == {10: 1}
    assert greedy.unplaced == [11]

    assert allocate([x, y], rooms, [MONDAY]).by_day[MONDAY].placed == {10: 2, 11: 1}
    # seeded with the "wrong" home room, the augmenting path moves x out of it
    seeded = allocate_day(MONDAY, [x, y], rooms, {10: 1})
    assert seeded.placed == {10: 2, 11: 1}
    assert seeded.moved_from_home == [10]


def test_every_waiting_person_gets_a_fresh_search_after_a_success() -> None:
    # both wheelchair users wait for a step-free room held by a walker; the first
    # success must not leave marks behind that stop the second search
    rooms = [room(1, step_free=True), room(2, step_free=True), room(3), room(4)]
    walkers = [person(10, [MONDAY]), person(11, [MONDAY])]
    wheelchairs = [person(20, [MONDAY], step_free=True), person(21, [MONDAY], step_free=True)]
    allocation = allocate_day(MONDAY, walkers + wheelchairs, rooms, {10: 1, 11: 2})
    assert allocation.placed == {10: 3, 11: 4, 20: 1, 21: 2}
    assert allocation.moved_from_home == [10, 11]


def test_demand_above_capacity_places_exactly_the_optimum() -> None:
    rooms = [room(i, step_free=i <= 4) for i in range(1, 11)]
    walkers = [person(i, [MONDAY]) for i in range(10, 18)]
    wheelchairs = [person(i, [MONDAY], step_free=True) for i in range(20, 24)]
    greedy = greedy_first_fit(walkers + wheelchairs, rooms, [MONDAY]).by_day[MONDAY]
    assert len(greedy.placed) == 8
    optimum = allocate(walkers + wheelchairs, rooms, [MONDAY]).by_day[MONDAY]
    assert len(optimum.placed) == 10 == max_flow(walkers + wheelchairs, rooms)
    assert set(optimum.placed) >= {20, 21, 22, 23}


def test_an_augmenting_path_moves_people_along_a_chain() -> None:
    # q needs room 1; p1 leaves it for room 3; p2 leaves room 3 for room 2, p2's own unit
    rooms = [room(1, step_free=True), room(2, unit=1), room(3)]
    p1, p2 = person(10, [MONDAY], unit=2), person(11, [MONDAY], unit=1)
    q = person(12, [MONDAY], unit=2, step_free=True)
    allocation = allocate_day(MONDAY, [p1, p2, q], rooms, {10: 1, 11: 3}, restrict_to_own_unit=True)
    assert allocation.placed == {10: 3, 11: 2, 12: 1}
    assert allocation.moved_from_home == [10, 11]
    assert allocation.unplaced == []


def test_restricted_to_own_unit_leaves_other_units_rooms_empty() -> None:
    rooms = [room(1, unit=1), room(2, unit=2), room(3)]
    attendees = [person(i, HORIZON, unit=1) for i in (10, 11, 12)]
    result = allocate(attendees, rooms, HORIZON, restrict_to_own_unit=True)
    assert_valid(result, attendees, rooms, restrict=True)
    assert all(a.unplaced == [12] for a in result.by_day.values())
    unrestricted = allocate(attendees, rooms, HORIZON)
    assert unrestricted.unplaced_person_days() == []
    assert unrestricted.home == {10: 1, 11: 3, 12: 2}


def test_a_room_of_two_units_is_own_room_for_both_and_closed_to_a_third() -> None:
    shared_by_two = room(1, units=[1, 2])
    rooms = [shared_by_two, room(2), room(3, unit=3)]
    one, two, three = (
        person(10, [MONDAY], unit=1),
        person(11, [MONDAY], unit=2),
        person(12, [MONDAY], unit=3),
    )
    # each of the two units prefers the room to the room without a unit
    assert assign_home_rooms([one], rooms) == {10: 1}
    assert assign_home_rooms([two], rooms) == {11: 1}
    # unit 3 takes it only when nothing else is left, and never when restricted
    assert assign_home_rooms([three], rooms) == {12: 3}
    crowd = [person(i, [MONDAY], unit=3) for i in (20, 21, 22)]
    assert allocate(crowd, rooms, [MONDAY]).by_day[MONDAY].placed == {20: 3, 21: 2, 22: 1}
    restricted = allocate(crowd, rooms, [MONDAY], restrict_to_own_unit=True).by_day[MONDAY]
    assert restricted.placed == {20: 3, 21: 2} and restricted.unplaced == [22]
    # the two units both reach it under the restriction
    pair = allocate(
        [one, two], [shared_by_two, room(3, unit=3)], [MONDAY], restrict_to_own_unit=True
    ).by_day[MONDAY]
    assert len(pair.placed) == 1 and pair.unplaced and set(pair.placed.values()) == {1}


def test_a_shared_room_of_the_own_unit_comes_before_a_room_without_a_unit() -> None:
    rooms = [room(1), room(2, units=[1, 2], building="Stadthaus"), room(3, units=[2, 1])]
    home = assign_home_rooms([person(i, HORIZON, unit=1) for i in (10, 11, 12)], rooms)
    # own unit in the own building, own unit elsewhere, then the room of any unit
    assert home == {10: 3, 11: 2, 12: 1}


# -- results and conflicts --------------------------------------------------------------


def test_room_changes_count_changes_between_office_days() -> None:
    days = HORIZON[:4]
    by_day = {
        days[0]: DayAllocation(days[0], {10: 1, 11: 2}, [], []),
        days[1]: DayAllocation(days[1], {10: 2}, [11], [10]),
        days[2]: DayAllocation(days[2], {11: 2}, [], []),
        days[3]: DayAllocation(days[3], {10: 1, 11: 1}, [], [10]),
    }
    result = Allocation(home={10: 1, 11: 2}, by_day=by_day)
    assert result.room_changes(10) == 2
    assert result.room_changes(11) == 1
    assert result.room_changes(12) == 0
    assert result.room_changes_by_person() == {10: 2, 11: 1}
    assert result.unplaced_person_days() == [(days[1], 11)]


def test_conflicts_suggest_a_day_with_space_nearest_first() -> None:
    monday, tuesday, wednesday, thursday = HORIZON[:4]
    rooms = [room(1)]
    crowd = [person(10, [monday, tuesday], group=1), person(11, [monday, thursday], group=2)]
    result = allocate(crowd, rooms, [monday, tuesday, wednesday, thursday])
    assert result.by_day[monday].unplaced == [11]
    found = conflicts(
        result.by_day[monday],
        crowd,
        rooms,
        other_days=result.by_day,
    )
    assert len(found) == 1
    conflict = found[0]
    assert (conflict.person_id, conflict.day, conflict.group) == (11, monday, 2)
    assert conflict.reason == "office_full"
    assert conflict.rooms == ()
    # tuesday is full (person 10), thursday is already one of person 11's days
    assert conflict.days == (wednesday,)


def test_conflicts_name_other_units_rooms_and_step_free_shortage() -> None:
    rooms = [room(1, unit=1), room(2, unit=2), room(3, unit=3, step_free=True)]
    team = [person(10, [MONDAY], unit=1), person(11, [MONDAY], unit=1)]
    allocation = allocate(team, rooms, [MONDAY], restrict_to_own_unit=True).by_day[MONDAY]
    (conflict,) = conflicts(allocation, team, rooms, other_days={}, restrict_to_own_unit=True)
    assert conflict.reason == "own_unit_full"
    # another unit's room in the same building before a step-free one
    assert conflict.rooms == (2, 3)
    assert conflict.days == ()

    wheelchairs = [person(20, [MONDAY], step_free=True), person(21, [MONDAY], step_free=True)]
    allocation = allocate(wheelchairs, rooms, [MONDAY]).by_day[MONDAY]
    (conflict,) = conflicts(allocation, wheelchairs, rooms, other_days={})
    assert conflict.reason == "step_free_full"
    assert conflict.rooms == ()


def test_conflicts_point_out_a_room_the_greedy_peer_missed() -> None:
    rooms = [room(1, step_free=True), room(2)]
    attendees = [person(10, [MONDAY]), person(11, [MONDAY], step_free=True), person(12, [])]
    greedy = greedy_first_fit(attendees, rooms, [MONDAY]).by_day[MONDAY]
    (conflict,) = conflicts(greedy, attendees, rooms, other_days={})
    assert conflict.reason == "step_free_full"
    greedy = DayAllocation(MONDAY, {11: 1}, [10], [])
    (conflict,) = conflicts(greedy, attendees, rooms, other_days={})
    assert (conflict.reason, conflict.rooms) == ("not_allocated", (2,))


# -- references for the properties -------------------------------------------------------


def max_flow(
    attendees: list[Attendee],
    rooms: list[RoomSlot],
    *,
    restrict: bool = False,
    taken: Counter[int] | None = None,
) -> int:
    """Edmonds–Karp on source → person (1) → allowed room → sink (capacity left)."""
    taken = taken or Counter()
    source, sink = 0, 1
    first_room = 2 + len(attendees)
    size = first_room + len(rooms)
    capacity = [[0] * size for _ in range(size)]
    for i, attendee in enumerate(attendees):
        capacity[source][2 + i] = 1
        for j, slot in enumerate(rooms):
            if may_use(attendee, slot, restrict):
                capacity[2 + i][first_room + j] = 1
    for j, slot in enumerate(rooms):
        capacity[first_room + j][sink] = max(0, slot.capacity - taken[slot.id])
    flow = 0
    while True:
        parent = [-1] * size
        parent[source] = source
        queue = deque([source])
        while queue and parent[sink] < 0:
            node = queue.popleft()
            for nxt in range(size):
                if parent[nxt] < 0 and capacity[node][nxt] > 0:
                    parent[nxt] = node
                    queue.append(nxt)
        if parent[sink] < 0:
            return flow
        node = sink
        while node != source:
            capacity[parent[node]][node] -= 1
            capacity[node][parent[node]] += 1
            node = parent[node]
        flow += 1


def everybody_fits(attendees: list[Attendee], rooms: list[RoomSlot], restrict: bool) -> bool:
    """Hall's condition by brute force: every group has at least as many slots as people."""
    for size in range(1, len(attendees) + 1):
        for group in combinations(attendees, size):
            reachable = {
                slot.id: slot.capacity
                for a in group
                for slot in rooms
                if may_use(a, slot, restrict)
            }
            if sum(reachable.values()) < size:
                return False
    return True


WEEK = [MONDAY + timedelta(days=i) for i in range(5)]


@st.composite
def offices(
    draw: st.DrawFn, max_rooms: int = 6, max_people: int = 8
) -> tuple[list[RoomSlot], list[Attendee], bool]:
    """A small office: up to 6 rooms in 2 buildings, up to 8 people over one week.

    Small enough for Hall's condition by brute force; larger sizes for the flow check.
    """
    rooms = [
        RoomSlot(
            id=i,
            building=draw(st.sampled_from(["Rathaus", "Stadthaus"])),
            # no unit (any unit), one unit, or a room two units share
            unit_ids=frozenset(draw(st.sets(st.sampled_from([1, 2, 3]), max_size=2))),
            capacity=draw(st.sampled_from([0, 1, 1, 1, 2])),
            step_free=draw(st.booleans()),
        )
        for i in range(1, draw(st.integers(1, max_rooms)) + 1)
    ]
    attendees = [
        Attendee(
            id=i,
            unit_id=draw(st.sampled_from([None, 1, 2, 3])),
            building=draw(st.sampled_from(["Rathaus", "Stadthaus", None])),
            needs_step_free=draw(st.sampled_from([False, False, False, True])),
            group=draw(st.sampled_from([None, 1, 2, 3])),
            days=frozenset(draw(st.sets(st.sampled_from(WEEK)))),
        )
        for i in range(10, 10 + draw(st.integers(0, max_people)))
    ]
    return rooms, attendees, draw(st.booleans())


#: no example database: nothing is written into the working tree
PROPERTY = settings(max_examples=200, deadline=None, database=None)


@PROPERTY
@given(offices())
def test_capacities_and_hard_limits_hold_on_every_day(office) -> None:
    rooms, attendees, restrict = office
    result = allocate(attendees, rooms, WEEK, restrict_to_own_unit=restrict)
    assert_valid(result, attendees, rooms, restrict=restrict)
    for allocation in result.by_day.values():
        assert allocation.moved_from_home == sorted(
            person_id
            for person_id, room_id in allocation.placed.items()
            if person_id in result.home and result.home[person_id] != room_id
        )


@PROPERTY
@given(offices(max_rooms=12, max_people=20), st.randoms(use_true_random=False))
def test_placed_people_are_the_maximum_flow(office, rng: random.Random) -> None:
    rooms, attendees, restrict = office
    result = allocate(attendees, rooms, WEEK, restrict_to_own_unit=restrict)
    for day, allocation in result.by_day.items():
        present = [a for a in attendees if day in a.days]
        assert len(allocation.placed) == max_flow(present, rooms, restrict=restrict)

    # any home rooms at all, even ones that are not allowed or do not exist
    room_ids = [slot.id for slot in rooms] + [99]
    home = {a.id: rng.choice(room_ids) for a in attendees if rng.random() < 0.7}
    for day in WEEK:
        present = [a for a in attendees if day in a.days]
        allocation = allocate_day(day, present, rooms, home, restrict_to_own_unit=restrict)
        assert len(allocation.placed) == max_flow(present, rooms, restrict=restrict)


@PROPERTY
@given(offices())
def test_everybody_is_placed_when_a_perfect_matching_exists(office) -> None:
    rooms, attendees, restrict = office
    result = allocate(attendees, rooms, WEEK, restrict_to_own_unit=restrict)
    for day, allocation in result.by_day.items():
        present = [a for a in attendees if day in a.days]
        if everybody_fits(present, rooms, restrict):
            assert allocation.unplaced == []
        else:
            assert allocation.unplaced != []


@PROPERTY
@given(offices(), st.randoms(use_true_random=False))
def test_fixed_allocations_stand_and_the_rest_is_still_maximal(office, rng: random.Random) -> None:
    rooms, attendees, restrict = office
    before = greedy_first_fit(attendees, rooms, WEEK)
    past = WEEK[:2]
    fixed = [
        Fixed(person_id, day, room_id)
        for day in past
        for person_id, room_id in before.by_day[day].placed.items()
        if rng.random() < 0.6
    ]
    changed = attendees[1:] if attendees and rng.random() < 0.5 else attendees
    after = allocate(changed, rooms, WEEK, fixed=fixed, restrict_to_own_unit=restrict)
    for entry in fixed:
        assert after.by_day[entry.day].placed[entry.person_id] == entry.room_id
    for day in past:
        allocation = after.by_day[day]
        pinned = {entry.person_id: entry.room_id for entry in fixed if entry.day == day}
        others = [a for a in changed if day in a.days and a.id not in pinned]
        placed_others = len(allocation.placed) - len(pinned)
        assert placed_others == max_flow(
            others, rooms, restrict=restrict, taken=Counter(pinned.values())
        )


@PROPERTY
@given(offices(), st.randoms(use_true_random=False))
def test_results_are_deterministic_whatever_the_input_order(office, rng: random.Random) -> None:
    rooms, attendees, restrict = office
    result = allocate(attendees, rooms, WEEK, restrict_to_own_unit=restrict)
    assert result == allocate(attendees, rooms, WEEK, restrict_to_own_unit=restrict)
    shuffled_rooms, shuffled_people, days = rooms[:], attendees[:], WEEK[:]
    rng.shuffle(shuffled_rooms)
    rng.shuffle(shuffled_people)
    rng.shuffle(days)
    assert result == allocate(shuffled_people, shuffled_rooms, days, restrict_to_own_unit=restrict)


@PROPERTY
@given(offices())
def test_conflicts_suggest_exactly_the_days_with_space(office) -> None:
    rooms, attendees, restrict = office
    result = allocate(attendees, rooms, WEEK, restrict_to_own_unit=restrict)
    for day, allocation in result.by_day.items():
        present = [a for a in attendees if day in a.days]
        found = conflicts(
            allocation, present, rooms, other_days=result.by_day, restrict_to_own_unit=restrict
        )
        assert [c.person_id for c in found] == allocation.unplaced
        for conflict in found:
            attendee = next(a for a in attendees if a.id == conflict.person_id)
            for other in WEEK:
                if other == day or other in attendee.days:
                    assert other not in conflict.days
                    continue
                taken = Counter(result.by_day[other].placed.values())
                space = any(
                    may_use(attendee, slot, restrict) and taken[slot.id] < slot.capacity
                    for slot in rooms
                )
                assert (other in conflict.days) == space
