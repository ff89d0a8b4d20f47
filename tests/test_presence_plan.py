"""The presence plan on its own: rotations over whole years with the real holidays of
NRW and Berlin, histories that leave the past alone, agreements, absences, overrides,
staffing gaps, group proposals and swaps.

The plan is a pure module, so these tests need no app and no database. A few weeks of
each rotation are spelled out day by day; whole years are checked by counts that were
worked out independently of the module (by walking the calendar week by week).
"""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

import pytest

from homeoffice.presence.plan import (
    ABSENT,
    HOLIDAY,
    HOME,
    OFFICE,
    WEEKEND,
    Absence,
    DayOverride,
    DayStatus,
    Gap,
    HomeOfficeTerms,
    Membership,
    PersonInputs,
    Rotation,
    holiday_span,
    office_days,
    people_by_kind,
    propose_groups,
    public_holidays,
    staffing_gaps,
    swap_is_valid,
    unit_plan,
    unit_statuses,
)

NRW = public_holidays("NW", date(2025, 1, 1), date(2027, 12, 31))
BERLIN = public_holidays("BE", date(2025, 1, 1), date(2027, 12, 31))
#: a share-of-week agreement without an end: the person follows their group
SHARE = HomeOfficeTerms(
    start=date(2025, 1, 1), end=None, weekdays=None, share_percent=40, alternating=False
)
ME = 1
A, B, C = 0, 1, 2
#: Monday of ISO week 2 of 2026, the first full week of the year
JAN_5 = date(2026, 1, 5)


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(*texts: str) -> list[date]:
    return [d(text) for text in texts]


def span(first: str, last: str) -> list[date]:
    """Every day from first to last, inclusive."""
    start, end = d(first), d(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def plan(
    rotations: list[Rotation],
    *,
    start: date,
    end: date,
    group: int | None = A,
    memberships: list[Membership] | None = None,
    terms: tuple[HomeOfficeTerms, ...] = (SHARE,),
    absences: tuple[Absence, ...] = (),
    overrides: tuple[DayOverride, ...] = (),
    holidays: dict[date, str] = NRW,
) -> dict[date, DayStatus]:
    """One person's days; by default in group A since 2025 with a share agreement."""
    if memberships is None:
        memberships = [] if group is None else [Membership(ME, group, date(2025, 1, 1))]
    return office_days(
        ME,
        start=start,
        end=end,
        rotations=rotations,
        memberships=memberships,
        terms=list(terms),
        absences=list(absences),
        overrides=list(overrides),
        holidays=holidays,
    )


def of_kind(statuses: dict[date, DayStatus], kind: str) -> list[date]:
    return sorted(day for day, status in statuses.items() if status.kind == kind)


def office_count(rotation: Rotation, group: int, *, end: date, holidays=NRW) -> int:
    statuses = plan([rotation], start=rotation.valid_from, end=end, group=group, holidays=holidays)
    return len(of_kind(statuses, OFFICE))


# --- the calendar --------------------------------------------------------------------------


def test_public_holidays_of_nrw_and_berlin_differ():
    nrw = public_holidays("NW", d("2026-01-01"), d("2026-12-31"))
    berlin = public_holidays("BE", d("2026-01-01"), d("2026-12-31"))
    assert nrw[d("2026-04-03")] == "Karfreitag"
    assert nrw[d("2026-06-04")] == "Fronleichnam"
    assert d("2026-11-01") in nrw  # Allerheiligen
    assert d("2026-06-04") not in berlin
    assert d("2026-03-08") in berlin and d("2026-03-08") not in nrw  # Frauentag
    assert (len(nrw), len(berlin)) == (11, 10)
    assert public_holidays("NW", d("2026-04-01"), d("2026-04-30")) == {
        d("2026-04-03"): "Karfreitag",
        d("2026-04-06"): "Ostermontag",
    }


def test_holidays_and_weekends_have_their_own_status():
    statuses = plan([Rotation("none", 1, JAN_5)], start=d("2026-04-02"), end=d("2026-04-07"))
    assert [(s.kind, s.label) for s in statuses.values()] == [
        (OFFICE, "no rotation"),
        (HOLIDAY, "Karfreitag"),
        (WEEKEND, "weekend"),
        (WEEKEND, "weekend"),
        (HOLIDAY, "Ostermontag"),
        (OFFICE, "no rotation"),
    ]


# --- weekly --------------------------------------------------------------------------------


def test_weekly_first_weeks_day_by_day():
    weekly = Rotation("weekly", 2, JAN_5)
    statuses = plan([weekly], start=d("2026-01-01"), end=d("2026-02-01"))
    # 1 January is Neujahr; 2 January comes before the rotation and is an office day.
    assert statuses[d("2026-01-01")].kind == HOLIDAY
    assert statuses[d("2026-01-02")] == DayStatus(OFFICE, "no rotation")
    assert of_kind(statuses, OFFICE) == [
        d("2026-01-02"),
        *span("2026-01-05", "2026-01-09"),
        *span("2026-01-19", "2026-01-23"),
    ]
    assert of_kind(statuses, HOME) == [
        *span("2026-01-12", "2026-01-16"),
        *span("2026-01-26", "2026-01-30"),
    ]
    assert statuses[d("2026-01-12")].label == "rotation group A"
    group_b = plan([weekly], start=d("2026-01-05"), end=d("2026-02-01"), group=B)
    assert of_kind(group_b, OFFICE) == [
        *span("2026-01-12", "2026-01-16"),
        *span("2026-01-26", "2026-01-30"),
    ]


def test_weekly_keeps_alternating_through_a_year_with_53_iso_weeks():
    weekly = Rotation("weekly", 2, JAN_5)
    # Week 53 of 2026 and week 1 of 2027 are both odd: ISO parity would repeat a group.
    assert d("2026-12-28").isocalendar().week == 53
    assert d("2027-01-04").isocalendar().week == 1
    statuses = plan([weekly], start=d("2026-12-21"), end=d("2027-01-17"))
    assert of_kind(statuses, OFFICE) == [
        *span("2026-12-21", "2026-12-24"),  # the 25th is Christmas
        *span("2027-01-04", "2027-01-08"),
    ]
    group_b = plan([weekly], start=d("2026-12-21"), end=d("2027-01-17"), group=B)
    assert of_kind(group_b, OFFICE) == [
        *span("2026-12-28", "2026-12-31"),  # 1 January 2027 is Neujahr
        *span("2027-01-11", "2027-01-15"),
    ]
    # Every week to the end of 2027: all working days alike, and the next week the other.
    long = plan([weekly], start=JAN_5, end=d("2027-12-31"))
    weeks: dict[date, set[str]] = {}
    for day, status in long.items():
        if status.kind in (OFFICE, HOME):
            weeks.setdefault(day - timedelta(days=day.weekday()), set()).add(status.kind)
    assert len(weeks) == 104  # weeks 2 to 53 of 2026 and 1 to 52 of 2027
    assert all(len(kinds) == 1 for kinds in weeks.values())
    kinds = [kinds.pop() for _, kinds in sorted(weeks.items())]
    assert all(this != following for this, following in itertools.pairwise(kinds))


@pytest.mark.parametrize(
    ("holidays", "counts"), [(NRW, (125, 127)), (BERLIN, (125, 128))], ids=["NW", "BE"]
)
def test_weekly_counts_for_the_year(holidays, counts):
    weekly = Rotation("weekly", 2, JAN_5)
    end = d("2026-12-31")
    assert tuple(office_count(weekly, g, end=end, holidays=holidays) for g in (A, B)) == counts


# --- daily ---------------------------------------------------------------------------------


def test_daily_alternation_day_by_day_through_easter():
    daily = Rotation("daily", 2, d("2026-03-02"))
    group_a = plan([daily], start=d("2026-03-02"), end=d("2026-04-12"))
    group_b = plan([daily], start=d("2026-03-02"), end=d("2026-04-12"), group=B)
    weeks = [(d("2026-03-02"), d("2026-03-08")), (d("2026-03-09"), d("2026-03-15"))]
    first, second = ([day for day in of_kind(group_a, OFFICE) if s <= day <= e] for s, e in weeks)
    assert first == days("2026-03-02", "2026-03-04", "2026-03-06")  # A: Mon, Wed, Fri
    assert second == days("2026-03-10", "2026-03-12")  # swapped: Tue, Thu
    easter = (d("2026-03-30"), d("2026-04-12"))
    assert [day for day in of_kind(group_a, OFFICE) if easter[0] <= day <= easter[1]] == days(
        "2026-03-30", "2026-04-01", "2026-04-07", "2026-04-09"
    )
    assert [day for day in of_kind(group_b, OFFICE) if easter[0] <= day <= easter[1]] == days(
        "2026-03-31", "2026-04-02", "2026-04-08", "2026-04-10"
    )
    # Karfreitag and Ostermontag are nobody's office day.
    assert group_a[d("2026-04-03")].kind == group_b[d("2026-04-06")].kind == HOLIDAY


def test_daily_with_three_groups_moves_on_a_day_each_week():
    daily = Rotation("daily", 3, d("2026-03-02"))
    statuses = plan([daily], start=d("2026-03-02"), end=d("2026-03-22"))
    # Day k of week w goes to group (k + w) % 3.
    assert of_kind(statuses, OFFICE) == days(
        "2026-03-02", "2026-03-05", "2026-03-11", "2026-03-17", "2026-03-20"
    )


def test_daily_across_the_year_change():
    daily = Rotation("daily", 2, JAN_5)
    statuses = plan([daily], start=d("2026-12-28"), end=d("2027-01-10"))
    # Week 51 since the start is odd: A has Tue/Thu; week 52 (2027) even: Mon/Wed/Fri.
    assert of_kind(statuses, OFFICE) == days(
        "2026-12-29", "2026-12-31", "2027-01-04", "2027-01-06", "2027-01-08"
    )


@pytest.mark.parametrize(
    ("holidays", "counts"), [(NRW, (125, 127)), (BERLIN, (126, 127))], ids=["NW", "BE"]
)
def test_daily_counts_for_the_year(holidays, counts):
    daily = Rotation("daily", 2, JAN_5)
    end = d("2026-12-31")
    assert tuple(office_count(daily, g, end=end, holidays=holidays) for g in (A, B)) == counts


# --- cycle ---------------------------------------------------------------------------------


def test_cycle_skips_holidays_so_no_group_loses_its_turn():
    cycle = Rotation("cycle", 3, d("2026-03-30"))
    turns = {
        g: of_kind(plan([cycle], start=d("2026-03-30"), end=d("2026-04-10"), group=g), OFFICE)
        for g in (A, B, C)
    }
    # Karfreitag (3 April) and Ostermontag (6 April) are skipped, not counted.
    assert turns == {
        A: days("2026-03-30", "2026-04-02", "2026-04-09"),
        B: days("2026-03-31", "2026-04-07", "2026-04-10"),
        C: days("2026-04-01", "2026-04-08"),
    }


def test_cycle_follows_the_states_holidays():
    cycle = Rotation("cycle", 2, d("2026-06-01"))
    nrw = plan([cycle], start=d("2026-06-01"), end=d("2026-06-09"))
    berlin = plan([cycle], start=d("2026-06-01"), end=d("2026-06-09"), holidays=BERLIN)
    # Fronleichnam (4 June) is a holiday in NRW only; in Berlin it is B's turn.
    assert of_kind(nrw, OFFICE) == days("2026-06-01", "2026-06-03", "2026-06-08")
    assert of_kind(berlin, OFFICE) == days("2026-06-01", "2026-06-03", "2026-06-05", "2026-06-09")
    assert nrw[d("2026-06-04")].label == "Fronleichnam"


def test_cycle_across_the_year_change():
    cycle = Rotation("cycle", 3, JAN_5)
    turns = [
        of_kind(plan([cycle], start=d("2026-12-28"), end=d("2027-01-08"), group=g), OFFICE)
        for g in (A, B, C)
    ]
    # 248 working days lie between 5 January and 28 December 2026: 248 % 3 = 2, C's turn.
    assert turns == [
        days("2026-12-29", "2027-01-04", "2027-01-07"),
        days("2026-12-30", "2027-01-05", "2027-01-08"),
        days("2026-12-28", "2026-12-31", "2027-01-06"),
    ]


@pytest.mark.parametrize(
    ("holidays", "counts"), [(NRW, (84, 84, 84)), (BERLIN, (85, 84, 84))], ids=["NW", "BE"]
)
def test_cycle_counts_for_the_year(holidays, counts):
    cycle = Rotation("cycle", 3, JAN_5)
    end = d("2026-12-31")
    assert tuple(office_count(cycle, g, end=end, holidays=holidays) for g in (A, B, C)) == counts


def test_a_cycle_needs_the_holidays_since_it_began():
    cycle = Rotation("cycle", 3, d("2025-09-01"))
    first, last = holiday_span([cycle], start=d("2026-03-02"), end=d("2026-03-31"))
    assert (first, last) == (d("2025-09-01"), d("2026-03-31"))
    enough = plan(
        [cycle],
        start=d("2026-03-02"),
        end=d("2026-03-31"),
        holidays=public_holidays("NW", first, last),
    )
    assert enough == plan([cycle], start=d("2026-03-02"), end=d("2026-03-31"))
    # With the month's holidays only, four holidays since September would count as turns.
    too_few = plan(
        [cycle],
        start=d("2026-03-02"),
        end=d("2026-03-31"),
        holidays=public_holidays("NW", d("2026-03-01"), last),
    )
    assert too_few != enough


# --- fixed weekdays and none ---------------------------------------------------------------


FIXED = Rotation("fixed", 2, JAN_5, {A: frozenset({1, 2, 3}), B: frozenset({3, 4, 5})})


def test_fixed_weekdays_per_group_with_fronleichnam():
    week = (d("2026-06-01"), d("2026-06-07"))
    group_a = plan([FIXED], start=week[0], end=week[1])
    group_b = plan([FIXED], start=week[0], end=week[1], group=B)
    group_b_berlin = plan([FIXED], start=week[0], end=week[1], group=B, holidays=BERLIN)
    assert of_kind(group_a, OFFICE) == days("2026-06-01", "2026-06-02", "2026-06-03")
    assert of_kind(group_a, HOME) == days("2026-06-05")
    assert of_kind(group_b, OFFICE) == days("2026-06-03", "2026-06-05")
    assert of_kind(group_b_berlin, OFFICE) == days("2026-06-03", "2026-06-04", "2026-06-05")


@pytest.mark.parametrize(
    ("holidays", "counts"), [(NRW, (154, 150)), (BERLIN, (154, 151))], ids=["NW", "BE"]
)
def test_fixed_counts_for_the_year(holidays, counts):
    end = d("2026-12-31")
    assert tuple(office_count(FIXED, g, end=end, holidays=holidays) for g in (A, B)) == counts


@pytest.mark.parametrize(("holidays", "count"), [(NRW, 253), (BERLIN, 254)], ids=["NW", "BE"])
def test_no_rotation_means_every_working_day_in_the_office(holidays, count):
    none = Rotation("none", 1, d("2026-01-01"))
    statuses = plan([none], start=d("2026-01-01"), end=d("2026-12-31"), holidays=holidays)
    assert len(of_kind(statuses, OFFICE)) == count
    assert of_kind(statuses, HOME) == []
    fridays_home = HomeOfficeTerms(d("2026-01-01"), None, frozenset({5}), None, False)
    statuses = plan(
        [none],
        start=d("2026-01-01"),
        end=d("2026-12-31"),
        terms=(fridays_home,),
        holidays=holidays,
    )
    assert all(day.isoweekday() == 5 for day in of_kind(statuses, HOME))
    # 52 Fridays, less Karfreitag, 1 May and Christmas Day
    assert len(of_kind(statuses, HOME)) == 49


# --- histories: the past stays as it was ---------------------------------------------------


ROTATIONS = {
    "weekly": Rotation("weekly", 2, JAN_5),
    "daily": Rotation("daily", 2, JAN_5),
    "cycle": Rotation("cycle", 2, JAN_5),
    "fixed": Rotation("fixed", 2, JAN_5, {A: frozenset({1, 2}), B: frozenset({4, 5})}),
    "none": Rotation("none", 1, JAN_5),
}


@pytest.mark.parametrize("old", sorted(ROTATIONS))
@pytest.mark.parametrize("group", [A, B])
def test_a_new_pattern_in_mid_month_leaves_the_past_alone(old, group):
    change = d("2026-03-18")  # a Wednesday
    new = Rotation("cycle" if old != "cycle" else "weekly", 3, change)
    start, end = d("2026-01-01"), d("2026-03-31")
    before = plan([ROTATIONS[old]], start=start, end=end, group=group)
    after = plan([new, ROTATIONS[old]], start=start, end=end, group=group)
    assert {k: v for k, v in after.items() if k < change} == {
        k: v for k, v in before.items() if k < change
    }
    only_new = plan([new], start=change, end=end, group=group)
    assert {k: v for k, v in after.items() if k >= change} == only_new
    # Asking for part of the past gives the same days as asking for all of it.
    part = plan([ROTATIONS[old], new], start=d("2026-02-02"), end=d("2026-03-17"), group=group)
    assert part == {k: v for k, v in before.items() if d("2026-02-02") <= k < change}


def test_a_pattern_change_takes_effect_on_its_day():
    weekly = Rotation("weekly", 2, JAN_5)
    daily = Rotation("daily", 2, d("2026-03-18"))
    statuses = plan([weekly, daily], start=d("2026-03-16"), end=d("2026-03-27"))
    # Week 10 of the weekly rotation is A's; from Wednesday the daily pattern counts
    # from its own first week: A on Wed and Fri, then Tue and Thu.
    assert of_kind(statuses, OFFICE) == days(
        "2026-03-16", "2026-03-17", "2026-03-18", "2026-03-20", "2026-03-24", "2026-03-26"
    )


def test_a_group_change_leaves_the_past_alone():
    weekly = Rotation("weekly", 2, JAN_5)
    was_a = [Membership(ME, A, date(2025, 12, 1))]
    now_b = [*was_a, Membership(ME, B, d("2026-02-18"))]
    before = plan([weekly], start=d("2026-01-05"), end=d("2026-03-01"), memberships=was_a)
    after = plan([weekly], start=d("2026-01-05"), end=d("2026-03-01"), memberships=now_b)
    assert {k: v for k, v in after.items() if k < d("2026-02-18")} == {
        k: v for k, v in before.items() if k < d("2026-02-18")
    }
    # The week of 16 February is A's: in on Monday and Tuesday, then at home as B;
    # the week of 23 February is B's.
    working = [day for day in span("2026-02-16", "2026-02-27") if day.weekday() < 5]
    assert [after[day].kind for day in working] == [OFFICE] * 2 + [HOME] * 3 + [OFFICE] * 5
    assert [after[day].label for day in span("2026-02-17", "2026-02-18")] == [
        "rotation group A",
        "rotation group B",
    ]


def test_without_a_group_or_an_agreement_the_office_is_the_place_of_work():
    weekly = Rotation("weekly", 2, JAN_5)
    week = (d("2026-01-12"), d("2026-01-16"))  # B's week
    no_group = plan([weekly], start=week[0], end=week[1], group=None)
    assert set(no_group.values()) == {DayStatus(OFFICE, "no group")}
    gone_group = plan([weekly], start=week[0], end=week[1], group=C)
    assert set(gone_group.values()) == {DayStatus(OFFICE, "no group")}
    no_agreement = plan([weekly], start=week[0], end=week[1], terms=())
    assert set(no_agreement.values()) == {DayStatus(OFFICE, "no agreement")}
    ended = HomeOfficeTerms(d("2025-01-01"), d("2026-01-13"), None, 40, False)
    statuses = plan([weekly], start=week[0], end=week[1], terms=(ended,))
    assert [s.kind for s in statuses.values()] == [HOME, HOME, OFFICE, OFFICE, OFFICE]


# --- agreements, absences, overrides -------------------------------------------------------


def test_fixed_agreement_weekdays_are_home_days_within_the_term():
    weekly = Rotation("weekly", 2, JAN_5)
    fridays = HomeOfficeTerms(d("2026-01-01"), d("2026-01-31"), frozenset({5}), None, False)
    later = HomeOfficeTerms(d("2026-02-01"), None, None, None, alternating=True)
    statuses = plan([weekly], start=d("2026-01-05"), end=d("2026-02-08"), terms=(fridays, later))
    assert statuses[d("2026-01-09")] == DayStatus(HOME, "agreement weekday")
    assert statuses[d("2026-01-23")] == DayStatus(HOME, "agreement weekday")
    # After the term the Friday of A's week is an office day again.
    assert statuses[d("2026-02-06")] == DayStatus(OFFICE, "rotation", group=A)
    assert of_kind(statuses, OFFICE) == [
        *span("2026-01-05", "2026-01-08"),
        *span("2026-01-19", "2026-01-22"),
        *span("2026-02-02", "2026-02-06"),
    ]


def test_fixed_weekdays_and_a_share_together():
    weekly = Rotation("weekly", 2, JAN_5)
    mondays = HomeOfficeTerms(d("2026-01-01"), None, frozenset({1}), None, False)
    statuses = plan([weekly], start=d("2026-01-05"), end=d("2026-01-16"), terms=(mondays, SHARE))
    assert of_kind(statuses, OFFICE) == span("2026-01-06", "2026-01-09")
    assert of_kind(statuses, HOME) == [d("2026-01-05"), *span("2026-01-12", "2026-01-16")]


def test_absences_and_overrides():
    weekly = Rotation("weekly", 2, JAN_5)
    absences = (Absence(d("2026-01-07"), d("2026-01-13")),)
    overrides = (
        DayOverride(ME, d("2026-01-05"), in_office=False),
        DayOverride(ME, d("2026-01-08"), in_office=True),  # absent anyway
        DayOverride(ME, d("2026-01-10"), in_office=True),  # a Saturday
        DayOverride(ME, d("2026-01-15"), in_office=True, reason="swap"),
        DayOverride(ME + 1, d("2026-01-16"), in_office=True),  # somebody else's
    )
    statuses = plan(
        [weekly],
        start=d("2026-01-05"),
        end=d("2026-01-16"),
        absences=absences,
        overrides=overrides,
    )
    assert [(s.kind, s.label) for s in statuses.values()] == [
        (HOME, "override"),
        (OFFICE, "rotation group A"),
        (ABSENT, "absence"),
        (ABSENT, "absence"),
        (ABSENT, "absence"),
        (WEEKEND, "weekend"),
        (WEEKEND, "weekend"),
        (ABSENT, "absence"),
        (ABSENT, "absence"),
        (HOME, "rotation group A"),
        (OFFICE, "swap"),
        (HOME, "rotation group A"),
    ]


def test_an_override_cannot_open_the_office_on_a_holiday():
    weekly = Rotation("weekly", 2, d("2026-03-30"))
    statuses = plan(
        [weekly],
        start=d("2026-04-03"),
        end=d("2026-04-03"),
        overrides=(DayOverride(ME, d("2026-04-03"), in_office=True),),
    )
    assert statuses[d("2026-04-03")] == DayStatus(HOLIDAY, "public holiday", holiday="Karfreitag")


# --- a unit: plan and staffing gaps --------------------------------------------------------


def unit(**absences: tuple[Absence, ...]) -> dict[int, PersonInputs]:
    """Persons 1 and 2 in group A, 3 and 4 in group B, all with a share agreement."""
    return {
        person_id: PersonInputs(
            memberships=[Membership(person_id, group, date(2025, 1, 1))],
            terms=[SHARE],
            absences=absences.get(f"p{person_id}", ()),
        )
        for person_id, group in ((1, A), (2, A), (3, B), (4, B))
    }


def test_unit_plan_lists_working_days_only():
    weekly = Rotation("weekly", 2, JAN_5)
    office = unit_plan(
        unit(), start=d("2026-01-01"), end=d("2026-01-18"), rotations=[weekly], holidays=NRW
    )
    # Neujahr and the weekends are left out; 2 January is before the rotation.
    assert list(office) == [
        d("2026-01-02"),
        *span("2026-01-05", "2026-01-09"),
        *span("2026-01-12", "2026-01-16"),
    ]
    assert office[d("2026-01-02")] == {1, 2, 3, 4}
    assert office[d("2026-01-05")] == {1, 2}
    assert office[d("2026-01-12")] == {3, 4}


def test_staffing_gaps_with_the_people_who_could_come_in():
    weekly = Rotation("weekly", 2, JAN_5)
    people = unit(
        p2=(Absence(d("2026-01-07"), d("2026-01-08")),),
        p3=(Absence(d("2026-01-08"), d("2026-01-08")),),
    )
    statuses = unit_statuses(
        people, start=JAN_5, end=d("2026-01-16"), rotations=[weekly], holidays=NRW
    )
    office = people_by_kind(statuses, OFFICE)
    assert office == unit_plan(
        people, start=JAN_5, end=d("2026-01-16"), rotations=[weekly], holidays=NRW
    )
    gaps = staffing_gaps(office, min_present=2, candidates_by_day=people_by_kind(statuses, HOME))
    assert gaps == [
        Gap(d("2026-01-07"), present=1, missing=1, candidates=(3, 4)),
        Gap(d("2026-01-08"), present=1, missing=1, candidates=(4,)),
    ]
    assert staffing_gaps(office, min_present=1, candidates_by_day={}) == []
    three = staffing_gaps(office, min_present=3, candidates_by_day=people_by_kind(statuses, HOME))
    assert len(three) == 10 and three[0] == Gap(JAN_5, 2, 1, (3, 4))


# --- proposing groups ----------------------------------------------------------------------


WEEKLY_MARCH = Rotation("weekly", 2, d("2026-03-02"))
SPRING = (d("2026-03-02"), d("2026-04-26"))


def test_propose_groups_balances_sizes_deterministically():
    rotation = Rotation("weekly", 3, d("2026-03-02"))
    people = [7, 3, 1, 6, 2, 5, 4]
    proposal = propose_groups(
        people,
        groups=3,
        rotation=rotation,
        fixed_home_weekdays={},
        min_present=1,
        horizon=SPRING,
        holidays=NRW,
    )
    assert proposal.assignment == {1: A, 2: A, 3: A, 4: B, 5: B, 6: C, 7: C}
    assert proposal.short_days == ()
    shuffled = propose_groups(
        sorted(people, reverse=True),
        groups=3,
        rotation=rotation,
        fixed_home_weekdays={},
        min_present=1,
        horizon=SPRING,
        holidays=NRW,
    )
    assert shuffled == proposal


def test_propose_groups_spreads_fixed_home_days_to_keep_the_minimum():
    daily = Rotation("daily", 2, d("2026-03-02"))
    # Persons 1 and 2 are at home on Mondays: together in one group, that group's
    # Mondays would have one person in the office.
    proposal = propose_groups(
        list(range(1, 7)),
        groups=2,
        rotation=daily,
        fixed_home_weekdays={1: frozenset({1}), 2: frozenset({1})},
        min_present=2,
        horizon=SPRING,
        holidays=NRW,
    )
    assert proposal.short_days == ()
    assert proposal.assignment[1] != proposal.assignment[2]
    assert sorted(proposal.assignment.values()) == [A, A, A, B, B, B]


def test_propose_groups_reports_the_days_it_cannot_staff():
    fridays = {1: frozenset({5}), 2: frozenset({5})}
    enough = propose_groups(
        [1, 2, 3, 4],
        groups=2,
        rotation=WEEKLY_MARCH,
        fixed_home_weekdays=fridays,
        min_present=1,
        horizon=SPRING,
        holidays=NRW,
    )
    assert enough.short_days == ()
    assert enough.assignment[1] != enough.assignment[2]
    # Two in the office every day cannot be had: the fewest short days are those of
    # both Friday people in group A, whose Fridays include Karfreitag.
    short = propose_groups(
        [1, 2, 3, 4],
        groups=2,
        rotation=WEEKLY_MARCH,
        fixed_home_weekdays=fridays,
        min_present=2,
        horizon=SPRING,
        holidays=NRW,
    )
    assert short.assignment == {1: A, 2: A, 3: B, 4: B}
    assert short.short_days == tuple(days("2026-03-06", "2026-03-20", "2026-04-17"))
    too_many = propose_groups(
        [1, 2, 3],
        groups=2,
        rotation=WEEKLY_MARCH,
        fixed_home_weekdays={},
        min_present=2,
        horizon=SPRING,
        holidays=NRW,
    )
    assert len(too_many.short_days) == 19  # B's four weeks, Ostermontag not a working day


def _fewest_short_days(people, rotation, fixed, min_present) -> int:
    """By brute force: every balanced grouping of everyone, scored day by day."""
    groups = rotation.groups
    best = None
    for combo in itertools.product(range(groups), repeat=len(people)):
        sizes = [combo.count(g) for g in range(groups)]
        if max(sizes) - min(sizes) > 1:
            continue
        inputs = {
            p: PersonInputs(
                memberships=[Membership(p, g, rotation.valid_from)],
                terms=[HomeOfficeTerms(rotation.valid_from, None, fixed.get(p), 40, False)],
            )
            for p, g in zip(people, combo, strict=True)
        }
        office = unit_plan(
            inputs, start=SPRING[0], end=SPRING[1], rotations=[rotation], holidays=NRW
        )
        short = sum(1 for present in office.values() if len(present) < min_present)
        best = short if best is None else min(best, short)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_propose_groups_finds_the_fewest_short_days_of_a_small_unit(seed):
    rng = random.Random(seed)
    kind = ["weekly", "daily", "cycle", "fixed"][seed % 4]
    groups = 2 + seed % 2
    office_weekdays = (
        {g: frozenset(rng.sample(range(1, 6), 3)) for g in range(groups)} if kind == "fixed" else {}
    )
    rotation = Rotation(kind, groups, d("2026-03-02"), office_weekdays)
    people = list(range(1, rng.randint(4, 6) + 1))
    fixed = {
        p: frozenset(rng.sample(range(1, 6), rng.randint(1, 2)))
        for p in people
        if rng.random() < 0.6
    }
    min_present = rng.randint(1, 2)
    proposal = propose_groups(
        people,
        groups=groups,
        rotation=rotation,
        fixed_home_weekdays=fixed,
        min_present=min_present,
        horizon=SPRING,
        holidays=NRW,
    )
    assert len(proposal.short_days) == _fewest_short_days(people, rotation, fixed, min_present)


def test_propose_groups_for_a_large_unit_is_balanced_and_reports_truthfully():
    rng = random.Random(2026)
    rotation = Rotation("daily", 3, d("2026-03-02"))
    people = list(range(1, 31))
    fixed = {p: frozenset(rng.sample(range(1, 6), rng.randint(1, 2))) for p in people[:20]}
    proposal = propose_groups(
        people,
        groups=3,
        rotation=rotation,
        fixed_home_weekdays=fixed,
        min_present=7,
        horizon=SPRING,
        holidays=NRW,
    )
    assert sorted(proposal.assignment) == people
    assert sorted(list(proposal.assignment.values()).count(g) for g in (A, B, C)) == [10, 10, 10]
    reversed_input = propose_groups(
        people[::-1],
        groups=3,
        rotation=rotation,
        fixed_home_weekdays=fixed,
        min_present=7,
        horizon=SPRING,
        holidays=NRW,
    )
    assert reversed_input == proposal
    # The short days reported are those of the plan the groups produce.
    inputs = {
        p: PersonInputs(
            memberships=[Membership(p, g, rotation.valid_from)],
            terms=[HomeOfficeTerms(rotation.valid_from, None, fixed.get(p), 40, False)],
        )
        for p, g in proposal.assignment.items()
    }
    office = unit_plan(inputs, start=SPRING[0], end=SPRING[1], rotations=[rotation], holidays=NRW)
    assert proposal.short_days == tuple(day for day, p in office.items() if len(p) < 7)
    naive = {p: (p - 1) % 3 for p in people}
    naive_inputs = {
        p: PersonInputs(
            memberships=[Membership(p, naive[p], rotation.valid_from)],
            terms=[HomeOfficeTerms(rotation.valid_from, None, fixed.get(p), 40, False)],
        )
        for p in people
    }
    naive_office = unit_plan(
        naive_inputs, start=SPRING[0], end=SPRING[1], rotations=[rotation], holidays=NRW
    )
    assert len(proposal.short_days) <= sum(1 for p in naive_office.values() if len(p) < 7)


def test_propose_groups_refuses_inconsistent_input():
    with pytest.raises(ValueError, match="one group"):
        propose_groups(
            [1, 1],
            groups=2,
            rotation=WEEKLY_MARCH,
            fixed_home_weekdays={},
            min_present=1,
            horizon=SPRING,
            holidays=NRW,
        )
    with pytest.raises(ValueError, match="2 groups, not 3"):
        propose_groups(
            [1, 2],
            groups=3,
            rotation=WEEKLY_MARCH,
            fixed_home_weekdays={},
            min_present=1,
            horizon=SPRING,
            holidays=NRW,
        )


# --- swaps ---------------------------------------------------------------------------------


def test_swap_validity():
    weekly = Rotation("weekly", 2, JAN_5)
    people = unit(p4=(Absence(d("2026-01-15"), d("2026-01-15")),))
    statuses = unit_statuses(
        people, start=JAN_5, end=d("2026-01-16"), rotations=[weekly], holidays=NRW
    )
    a_days = {day: by_person[1] for day, by_person in statuses.items()}
    b_days = {day: by_person[3] for day, by_person in statuses.items()}
    absent_b = {day: by_person[4] for day, by_person in statuses.items()}
    # Person 1 (A) is in on the 7th, person 3 (B) on the 14th.
    assert swap_is_valid(a_days, b_days, d("2026-01-07"), d("2026-01-14"))
    assert not swap_is_valid(a_days, b_days, d("2026-01-14"), d("2026-01-07"))
    assert not swap_is_valid(a_days, b_days, d("2026-01-07"), d("2026-01-07"))
    assert not swap_is_valid(a_days, b_days, d("2026-01-07"), d("2026-01-08"))
    assert not swap_is_valid(a_days, absent_b, d("2026-01-07"), d("2026-01-15"))
    assert not swap_is_valid(a_days, b_days, d("2026-01-07"), d("2026-01-17"))  # Saturday
    assert not swap_is_valid(a_days, b_days, d("2026-01-07"), d("2026-02-11"))  # not planned


def test_a_confirmed_swap_moves_the_days_and_keeps_the_staffing():
    weekly = Rotation("weekly", 2, JAN_5)
    x, y = d("2026-01-07"), d("2026-01-14")
    halves = {
        1: [DayOverride(1, x, False, "swap"), DayOverride(1, y, True, "swap")],
        3: [DayOverride(3, x, True, "swap"), DayOverride(3, y, False, "swap")],
    }
    before = unit_plan(unit(), start=JAN_5, end=d("2026-01-16"), rotations=[weekly], holidays=NRW)
    swapped = {
        p: PersonInputs(inputs.memberships, inputs.terms, inputs.absences, halves.get(p, []))
        for p, inputs in unit().items()
    }
    after = unit_plan(swapped, start=JAN_5, end=d("2026-01-16"), rotations=[weekly], holidays=NRW)
    assert after[x] == {2, 3} and after[y] == {1, 4}
    assert {day: len(p) for day, p in after.items()} == {day: len(p) for day, p in before.items()}


# --- refused input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Rotation("monthly", 2, JAN_5),
        lambda: Rotation("weekly", 0, JAN_5),
        lambda: Rotation("fixed", 2, JAN_5, {A: frozenset({6})}),
        lambda: Rotation("fixed", 2, JAN_5, {C: frozenset({1})}),
        lambda: Rotation("weekly", 2, JAN_5, {A: frozenset({1})}),
        lambda: Membership(ME, -1, JAN_5),
        lambda: HomeOfficeTerms(JAN_5, d("2026-01-04"), None, 40, False),
        lambda: HomeOfficeTerms(JAN_5, None, frozenset({7}), None, False),
        lambda: Absence(JAN_5, d("2026-01-04")),
        lambda: plan([], start=JAN_5, end=d("2026-01-04")),
        lambda: staffing_gaps({}, min_present=-1, candidates_by_day={}),
    ],
)
def test_refused_input(make):
    with pytest.raises(ValueError):
        make()
