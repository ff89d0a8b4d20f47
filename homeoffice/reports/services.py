"""The status report for council committees (Sachstandsbericht Homeoffice).

The figures are counted by the database (``GROUP BY`` / ``COUNT``): the report sends the
same seven statements for 100 or 10,000 people and never loads agreements as objects.
Two come back with more than a few rows: the decision times (one per decided request,
because the median is computed here, the same way on SQLite and PostgreSQL), and the
agreements' terms for the monthly history, grouped by term (see ``_in_force_on``).

No figure reveals a person in a group smaller than ``min_cell`` (5): small counts are
shown as "< 5", and further cells are hidden where a total would give a small one back
(``homeoffice.reports.disclosure``). Health is never a category of its own (see
``REASON_CATEGORIES``). The report object never holds a hidden count, so no page,
file or API response built from it can show one by mistake.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, case, distinct, func, literal, or_, select, union_all
from sqlmodel import Session, col

import policies
from homeoffice.access.models import ACTIVE as CREDENTIAL_ACTIVE
from homeoffice.access.models import (
    CERTIFICATE,
    TERMINAL_SERVER_GROUP,
    TERMINAL_SERVER_SECRET,
    VPN_GROUP,
    WIREGUARD,
    Credential,
)
from homeoffice.agreements.models import (
    ACTIVE,
    APPROVED,
    ENDED,
    EXPIRED,
    REJECTED,
    REVOKED,
    Agreement,
    HomeOfficeRequest,
)
from homeoffice.devices.models import Handover
from homeoffice.people.models import Person, Unit
from homeoffice.reports.disclosure import MIN_CELL, protect

VPN_KINDS = (VPN_GROUP, CERTIFICATE, WIREGUARD)
TERMINAL_SERVER_KINDS = (TERMINAL_SERVER_GROUP, TERMINAL_SERVER_SECRET)

#: the merged category that takes health, "other" and unknown or missing reasons
OTHER_OR_PERSONAL = "other_or_personal"

#: request reason → report category. Health is folded into "other or personal reason"
#: together with "other": health reasons are special-category data (GDPR Art. 9), and a
#: committee report is read far beyond HR. A category of its own would tell, in a small
#: unit or a short month, whose reason it is; merged with "other", nobody can tell
#: whether any of the people counted there has a health reason at all.
REASON_CATEGORIES = {
    "childcare": "childcare",
    "care": "care",
    "commute": "commute",
    "temporary": "temporary",
    "health": OTHER_OR_PERSONAL,
    "other": OTHER_OR_PERSONAL,
}
CATEGORY_ORDER = ("childcare", "care", "commute", "temporary", OTHER_OR_PERSONAL)
CATEGORY_LABELS = {
    "childcare": _l("childcare"),
    "care": _l("care of a relative"),
    "commute": _l("long way to work"),
    "temporary": _l("temporary (infection control)"),
    OTHER_OR_PERSONAL: _l("other or personal reason"),
}
KIND_ORDER = ("ordinary", "temporary")
KIND_LABELS = {"ordinary": _l("ordinary"), "temporary": _l("temporary")}
NO_UNIT = _l("no unit")


# --- the report's building blocks ---------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A count of people as published: the number, or ``None`` when it is hidden."""

    count: int | None
    min_cell: int = MIN_CELL

    @property
    def suppressed(self) -> bool:
        return self.count is None

    @property
    def display(self) -> str:
        return f"< {self.min_cell}" if self.count is None else str(self.count)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "suppressed": self.suppressed, "display": self.display}


@dataclass(frozen=True)
class Share:
    """A count out of a head count, in percent; hidden whenever the count is hidden."""

    numerator: Cell
    denominator: int

    @property
    def suppressed(self) -> bool:
        return self.numerator.suppressed

    @property
    def percent(self) -> float | None:
        if self.numerator.count is None or not self.denominator:
            return None
        return round(100 * self.numerator.count / self.denominator, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "numerator": self.numerator.as_dict(),
            "denominator": self.denominator,
            "percent": self.percent,
            "suppressed": self.suppressed,
        }


@dataclass(frozen=True)
class MonthPoint:
    #: the first day of the month
    month: date
    #: the day counted: the month's last day, or today for the current month
    day: date
    count: Cell

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": f"{self.month:%Y-%m}",
            "day": self.day.isoformat(),
            "count": self.count.as_dict(),
        }


@dataclass(frozen=True)
class DayCount:
    day: date
    count: Cell

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "count": self.count.as_dict()}


@dataclass(frozen=True)
class CategoryRow:
    key: str
    label: str
    count: Cell

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "count": self.count.as_dict()}


@dataclass(frozen=True)
class UnitRow:
    unit_id: int | None
    unit: str
    #: staff of the unit may work from home under the rules in force (see ``Staff``)
    eligible: bool
    #: active staff of the unit (a head count, never hidden)
    staff: int
    count: Cell

    @property
    def share(self) -> Share:
        return Share(self.count, self.staff)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "unit": self.unit,
            "eligible": self.eligible,
            "staff": self.staff,
            "count": self.count.as_dict(),
            "share": self.share.as_dict(),
        }


@dataclass(frozen=True)
class Staff:
    """Head counts: all active staff, and those in positions that allow home office.

    People carry no kind of position in this service, so "positions that allow home
    office" means: active staff whose unit is not excluded (``excluded_units``) by every
    rule set in force on the report day, the same test the eligibility rules apply.
    People without a unit count as eligible, as the rules treat them.
    """

    active: int
    eligible: int
    #: units with staff that the rules in force exclude from home office
    excluded_units: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "eligible": self.eligible,
            "excluded_units": list(self.excluded_units),
        }


@dataclass(frozen=True)
class Equipment:
    #: laptops handed over and not yet returned
    laptops_issued: Cell
    #: people holding an active VPN credential (group, certificate or WireGuard peer)
    vpn_active: Cell
    #: people holding an active terminal-server credential (group or secret)
    terminal_server_active: Cell
    #: laptops not yet returned whose expected return has passed
    devices_overdue: Cell

    def as_dict(self) -> dict[str, Any]:
        return {
            "laptops_issued": self.laptops_issued.as_dict(),
            "vpn_active": self.vpn_active.as_dict(),
            "terminal_server_active": self.terminal_server_active.as_dict(),
            "devices_overdue": self.devices_overdue.as_dict(),
        }


@dataclass(frozen=True)
class PeriodDecisions:
    approved: Cell
    rejected: Cell
    total: Cell
    #: median days from sending to decision; None when hidden or without decisions
    median_days: float | None
    median_suppressed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "approved": self.approved.as_dict(),
            "rejected": self.rejected.as_dict(),
            "total": self.total.as_dict(),
            "median_days": self.median_days,
            "median_suppressed": self.median_suppressed,
        }


@dataclass(frozen=True)
class TotalDecisions:
    total: Cell
    median_days: float | None
    median_suppressed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.as_dict(),
            "median_days": self.median_days,
            "median_suppressed": self.median_suppressed,
        }


@dataclass(frozen=True)
class Decisions:
    """HR's decisions (approved or rejected requests): in the period, and ever."""

    period_start: date
    period_end: date
    in_period: PeriodDecisions
    all_time: TotalDecisions

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"start": self.period_start.isoformat(), "end": self.period_end.isoformat()},
            "in_period": self.in_period.as_dict(),
            "all_time": self.all_time.as_dict(),
        }


@dataclass(frozen=True)
class StatusReport:
    today: date
    min_cell: int
    #: people with an agreement in force on the report day
    home_office_today: Cell
    #: people in home office the day before the first temporary rule set began
    before: DayCount | None
    staff: Staff
    share_of_staff: Share
    share_of_eligible: Share
    #: counted on each month's last day (today for the current month)
    months: list[MonthPoint]
    by_reason: list[CategoryRow]
    by_kind: list[CategoryRow]
    by_unit: list[UnitRow]
    equipment: Equipment
    decisions: Decisions

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data; the shape is documented in the README."""
        return {
            "today": self.today.isoformat(),
            "min_cell": self.min_cell,
            "home_office_today": self.home_office_today.as_dict(),
            "before": self.before.as_dict() if self.before else None,
            "staff": self.staff.as_dict(),
            "share_of_staff": self.share_of_staff.as_dict(),
            "share_of_eligible": self.share_of_eligible.as_dict(),
            "months": [point.as_dict() for point in self.months],
            "by_reason": [row.as_dict() for row in self.by_reason],
            "by_kind": [row.as_dict() for row in self.by_kind],
            "by_unit": [row.as_dict() for row in self.by_unit],
            "equipment": self.equipment.as_dict(),
            "decisions": self.decisions.as_dict(),
        }


# --- building the report ------------------------------------------------------------


def default_period_start(today: date) -> date:
    """The first day of the default decision period: the 365 days up to today."""
    return today - timedelta(days=364)


def status_report(
    session: Session,
    *,
    today: date,
    config: Mapping[str, Any],
    rule_book: policies.RuleBook | None = None,
    period_start: date | None = None,
) -> StatusReport:
    """All figures of the status report on ``today``, small cells hidden.

    ``config`` is the application's settings (``REPORT_MIN_CELL``, default 5;
    ``BABEL_DEFAULT_TIMEZONE`` for the day boundaries of timestamps; ``POLICY_DIRECTORY``
    when no ``rule_book`` is given). ``period_start`` is the first day of the decision
    period, which ends today.
    """
    min_cell = int(config.get("REPORT_MIN_CELL") or MIN_CELL)
    tz = ZoneInfo(config.get("BABEL_DEFAULT_TIMEZONE") or "Europe/Berlin")
    book = rule_book or _load_rule_book(config)
    period_start = period_start or default_period_start(today)
    if period_start > today:
        raise ValueError("the decision period cannot start after the report day")

    def cell(value: int, hidden: bool = False) -> Cell:
        return Cell(None if hidden or 0 < value < min_cell else value, min_cell)

    until = day_end(today, tz)
    scalars = _scalars(session, today, until)
    units = _units(session, today, until, book, scalars["active_staff"])
    total = sum(row["home"] for row in units)
    home_today = cell(total)

    by_unit, eligible_home_hidden = _protected_units(units, min_cell)
    eligible_staff = sum(row["staff"] for row in units if row["eligible"])
    eligible_home = sum(row["home"] for row in units if row["eligible"])
    staff_figures = Staff(
        active=scalars["active_staff"],
        eligible=eligible_staff,
        excluded_units=tuple(row["name"] for row in units if not row["eligible"] and row["staff"]),
    )

    months, before = _history(session, today, book, scalars["first_start"], tz)
    return StatusReport(
        today=today,
        min_cell=min_cell,
        home_office_today=home_today,
        before=DayCount(before[0], cell(before[1])) if before else None,
        staff=staff_figures,
        share_of_staff=Share(home_today, scalars["active_staff"]),
        share_of_eligible=Share(cell(eligible_home, eligible_home_hidden), eligible_staff),
        months=[MonthPoint(month, day, cell(count)) for month, day, count in months],
        by_reason=_protected_categories(
            _reasons(session, today, until), CATEGORY_ORDER, CATEGORY_LABELS, min_cell
        ),
        by_kind=_protected_categories(
            _kinds(session, today, until), KIND_ORDER, KIND_LABELS, min_cell
        ),
        by_unit=by_unit,
        equipment=Equipment(
            laptops_issued=cell(scalars["laptops_issued"]),
            vpn_active=cell(scalars["vpn_active"]),
            terminal_server_active=cell(scalars["terminal_server_active"]),
            devices_overdue=cell(scalars["devices_overdue"]),
        ),
        decisions=_decisions(session, today, period_start, tz, min_cell),
    )


def _load_rule_book(config: Mapping[str, Any]) -> policies.RuleBook:
    directory = config.get("POLICY_DIRECTORY")
    return policies.load_rule_book(
        Path(directory) if directory else Path(policies.__file__).parent / "rules"
    )


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The first moment after ``day`` in the administration's time zone, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)


def in_force(day, until):
    """An agreement in force on ``day`` (a date or a date column): begun, not past its
    end date, and not ended early (revoked, or replaced by a change) before the day's
    end ``until`` (a timestamp or column).

    An agreement ended early counts up to the day before it was ended: a revocation
    sends the person back to the office that day. On the report day this is exactly
    "a current (approved or active) agreement whose term includes today"; on a past
    day it also counts the agreements that have ended since.
    """
    return and_(
        col(Agreement.start_date) <= day,
        or_(col(Agreement.end_date).is_(None), col(Agreement.end_date) >= day),
        or_(
            # these end on their end date (or have not ended)
            col(Agreement.state).in_((APPROVED, ACTIVE, EXPIRED)),
            col(Agreement.ended_at).is_(None),
            col(Agreement.ended_at) >= until,
        ),
    )


def _scalars(session: Session, today: date, until: datetime) -> dict[str, Any]:
    """The single numbers, in one statement of scalar sub-queries.

    Laptops and access are counted as they were on ``today`` (handover and return
    dates, issue and revocation times), so a report for a past day is right too.
    """

    def count(statement):
        return statement.scalar_subquery()

    laptop_out = and_(
        col(Handover.handed_over_on) <= today,
        or_(col(Handover.returned_on).is_(None), col(Handover.returned_on) > today),
    )
    access_held = and_(
        col(Credential.issued_at) < until,
        or_(
            Credential.state == CREDENTIAL_ACTIVE,
            and_(col(Credential.revoked_at).is_not(None), col(Credential.revoked_at) >= until),
        ),
    )
    statement = select(
        count(select(func.min(Agreement.start_date)).where(col(Agreement.start_date) <= today)),
        count(select(func.count(Person.id)).where(col(Person.active).is_(True))),
        count(select(func.count(Handover.id)).where(laptop_out)),
        count(
            select(func.count(Handover.id)).where(
                laptop_out,
                col(Handover.expected_return).is_not(None),
                col(Handover.expected_return) < today,
            )
        ),
        count(
            select(func.count(distinct(Credential.person_id))).where(
                access_held, col(Credential.kind).in_(VPN_KINDS)
            )
        ),
        count(
            select(func.count(distinct(Credential.person_id))).where(
                access_held, col(Credential.kind).in_(TERMINAL_SERVER_KINDS)
            )
        ),
    )
    row = session.exec(statement).one()
    first_start = row[0]
    if isinstance(first_start, str):  # SQLite hands MIN() of a date back as text
        first_start = date.fromisoformat(first_start)
    return {
        "first_start": first_start,
        "active_staff": row[1] or 0,
        "laptops_issued": row[2] or 0,
        "devices_overdue": row[3] or 0,
        "vpn_active": row[4] or 0,
        "terminal_server_active": row[5] or 0,
    }


def _units(
    session: Session, today: date, until: datetime, book: policies.RuleBook, active_staff: int
) -> list[dict[str, Any]]:
    """Per unit: name, active staff, people in home office today, and eligibility.

    Units without staff and without anyone in home office are left out; people without
    a unit form a row of their own.
    """
    staff = {
        unit_id: (name, number)
        for unit_id, name, number in session.exec(
            select(Unit.id, Unit.name, func.count(Person.id))
            .select_from(Unit)
            .outerjoin(Person, and_(Person.unit_id == Unit.id, col(Person.active).is_(True)))
            .group_by(Unit.id, Unit.name)
        )
    }
    home = {
        unit_id: (name, number)
        for unit_id, name, number in session.exec(
            select(Person.unit_id, Unit.name, func.count(distinct(Agreement.person_id)))
            .select_from(Agreement)
            .join(Person, Person.id == Agreement.person_id)
            .outerjoin(Unit, Unit.id == Person.unit_id)
            .where(in_force(today, until))
            .group_by(Person.unit_id, Unit.name)
        )
    }
    rule_sets = book.active_on(today)
    names = {unit_id: name for unit_id, (name, _) in (home | staff).items() if unit_id is not None}
    rows = []
    for unit_id, name in sorted(names.items(), key=lambda item: (item[1].casefold(), item[0])):
        number = staff.get(unit_id, (name, 0))[1]
        at_home = home.get(unit_id, (name, 0))[1]
        if not number and not at_home:
            continue
        rows.append(
            {
                "id": unit_id,
                "name": name,
                "staff": number,
                "home": at_home,
                # Eligible when at least one rule set in force allows the unit, as the
                # most favourable verdict wins in the eligibility rules.
                "eligible": any(not rule_set.excludes_unit(name) for rule_set in rule_sets),
            }
        )
    without_staff = active_staff - sum(number for _, number in staff.values())
    without_home = home.get(None, (None, 0))[1]
    if without_staff or without_home:
        rows.append(
            {
                "id": None,
                "name": str(NO_UNIT),
                "staff": without_staff,
                "home": without_home,
                "eligible": True,
            }
        )
    return rows


def _protected_units(rows: list[dict[str, Any]], min_cell: int) -> tuple[list[UnitRow], bool]:
    """Unit rows with small and complementary cells hidden.

    Three sums can be read off the report: the total (everyone in home office), the
    people in eligible units (the numerator of the "positions that allow home office"
    share), and their difference (the people in excluded units). All three are
    protected; when the eligible sub-total cannot be, it is hidden instead and only the
    total remains to protect. Returns the rows and whether the sub-total is hidden.
    """
    values = [row["home"] for row in rows]
    everyone = set(range(len(rows)))
    eligible = {index for index, row in enumerate(rows) if row["eligible"]}
    protection = protect(values, [everyone, eligible, everyone - eligible], min_cell=min_cell)
    # A small sub-total leaves its margin unprotectable, so it is hidden here as well.
    subtotal_hidden = bool(protection.failed & {1, 2})
    if subtotal_hidden:
        protection = protect(values, [everyone], min_cell=min_cell)
    result = [
        UnitRow(
            unit_id=row["id"],
            unit=row["name"],
            eligible=row["eligible"],
            staff=row["staff"],
            count=Cell(None if index in protection.suppressed else row["home"], min_cell),
        )
        for index, row in enumerate(rows)
    ]
    return result, subtotal_hidden


def _protected_categories(
    counts: Mapping[str, int],
    order: Sequence[str],
    labels: Mapping[str, Any],
    min_cell: int,
) -> list[CategoryRow]:
    """Category rows in a fixed order, protected against "total minus the others"."""
    keys = [*order, *sorted(set(counts) - set(order))]
    values = [counts.get(key, 0) for key in keys]
    protection = protect(values, [set(range(len(keys)))], min_cell=min_cell)
    return [
        CategoryRow(
            key=key,
            label=str(labels.get(key, key)),
            count=Cell(None if index in protection.suppressed else values[index], min_cell),
        )
        for index, key in enumerate(keys)
    ]


def _reasons(session: Session, today: date, until: datetime) -> dict[str, int]:
    """People in home office today per report category (several reasons: each counts).

    The database groups by the stored reason list, of which there are few distinct
    ones; the lists are split into categories here.
    """
    counts = dict.fromkeys(CATEGORY_ORDER, 0)
    for reasons, number in session.exec(
        select(HomeOfficeRequest.reasons, func.count(distinct(Agreement.person_id)))
        .select_from(Agreement)
        .join(HomeOfficeRequest, HomeOfficeRequest.id == Agreement.request_id)
        .where(in_force(today, until))
        .group_by(HomeOfficeRequest.reasons)
    ):
        for category in reason_categories(reasons):
            counts[category] += number
    return counts


def reason_categories(reasons: str | None) -> set[str]:
    """The report categories of a stored reason list ("commute health" → commute and
    other-or-personal); an empty or unknown reason counts as other-or-personal."""
    categories = {
        REASON_CATEGORIES.get(reason, OTHER_OR_PERSONAL) for reason in (reasons or "").split()
    }
    return categories or {OTHER_OR_PERSONAL}


def _kinds(session: Session, today: date, until: datetime) -> dict[str, int]:
    counts = dict.fromkeys(KIND_ORDER, 0)
    for kind, number in session.exec(
        select(Agreement.kind, func.count(distinct(Agreement.person_id)))
        .where(in_force(today, until))
        .group_by(Agreement.kind)
    ):
        counts[kind] = counts.get(kind, 0) + number
    return counts


def month_days(first: date, today: date) -> list[tuple[date, date]]:
    """(first day of month, day counted) from ``first``'s month to ``today``'s month."""
    result = []
    month = first.replace(day=1)
    while month <= today:
        following = (month + timedelta(days=32)).replace(day=1)
        result.append((month, min(following - timedelta(days=1), today)))
        month = following
    return result


def before_day(book: policies.RuleBook, today: date) -> date | None:
    """The day before the first temporary rule set (infection control) began."""
    starts = [
        rule_set.valid_from
        for rule_set in book.rule_sets
        if rule_set.valid_from is not None and rule_set.valid_from <= today
    ]
    return min(starts) - timedelta(days=1) if starts else None


def _history(
    session: Session, today: date, book: policies.RuleBook, first: date | None, tz: ZoneInfo
) -> tuple[list[tuple[date, date, int]], tuple[date, int] | None]:
    """People in home office on each month's last day, and before the first temporary
    rule set began."""
    months = month_days(first, today) if first else []
    before = before_day(book, today)
    days = sorted({day for _, day in months} | ({before} if before else set()))
    if not days:
        return [], None
    counts = _in_force_on(session, days, tz)
    return (
        [(month, day, counts[day]) for month, day in months],
        (before, counts[before]) if before else None,
    )


def _in_force_on(session: Session, days: Sequence[date], tz: ZoneInfo) -> dict[date, int]:
    """How many people had an agreement in force on each of ``days`` (one statement).

    Joining every day to every agreement costs days × agreements; instead the database
    groups the agreements by their term (start, end date, moment ended early), and
    each group becomes two events: +n on its first day, -n on the first day it no longer
    counts (see ``in_force``). A running sum over the events answers every day at once.
    People with more than one agreement (changes, renewals, ended ones) come back one
    row per agreement, so that their overlapping terms count them once.
    """
    ended_early = case(
        (col(Agreement.state).in_((ENDED, REVOKED)), col(Agreement.ended_at)), else_=None
    )
    several = (
        select(Agreement.person_id)
        .group_by(Agreement.person_id)
        .having(func.count(Agreement.id) > 1)
        .scalar_subquery()
    )
    last_day = max(days)
    grouped = (
        select(
            literal(None, Integer).label("person_id"),
            Agreement.start_date,
            Agreement.end_date,
            ended_early.label("ended_at"),
            func.count(Agreement.id).label("number"),
        )
        .where(col(Agreement.start_date) <= last_day, col(Agreement.person_id).not_in(several))
        .group_by(Agreement.start_date, Agreement.end_date, ended_early)
    )
    singles = select(
        Agreement.person_id,
        Agreement.start_date,
        Agreement.end_date,
        ended_early.label("ended_at"),
        literal(1, Integer).label("number"),
    ).where(col(Agreement.start_date) <= last_day, col(Agreement.person_id).in_(several))
    changes: dict[date, int] = {}
    terms: dict[int, list[tuple[date, date | None]]] = {}
    for person_id, start, end, ended_at, number in session.exec(union_all(grouped, singles)):
        if isinstance(start, str):  # SQLite hands dates of a UNION back as text
            start = date.fromisoformat(start)
            end = date.fromisoformat(end) if end else None
        if isinstance(ended_at, str):
            ended_at = datetime.fromisoformat(ended_at).replace(tzinfo=UTC)
        stop = _first_day_out(end, ended_at, tz)
        if stop is not None and stop <= start:
            continue  # ended before it began: never in force
        if person_id is None:
            _add_term(changes, start, stop, number)
        else:
            terms.setdefault(person_id, []).append((start, stop))
    for person_terms in terms.values():
        for start, stop in _merged(person_terms):
            _add_term(changes, start, stop, 1)
    counts, running = {}, 0
    moments = sorted(changes)
    position = 0
    for day in sorted(days):
        while position < len(moments) and moments[position] <= day:
            running += changes[moments[position]]
            position += 1
        counts[day] = running
    return counts


def _first_day_out(end: date | None, ended_at: datetime | None, tz: ZoneInfo) -> date | None:
    """The first day an agreement no longer counts: after its end date, or from the
    local day it was ended early (the same rule as ``in_force``); None: still counts."""
    stops = []
    if end is not None:
        stops.append(end + timedelta(days=1))
    if ended_at is not None:
        stops.append(ended_at.astimezone(tz).date())
    return min(stops) if stops else None


def _add_term(changes: dict[date, int], start: date, stop: date | None, number: int) -> None:
    changes[start] = changes.get(start, 0) + number
    if stop is not None:
        changes[stop] = changes.get(stop, 0) - number


def _merged(terms: list[tuple[date, date | None]]) -> list[tuple[date, date | None]]:
    """One person's terms joined where they overlap or touch, so each day counts once."""
    merged: list[tuple[date, date | None]] = []
    for start, stop in sorted(terms, key=lambda term: term[0]):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            last_start, last_stop = merged[-1]
            merged[-1] = (
                last_start,
                None if last_stop is None or stop is None else max(last_stop, stop),
            )
        else:
            merged.append((start, stop))
    return merged


def _decisions(
    session: Session, today: date, period_start: date, tz: ZoneInfo, min_cell: int
) -> Decisions:
    """Approved and rejected requests, in the period and ever, with the median time.

    Published: approved, rejected and their total in the period, and the total ever.
    Together they also give the decisions before the period (ever minus period), so
    that difference is protected like a cell of its own.
    """
    approved = rejected = before = 0
    period_days: list[float] = []
    all_days: list[float] = []
    for state, submitted_at, decided_at in session.exec(
        select(
            HomeOfficeRequest.state, HomeOfficeRequest.submitted_at, HomeOfficeRequest.decided_at
        ).where(
            col(HomeOfficeRequest.state).in_((APPROVED, REJECTED)),
            col(HomeOfficeRequest.decided_at).is_not(None),
        )
    ):
        decided_on = decided_at.astimezone(tz).date()
        if decided_on > today:
            continue  # a report for a past day leaves later decisions out
        days = (decided_at - submitted_at).total_seconds() / 86400 if submitted_at else None
        if days is not None:
            all_days.append(days)
        if decided_on >= period_start:
            if state == APPROVED:
                approved += 1
            else:
                rejected += 1
            if days is not None:
                period_days.append(days)
        else:
            before += 1
    in_period = approved + rejected
    values = [approved, rejected, before]
    margins = [{0, 1}, {2}, {0, 1, 2}]
    protection = protect(values, margins, min_cell=min_cell)
    period_total_hidden = 0 < in_period < min_cell
    if protection.failed & {0, 1}:
        # The period's total or the "before" difference cannot be protected: publish
        # the total ever only, and protect it against the visible period cells.
        period_total_hidden = True
        protection = protect(values, [{0, 1, 2}], min_cell=min_cell)

    def shown(index: int) -> Cell:
        return Cell(None if index in protection.suppressed else values[index], min_cell)

    def median(durations: list[float]) -> tuple[float | None, bool]:
        if len(durations) < min_cell:
            return None, bool(durations)
        return round(statistics.median(durations), 1), False

    period_median, period_median_hidden = median(period_days)
    all_median, all_median_hidden = median(all_days)
    total_ever = in_period + before
    return Decisions(
        period_start=period_start,
        period_end=today,
        in_period=PeriodDecisions(
            approved=shown(0),
            rejected=shown(1),
            total=Cell(None if period_total_hidden else in_period, min_cell),
            median_days=period_median,
            median_suppressed=period_median_hidden,
        ),
        all_time=TotalDecisions(
            total=Cell(None if 0 < total_ever < min_cell else total_ever, min_cell),
            median_days=all_median,
            median_suppressed=all_median_hidden,
        ),
    )
