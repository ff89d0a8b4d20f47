"""The presence plan (Präsenzplan): who is in the office on which day.

A pure module: frozen dataclasses in, plain results out; no Flask, no database and no
other homeoffice module, so the rules can be read and tested on their own. The service
layer loads the rows and calls these functions; nothing of the plan is stored.

One day of one person is decided by the first rule that applies:

1. a public holiday, then a weekend: nobody is in the office, and no override changes
   that (opening the office on a holiday is not something a plan can decide).
2. an absence (leave, illness, training): absent. An absence wins over an override
   because it is a fact, not a plan: an illness reported after a confirmed swap must
   not keep the person in the office plan, or the staffing gap would go unnoticed.
3. an override: a supervisor's decision or one half of a confirmed swap.
4. no home office agreement (Dienstvereinbarung) in force: office, the usual place of
   work; home office needs an agreement.
5. a fixed weekday of an agreement in force: home.
6. no rotation in force yet, or a rotation of kind "none": office.
7. no rotation group, or a group the rotation does not have (say group C after a change
   to two groups): office, until the supervisor assigns a group.
8. the rotation: the person's group is in the office or at home. A share-of-week or an
   alternating agreement has no days of its own: the rotation realises the share, and
   the person simply follows their group.

Rotations and group memberships are histories: the entry in force on a day is the one
with the latest ``valid_from`` on or before it. Past days are derived from the same rows
as before, so a new pattern or a group change only affects days from its ``valid_from``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import combinations, product
from typing import Literal, NamedTuple, Protocol, TypeVar, get_args

from holidays import country_holidays

PersonId = int
RotationKind = Literal["weekly", "daily", "cycle", "fixed", "none"]
DayKind = Literal["office", "home", "absent", "holiday", "weekend"]

ROTATION_KINDS: frozenset[str] = frozenset(get_args(RotationKind))
#: ISO weekdays (1 = Monday … 5 = Friday) on which the office is open
WORKING_WEEKDAYS = frozenset(range(1, 6))
#: Nordrhein-Westfalen, where the administration is
DEFAULT_STATE = "NW"

OFFICE: DayKind = "office"
HOME: DayKind = "home"
ABSENT: DayKind = "absent"
HOLIDAY: DayKind = "holiday"
WEEKEND: DayKind = "weekend"

# Reasons are a fixed vocabulary (message ids for the templates), the details such as
# the group or the holiday's name travel in their own fields of DayStatus.
REASON_HOLIDAY = "public holiday"
REASON_WEEKEND = "weekend"
REASON_ABSENCE = "absence"
REASON_OVERRIDE = "override"
REASON_SWAP = "swap"
REASON_NO_AGREEMENT = "no agreement"
REASON_AGREEMENT_WEEKDAY = "agreement weekday"
REASON_NO_ROTATION = "no rotation"
REASON_NO_GROUP = "no group"
REASON_ROTATION = "rotation"


def group_label(group: int) -> str:
    """The group's letter as people say it: 0 → "A", 1 → "B", …"""
    return chr(ord("A") + group) if 0 <= group < 26 else str(group)


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """A unit's rotation pattern (Wechselmodell), in force from ``valid_from`` on.

    - ``weekly``: group ``w % groups`` is in the office all week ``w``, where ``w`` counts
      weeks from the ISO week of ``valid_from`` (not the ISO week number, whose parity
      breaks in years with 53 weeks).
    - ``daily``: day ``k`` of week ``w`` (Monday = 0) goes to group ``(k + w) % groups``;
      with two groups A has Mon/Wed/Fri and B Tue/Thu, swapped the week after.
    - ``cycle``: the ``n``-th working day since ``valid_from`` goes to group
      ``n % groups``. Public holidays are skipped rather than counted, so a holiday only
      moves the cycle on by a day and no group loses its turn.
    - ``fixed``: ``office_weekdays[g]`` are the ISO weekdays group ``g`` is in the office.
    - ``none``: everybody is in the office on every working day; ``groups`` is ignored.
    """

    kind: RotationKind
    groups: int
    valid_from: date
    #: for "fixed" only: group → ISO weekdays (1 = Monday … 5 = Friday) in the office
    office_weekdays: Mapping[int, frozenset[int]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in ROTATION_KINDS:
            raise ValueError(f"unknown rotation kind {self.kind!r}")
        if self.kind != "none" and self.groups < 1:
            raise ValueError("a rotation needs at least one group")
        if self.kind != "fixed" and self.office_weekdays:
            raise ValueError("office weekdays belong to a rotation of kind 'fixed'")
        for group, weekdays in self.office_weekdays.items():
            if not 0 <= group < self.groups:
                raise ValueError(f"group {group} is not one of the {self.groups} groups")
            if not set(weekdays) <= WORKING_WEEKDAYS:
                raise ValueError("office weekdays must be ISO weekdays 1 (Mon) … 5 (Fri)")


#: a unit's rotations in order of ``valid_from``
RotationHistory = list[Rotation]


@dataclass(frozen=True)
class Membership:
    """A person's rotation group (0 = A, 1 = B, …) from ``valid_from`` on."""

    person_id: PersonId
    group: int
    valid_from: date

    def __post_init__(self) -> None:
        if self.group < 0:
            raise ValueError("a group is a number from 0 (A) on")


@dataclass(frozen=True)
class HomeOfficeTerms:
    """The terms of one home office agreement that matter for presence.

    ``weekdays`` are fixed home days; a ``share_percent`` or ``alternating`` agreement
    leaves the choice of days to the rotation.
    """

    start: date
    end: date | None
    weekdays: frozenset[int] | None
    share_percent: int | None
    alternating: bool

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError("an agreement cannot end before it starts")
        if self.weekdays and not set(self.weekdays) <= WORKING_WEEKDAYS:
            raise ValueError("agreement weekdays must be ISO weekdays 1 (Mon) … 5 (Fri)")

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Absence:
    """Leave, illness or training from ``start`` to ``end``, both inclusive.

    Deliberately without the kind: colleagues see "absent", not why.
    """

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("an absence cannot end before it starts")

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class DayOverride:
    """One day in or out of the office against the plan.

    ``reason`` is ``"override"`` (a supervisor's decision) or ``"swap"`` (one half of a
    confirmed swap); it is shown as the day's reason.
    """

    person_id: PersonId
    day: date
    in_office: bool
    reason: str = REASON_OVERRIDE


@dataclass(frozen=True)
class PersonInputs:
    """Everything about one person that the plan of a unit needs."""

    memberships: Sequence[Membership] = ()
    terms: Sequence[HomeOfficeTerms] = ()
    absences: Sequence[Absence] = ()
    overrides: Sequence[DayOverride] = ()


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DayStatus:
    """Where a person is on one day, and why."""

    kind: DayKind
    #: one of the REASON_* message ids
    reason: str
    #: the rotation group that decided the day, if one did
    group: int | None = None
    #: the public holiday's name, on holidays
    holiday: str | None = None

    @property
    def label(self) -> str:
        """The reason as shown in the plan, e.g. "rotation group B" or "Karfreitag"."""
        if self.holiday is not None:
            return self.holiday
        if self.group is not None:
            return f"{self.reason} group {group_label(self.group)}"
        return self.reason


@dataclass(frozen=True)
class Gap:
    """A working day with fewer people in the office than the unit's minimum."""

    day: date
    present: int
    #: how many more people are needed
    missing: int
    #: people of the unit at home that day (not absent) who could come in, sorted
    candidates: tuple[PersonId, ...]


@dataclass(frozen=True)
class Proposal:
    """Groups proposed for a unit, and the working days that still fall short."""

    assignment: dict[PersonId, int]
    short_days: tuple[date, ...]


# --- the calendar ------------------------------------------------------------------------


def public_holidays(state: str, start: date, end: date, *, language: str = "de") -> dict[date, str]:
    """Public holidays of a German state (``"NW"``, ``"BE"``, …) from start to end.

    Names are German by default because they are shown as they appear on calendars here.
    """
    _check_range(start, end)
    calendar = country_holidays(
        "DE", subdiv=state, years=range(start.year, end.year + 1), language=language
    )
    return {day: name for day, name in sorted(calendar.items()) if start <= day <= end}


def holiday_span(rotations: Sequence[Rotation], *, start: date, end: date) -> tuple[date, date]:
    """The days the holiday mapping must cover to plan ``start`` … ``end``.

    A cycle counts working days from its ``valid_from``, so planning March needs the
    holidays since the cycle began; with a shorter mapping the cycle would drift and
    the same day would look different depending on the range asked for.
    """
    first = start
    for rotation in rotations:
        if rotation.kind == "cycle" and rotation.valid_from <= end:
            first = min(first, rotation.valid_from)
    return first, end


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _is_working_day(day: date, holidays: Mapping[date, str]) -> bool:
    return day.isoweekday() in WORKING_WEEKDAYS and day not in holidays


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_index(rotation: Rotation, day: date) -> int:
    """Weeks since the ISO week of ``valid_from``; counting, not the week number, keeps
    A/B alternating through a year with 53 ISO weeks."""
    return (_monday(day) - _monday(rotation.valid_from)).days // 7


def _working_days_between(first: date, stop: date, holidays: Mapping[date, str]) -> int:
    """Working days from ``first`` up to, not including, ``stop``."""
    full_weeks, rest = divmod((stop - first).days, 7)
    weekdays = full_weeks * 5 + sum(1 for i in range(rest) if (first.weekday() + i) % 7 < 5)
    closed = sum(1 for day in holidays if first <= day < stop and day.weekday() < 5)
    return weekdays - closed


def _office_groups(rotation: Rotation, day: date, holidays: Mapping[date, str]) -> frozenset[int]:
    """The groups of a rotation in the office on a working day on or after valid_from."""
    if rotation.kind == "weekly":
        return frozenset({_week_index(rotation, day) % rotation.groups})
    if rotation.kind == "daily":
        return frozenset({(day.weekday() + _week_index(rotation, day)) % rotation.groups})
    if rotation.kind == "cycle":
        return frozenset(
            {_working_days_between(rotation.valid_from, day, holidays) % rotation.groups}
        )
    if rotation.kind == "fixed":
        return frozenset(
            group
            for group, weekdays in rotation.office_weekdays.items()
            if day.isoweekday() in weekdays
        )
    return frozenset(range(rotation.groups))


class _Dated(Protocol):
    @property
    def valid_from(self) -> date: ...


_D = TypeVar("_D", bound=_Dated)


def _history(entries: Sequence[_D]) -> list[_D]:
    # A stable sort: of two entries from the same day the later one in the list wins.
    return sorted(entries, key=lambda entry: entry.valid_from)


def _in_force(history: Sequence[_D], day: date) -> _D | None:
    current = None
    for entry in history:
        if entry.valid_from > day:
            break
        current = entry
    return current


class _UnitDay(NamedTuple):
    """What a day is for everybody in the unit."""

    day: date
    holiday: str | None
    rotation: Rotation | None
    office_groups: frozenset[int]


def _unit_days(
    start: date, end: date, rotations: Sequence[Rotation], holidays: Mapping[date, str]
) -> list[_UnitDay]:
    _check_range(start, end)
    history = _history(rotations)
    days = []
    for day in _days(start, end):
        rotation = _in_force(history, day)
        groups: frozenset[int] = frozenset()
        if rotation is not None and _is_working_day(day, holidays):
            groups = _office_groups(rotation, day, holidays)
        days.append(_UnitDay(day, holidays.get(day), rotation, groups))
    return days


# --- one person --------------------------------------------------------------------------


def _person_days(
    person_id: PersonId,
    unit_days: Sequence[_UnitDay],
    *,
    memberships: Sequence[Membership],
    terms: Sequence[HomeOfficeTerms],
    absences: Sequence[Absence],
    overrides: Sequence[DayOverride],
) -> dict[date, DayStatus]:
    groups = _history([m for m in memberships if m.person_id == person_id])
    # Later overrides of the same day win; the database keeps one per person and day.
    overridden = {o.day: o for o in overrides if o.person_id == person_id}
    statuses = {}
    for unit_day in unit_days:
        statuses[unit_day.day] = _decide(
            unit_day,
            membership=_in_force(groups, unit_day.day),
            terms=[t for t in terms if t.covers(unit_day.day)],
            absent=any(a.covers(unit_day.day) for a in absences),
            override=overridden.get(unit_day.day),
        )
    return statuses


def _decide(
    unit_day: _UnitDay,
    *,
    membership: Membership | None,
    terms: Sequence[HomeOfficeTerms],
    absent: bool,
    override: DayOverride | None,
) -> DayStatus:
    """One person's day, by the rules in the module's docstring, in that order."""
    day, rotation = unit_day.day, unit_day.rotation
    if unit_day.holiday is not None:
        return DayStatus(HOLIDAY, REASON_HOLIDAY, holiday=unit_day.holiday)
    if day.isoweekday() not in WORKING_WEEKDAYS:
        return DayStatus(WEEKEND, REASON_WEEKEND)
    if absent:
        return DayStatus(ABSENT, REASON_ABSENCE)
    if override is not None:
        return DayStatus(OFFICE if override.in_office else HOME, override.reason)
    if not terms:
        return DayStatus(OFFICE, REASON_NO_AGREEMENT)
    if any(t.weekdays and day.isoweekday() in t.weekdays for t in terms):
        return DayStatus(HOME, REASON_AGREEMENT_WEEKDAY)
    if rotation is None or rotation.kind == "none":
        return DayStatus(OFFICE, REASON_NO_ROTATION)
    if membership is None or membership.group >= rotation.groups:
        return DayStatus(OFFICE, REASON_NO_GROUP)
    in_office = membership.group in unit_day.office_groups
    return DayStatus(OFFICE if in_office else HOME, REASON_ROTATION, group=membership.group)


def office_days(
    person_id: PersonId,
    *,
    start: date,
    end: date,
    rotations: Sequence[Rotation],
    memberships: Sequence[Membership],
    terms: Sequence[HomeOfficeTerms],
    absences: Sequence[Absence],
    overrides: Sequence[DayOverride],
    holidays: Mapping[date, str],
) -> dict[date, DayStatus]:
    """Every day from start to end (inclusive) for one person, weekends included.

    ``memberships`` and ``overrides`` may be the whole unit's: only the person's own
    are used. ``holidays`` must cover :func:`holiday_span` when a cycle is involved.
    """
    return _person_days(
        person_id,
        _unit_days(start, end, rotations, holidays),
        memberships=memberships,
        terms=terms,
        absences=absences,
        overrides=overrides,
    )


# --- a unit ------------------------------------------------------------------------------


def unit_statuses(
    people: Mapping[PersonId, PersonInputs],
    *,
    start: date,
    end: date,
    rotations: Sequence[Rotation],
    holidays: Mapping[date, str],
) -> dict[date, dict[PersonId, DayStatus]]:
    """Everybody's status on each working day from start to end.

    Weekends and public holidays are left out: nobody works on them, and a staffing
    check must not report them as gaps.
    """
    unit_days = [
        unit_day
        for unit_day in _unit_days(start, end, rotations, holidays)
        if _is_working_day(unit_day.day, holidays)
    ]
    by_day: dict[date, dict[PersonId, DayStatus]] = {u.day: {} for u in unit_days}
    for person_id, inputs in people.items():
        days = _person_days(
            person_id,
            unit_days,
            memberships=inputs.memberships,
            terms=inputs.terms,
            absences=inputs.absences,
            overrides=inputs.overrides,
        )
        for day, status in days.items():
            by_day[day][person_id] = status
    return by_day


def people_by_kind(
    statuses: Mapping[date, Mapping[PersonId, DayStatus]], kind: DayKind
) -> dict[date, set[PersonId]]:
    """Who is of the given kind per day, e.g. ``HOME`` for the candidates of a gap."""
    return {
        day: {person_id for person_id, status in day_statuses.items() if status.kind == kind}
        for day, day_statuses in statuses.items()
    }


def unit_plan(
    people: Mapping[PersonId, PersonInputs],
    *,
    start: date,
    end: date,
    rotations: Sequence[Rotation],
    holidays: Mapping[date, str],
) -> dict[date, set[PersonId]]:
    """Who is in the office on each working day from start to end."""
    statuses = unit_statuses(people, start=start, end=end, rotations=rotations, holidays=holidays)
    return people_by_kind(statuses, OFFICE)


def staffing_gaps(
    plan_by_day: Mapping[date, set[PersonId]],
    *,
    min_present: int,
    candidates_by_day: Mapping[date, set[PersonId]],
) -> list[Gap]:
    """Days of the plan with fewer than ``min_present`` in the office, in order of day.

    ``candidates_by_day`` are the people at home per day (``people_by_kind(…, HOME)``):
    absent people and holidays are already out of it, so whoever is listed could come in.
    """
    if min_present < 0:
        raise ValueError("the minimum staffing cannot be negative")
    gaps = []
    for day in sorted(plan_by_day):
        present = plan_by_day[day]
        if len(present) < min_present:
            candidates = tuple(sorted(candidates_by_day.get(day, set()) - present))
            gaps.append(Gap(day, len(present), min_present - len(present), candidates))
    return gaps


def swap_is_valid(
    a_days: Mapping[date, DayStatus],
    b_days: Mapping[date, DayStatus],
    a_office_day: date,
    b_office_day: date,
) -> bool:
    """Whether A may give B the office day ``a_office_day`` for B's ``b_office_day``.

    A must be in the office on the first day and at home on the second, B the other way
    round. Office and home only exist on working days without absence, so holidays,
    weekends and absences are refused by the same check. The count in the office stays
    the same on both days, so a valid swap never opens a staffing gap. Whether A and B
    belong to the same unit is for the caller, who knows the units.
    """
    if a_office_day == b_office_day:
        return False

    def kind(days: Mapping[date, DayStatus], day: date) -> str | None:
        status = days.get(day)
        return status.kind if status is not None else None

    return (
        kind(a_days, a_office_day) == OFFICE
        and kind(a_days, b_office_day) == HOME
        and kind(b_days, a_office_day) == HOME
        and kind(b_days, b_office_day) == OFFICE
    )


# --- proposing groups --------------------------------------------------------------------


class _Draft(NamedTuple):
    """A candidate grouping: group sizes and the groups of people with fixed home days.

    People without fixed home days are interchangeable for staffing, so only how many of
    them each group gets matters; they are named at the end.
    """

    sizes: tuple[int, ...]
    fixed: tuple[tuple[PersonId, int], ...]


def propose_groups(
    people: Sequence[PersonId],
    *,
    groups: int,
    rotation: Rotation,
    fixed_home_weekdays: Mapping[PersonId, frozenset[int]],
    min_present: int,
    horizon: tuple[date, date],
    holidays: Mapping[date, str],
) -> Proposal:
    """Rotation groups for a unit: sizes differ by at most one, and people with fixed
    home weekdays are spread so that every working day keeps ``min_present`` if possible.

    Deterministic: the result depends on the set of people, not their order. A unit
    with few fixed home days (up to ``_EXACT_LIMIT`` groupings) gets the best grouping
    of all; a larger one a greedy placement (most home days first), improved by moving
    and exchanging people until nothing improves, which may miss the best by a few days.
    ``short_days`` are always those of the returned groups.
    Absences are not considered: groups outlast any leave. Days of the horizon before
    ``rotation.valid_from`` are not governed by it and are left out.
    """
    ordered = sorted(set(people))
    if len(ordered) != len(people):
        raise ValueError("each person can only be in one group")
    if groups < 1:
        raise ValueError("a rotation needs at least one group")
    if rotation.kind != "none" and rotation.groups != groups:
        raise ValueError(f"the rotation has {rotation.groups} groups, not {groups}")
    if min_present < 0:
        raise ValueError("the minimum staffing cannot be negative")
    start, end = horizon
    _check_range(start, end)

    # Days with the same groups in the office on the same weekday are staffed alike, so
    # each pattern is scored once, weighted by its number of days.
    patterns: dict[tuple[frozenset[int], int], list[date]] = {}
    for day in _days(max(start, rotation.valid_from), end):
        if _is_working_day(day, holidays):
            office = (
                frozenset(range(groups))
                if rotation.kind == "none"
                else _office_groups(rotation, day, holidays)
            )
            patterns.setdefault((office, day.isoweekday()), []).append(day)

    home = {
        person_id: frozenset(fixed_home_weekdays[person_id])
        for person_id in ordered
        if fixed_home_weekdays.get(person_id)
    }

    def present(draft: _Draft) -> dict[tuple[frozenset[int], int], int]:
        away = Counter((group, wd) for p, group in draft.fixed for wd in home[p])
        return {
            (office, wd): sum(draft.sizes[g] - away[g, wd] for g in office)
            for office, wd in patterns
        }

    def score(draft: _Draft) -> tuple[int, int, int]:
        # Fewest short days first, then the smallest shortfall, then the widest margin.
        short = shortfall = 0
        lowest = None
        for pattern, count in present(draft).items():
            if count < min_present:
                short += len(patterns[pattern])
                shortfall += (min_present - count) * len(patterns[pattern])
            lowest = count if lowest is None else min(lowest, count)
        return short, shortfall, -(lowest or 0)

    fixed_people = sorted(home, key=lambda p: (-len(home[p]), p))
    if math.comb(groups, len(ordered) % groups) * groups ** len(fixed_people) <= _EXACT_LIMIT:
        # min() keeps the first of equals, and the drafts come in a fixed order.
        draft = min(_all_drafts(len(ordered), groups, fixed_people), key=score)
    else:
        draft = _improve(_greedy(len(ordered), groups, fixed_people, score), score)

    assignment = dict(draft.fixed)
    flexible = iter(p for p in ordered if p not in home)
    taken = Counter(assignment.values())
    for group, size in enumerate(draft.sizes):
        for _ in range(size - taken[group]):
            assignment[next(flexible)] = group
    counts = present(draft)
    short_days = sorted(
        day for pattern, days in patterns.items() if counts[pattern] < min_present for day in days
    )
    return Proposal(dict(sorted(assignment.items())), tuple(short_days))


#: up to this many groupings are all tried; beyond, the search is local
_EXACT_LIMIT = 4096


def _balanced_sizes(people: int, groups: int) -> Iterator[tuple[int, ...]]:
    """Every way to make group sizes that differ by at most one."""
    base, extra = divmod(people, groups)
    for larger in combinations(range(groups), extra):
        yield tuple(base + (g in larger) for g in range(groups))


def _all_drafts(people: int, groups: int, fixed_people: Sequence[PersonId]) -> Iterator[_Draft]:
    """Every balanced grouping, for units small enough to try them all."""
    for sizes in _balanced_sizes(people, groups):
        for placement in product(range(groups), repeat=len(fixed_people)):
            taken = Counter(placement)
            if all(taken[g] <= sizes[g] for g in range(groups)):
                yield _Draft(sizes, tuple(zip(fixed_people, placement, strict=True)))


def _greedy(
    people: int,
    groups: int,
    fixed_people: Sequence[PersonId],
    score: Callable[[_Draft], tuple[int, ...]],
) -> _Draft:
    """Place people with fixed home days one by one where they hurt staffing least."""
    draft = _Draft(next(_balanced_sizes(people, groups)), ())
    for person_id in fixed_people:
        taken = Counter(group for _, group in draft.fixed)
        options = [
            _Draft(draft.sizes, (*draft.fixed, (person_id, g)))
            for g in range(groups)
            if taken[g] < draft.sizes[g]
        ]
        draft = min(options, key=score)
    return draft


def _improve(draft: _Draft, score: Callable[[_Draft], tuple[int, ...]]) -> _Draft:
    """Take the best step to a neighbouring grouping until no step improves the score."""
    best = score(draft)
    while True:
        better = [(s, n) for n in _neighbours(draft) if (s := score(n)) < best]
        if not better:
            return draft
        # min() keeps the first of equals, and the neighbours come in a fixed order.
        best, draft = min(better, key=lambda c: c[0])


def _neighbours(draft: _Draft) -> Iterator[_Draft]:
    """Groupings one step away that keep the sizes within one of each other."""
    sizes, fixed = draft.sizes, dict(draft.fixed)
    taken = Counter(fixed.values())

    def moved(frm: int, to: int) -> tuple[int, ...]:
        return tuple(s - (g == frm) + (g == to) for g, s in enumerate(sizes))

    for person_id, group in fixed.items():
        for other in range(len(sizes)):
            if other == group:
                continue
            placed = tuple({**fixed, person_id: other}.items())
            if sizes[other] > taken[other]:
                # A colleague without fixed days changes places with the person.
                yield _Draft(sizes, placed)
            if sizes[group] > sizes[other]:
                # The person takes the larger group's extra place along.
                yield _Draft(moved(group, other), placed)
    for (p, g), (q, h) in combinations(fixed.items(), 2):
        if g != h:
            yield _Draft(sizes, tuple({**fixed, p: h, q: g}.items()))
    for group, other in combinations(range(len(sizes)), 2):
        for frm, to in ((group, other), (other, group)):
            if sizes[frm] > sizes[to] and sizes[frm] > taken[frm]:
                yield _Draft(moved(frm, to), draft.fixed)
        # Two whole groups exchange their turns: a single move rarely gets there, as
        # every step on the way may be worse.
        relabel = {group: other, other: group}
        yield _Draft(
            tuple(sizes[relabel.get(g, g)] for g in range(len(sizes))),
            tuple((p, relabel.get(g, g)) for p, g in draft.fixed),
        )
