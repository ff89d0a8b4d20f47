"""Time, memory and quality of the room allocation, side by side with two peers.

A synthetic city, the same in every run (fixed seed): 3,000 people in 30 units, 1,200
rooms in 5 buildings (capacity mostly 1, some 2, a few 0; one in twelve step-free, as
in old town halls); about 3 % of the people need step-free access. Office days over 52
weeks of weekdays, a few public holidays left out, come from four kinds of rotation
(weekly A/B, daily alternation, a cycle of three groups, fixed weekdays) and a few
people in every day, less planned leave and some days of illness. Three allocators
plan the whole year:

- ``allocator``: `homeoffice.rooms.allocation.allocate`, home rooms first, then a
  maximum matching each day seeded with them;
- ``greedy``: `greedy_first_fit`, the naive peer: each day, people in order take the
  first room with space;
- ``optimum``: `allocate` without home rooms, a maximum matching per day from scratch:
  the most people any allocation can place, with no regard for keeping rooms.

For each: wall and CPU seconds, Python's peak allocation while planning (tracemalloc,
in a separate untimed run, because tracing slows Python down several times), room
changes per person per month (mean over everybody), and unplaced person-days. The
allocator should match the optimum's unplaced person-days and change rooms far less
often than either peer.

The last line of the output is one JSON object, for comparing runs.

Usage: ``.venv/bin/python bench/allocation.py [--people N] [--rooms R] [--weeks W] [--seed S]``
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from homeoffice.rooms.allocation import (  # noqa: E402
    Allocation,
    Attendee,
    RoomSlot,
    allocate,
    greedy_first_fit,
)

BUILDINGS = ["Rathaus", "Stadthaus", "Technisches Rathaus", "Bürgerzentrum Nord", "Amt Süd"]
UNITS = 30
FIRST_MONDAY = date(2026, 1, 5)
#: public holidays on weekdays in the year from FIRST_MONDAY (NRW): nobody is in
HOLIDAYS = {
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 1),
    date(2026, 5, 14),
    date(2026, 5, 25),
    date(2026, 6, 4),
    date(2026, 12, 24),
    date(2026, 12, 25),
    date(2026, 12, 31),
    date(2027, 1, 1),
}
#: fixed-weekday patterns (0 = Monday); the pattern's index is the rotation group
FIXED_WEEKDAYS = [(0, 1), (2, 3), (3, 4), (0, 2, 4), (1, 3)]
#: (kind, share of people); "every_day" are those whose work needs the office
ROTATIONS = [("ab", 0.33), ("alternate", 0.25), ("cycle3", 0.18), ("weekdays", 0.20)]
ROTATIONS.append(("every_day", 1 - sum(share for _, share in ROTATIONS)))
VARIANTS = ("allocator", "greedy", "optimum")


@dataclass
class City:
    rooms: list[RoomSlot]
    attendees: list[Attendee]
    days: list[date]


def working_days(weeks: int) -> list[date]:
    """Weekdays of ``weeks`` weeks from FIRST_MONDAY, without public holidays."""
    days = (FIRST_MONDAY + timedelta(days=offset) for offset in range(7 * weeks))
    return [day for day in days if day.weekday() < 5 and day not in HOLIDAYS]


def office_days(kind: str, group: int, days: list[date]) -> set[date]:
    """The days a rotation group is in, before leave and illness."""
    result = set()
    for day in days:
        week, weekday = (day - FIRST_MONDAY).days // 7, day.weekday()
        if (
            (kind == "ab" and week % 2 == group)
            or (kind == "alternate" and (weekday + week) % 2 == group)
            or (kind == "cycle3" and week % 3 == group)
            or (kind == "weekdays" and weekday in FIXED_WEEKDAYS[group])
            or kind == "every_day"
        ):
            result.add(day)
    return result


def build_city(people: int, rooms: int, weeks: int, seed: int) -> City:
    """The synthetic city: rooms by unit and building, people with their office days."""
    rng = random.Random(seed)
    days = working_days(weeks)
    units = list(range(1, UNITS + 1))
    # units of different sizes, six to a building; rooms follow the sizes only roughly,
    # so that some units must overflow into shared rooms or other units' rooms
    size = {unit: rng.uniform(0.4, 2.0) for unit in units}
    building_of = {unit: BUILDINGS[(unit - 1) % len(BUILDINGS)] for unit in units}
    weights = [size[unit] for unit in units]

    slots = []
    for room_id in range(1, rooms + 1):
        shared = rng.random() < 0.15
        unit = None if shared else rng.choices(units, weights)[0]
        building = rng.choice(BUILDINGS) if unit is None else building_of[unit]
        capacity = rng.choices([1, 2, 0], [0.90, 0.08, 0.02])[0]
        unit_ids = frozenset() if unit is None else frozenset({unit})
        slots.append(RoomSlot(room_id, building, unit_ids, capacity, rng.random() < 0.08))

    kinds, shares = zip(*ROTATIONS, strict=True)
    groups = {"ab": 2, "alternate": 2, "cycle3": 3, "weekdays": len(FIXED_WEEKDAYS)}
    attendees = []
    for person_id in range(1, people + 1):
        unit = rng.choices(units, weights)[0]
        kind = rng.choices(kinds, shares)[0]
        group = rng.randrange(groups.get(kind, 1))
        present = office_days(kind, group, days)
        # planned leave: about six weeks a year in blocks of one or two weeks
        for _ in range(round(4 * weeks / 52)):
            start = FIRST_MONDAY + timedelta(weeks=rng.randrange(weeks))
            length = rng.choice([7, 14])
            present -= {start + timedelta(days=offset) for offset in range(length)}
        # illness; sorted, because dates hash differently in every process
        present = {day for day in sorted(present) if rng.random() >= 0.03}
        attendees.append(
            Attendee(
                id=person_id,
                unit_id=unit,
                building=building_of[unit],
                needs_step_free=rng.random() < 0.03,
                group=10 * kinds.index(kind) + group,
                days=frozenset(present),
            )
        )
    return City(slots, attendees, days)


PLANNERS: dict[str, Callable[[City], Allocation]] = {
    "allocator": lambda city: allocate(city.attendees, city.rooms, city.days),
    "greedy": lambda city: greedy_first_fit(city.attendees, city.rooms, city.days),
    "optimum": lambda city: allocate(city.attendees, city.rooms, city.days, home_rooms=False),
}


def check(city: City, result: Allocation) -> list[str]:
    """Broken hard limits, if any: a benchmark of a wrong plan would mean nothing."""
    rooms = {room.id: room for room in city.rooms}
    people = {person.id: person for person in city.attendees}
    problems = []
    for day, allocation in result.by_day.items():
        for room_id, count in Counter(allocation.placed.values()).items():
            if count > rooms[room_id].capacity:
                problems.append(f"{day}: room {room_id} holds {count}")
        for person_id, room_id in allocation.placed.items():
            if people[person_id].needs_step_free and not rooms[room_id].step_free:
                problems.append(f"{day}: person {person_id} without step-free access")
    return problems


def measure(name: str, city: City) -> tuple[dict[str, Any], Allocation]:
    """Plan the year with one allocator: a timed run, then a traced run for memory."""
    plan = PLANNERS[name]
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = plan(city)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    traced = plan(city)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    del traced

    people = {person.id: person for person in city.attendees}
    unplaced = result.unplaced_person_days()
    months = len(city.days) / (5 * 52 / 12)  # working days per month, holidays aside
    changes = sum(result.room_changes_by_person().values())
    figures = {
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_mb": round(peak / 1e6, 2),
        "room_changes_per_person_month": round(changes / len(city.attendees) / months, 3),
        "unplaced_person_days": len(unplaced),
        "unplaced_step_free_person_days": sum(
            1 for _, person_id in unplaced if people[person_id].needs_step_free
        ),
        "home_rooms": len(result.home),
        "moved_from_home_person_days": sum(
            len(allocation.moved_from_home) for allocation in result.by_day.values()
        ),
        "valid": not check(city, result),
    }
    return figures, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--rooms", type=int, default=1200)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--seed", type=int, default=20260105)
    args = parser.parse_args()

    started = time.perf_counter()
    city = build_city(args.people, args.rooms, args.weeks, args.seed)
    slots = sum(room.capacity for room in city.rooms)
    present = Counter(day for person in city.attendees for day in person.days)
    demand = [present[day] for day in city.days]
    over = sum(1 for count in demand if count > slots)
    print(
        f"city: {len(city.attendees)} people, {len(city.rooms)} rooms ({slots} slots), "
        f"{len(city.days)} days over {args.weeks} weeks; present per day "
        f"min {min(demand, default=0)}, mean {sum(demand) / max(len(demand), 1):.0f}, "
        f"max {max(demand, default=0)}; {over} days with more people than slots; "
        f"{sum(p.needs_step_free for p in city.attendees)} need step-free access, "
        f"{sum(r.step_free and r.capacity > 0 for r in city.rooms)} step-free rooms"
    )

    figures: dict[str, dict[str, Any]] = {}
    for name in VARIANTS:
        figures[name], _ = measure(name, city)
        f = figures[name]
        print(
            f"{name:>9}: {f['seconds']:7.2f} s ({f['cpu_seconds']:.2f} s CPU), "
            f"peak {f['peak_mb']:6.1f} MB, "
            f"{f['room_changes_per_person_month']:5.2f} room changes per person and month, "
            f"{f['unplaced_person_days']:5d} unplaced person-days "
            f"({f['unplaced_step_free_person_days']} of them step-free), "
            f"{f['home_rooms']} home rooms, "
            f"{f['moved_from_home_person_days']} person-days away from home"
            + ("" if f["valid"] else " -- HARD LIMITS BROKEN")
        )
    optimal = (
        figures["allocator"]["unplaced_person_days"] == figures["optimum"]["unplaced_person_days"]
    )
    print(f"allocator places the optimum: {optimal}")

    summary: dict[str, Any] = {
        "people": len(city.attendees),
        "rooms": len(city.rooms),
        "slots": slots,
        "weeks": args.weeks,
        "days": len(city.days),
        "present_mean": round(sum(demand) / max(len(demand), 1), 1),
        "present_max": max(demand, default=0),
        "days_over_capacity": over,
    }
    for name in VARIANTS:
        summary.update({f"{name}_{key}": value for key, value in figures[name].items()})
    summary["optimal"] = optimal
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, ensure_ascii=False))
    valid = all(figures[name]["valid"] for name in VARIANTS)
    return 0 if valid and optimal else 1


if __name__ == "__main__":
    sys.exit(main())
