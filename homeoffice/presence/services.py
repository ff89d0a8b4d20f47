"""Presence: setting rotations and groups, absences, overrides, swaps, the derived plan,
and the calendar feed. Every change is audited; nothing of the plan is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, select

from homeoffice.agreements.models import CURRENT_AGREEMENT_STATES, Agreement
from homeoffice.agreements.services import is_supervisor_of
from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.people.models import Person, Unit
from homeoffice.presence import plan
from homeoffice.presence.models import (
    ROTATION_KINDS,
    Absence,
    CalendarFeed,
    DayOverride,
    GroupMembership,
    Rotation,
    Swap,
)
from homeoffice.refusal import Refusal


class PresenceError(Refusal):
    """A rotation, swap or plan change refused."""


class NotAllowed(Exception):
    pass


def heads(session: Session, unit: Unit, actor: Person) -> bool:
    """The actor leads the unit: its head, or the manager of one of its members."""
    if unit.head_id == actor.id:
        return True
    return (
        session.exec(
            select(Person.id).where(Person.unit_id == unit.id, Person.manager_id == actor.id)
        ).first()
        is not None
    )


# --- inputs of the planner, loaded in a fixed number of queries -------------------------


@dataclass
class UnitInputs:
    unit: Unit
    people: list[Person]
    rotations: list[plan.Rotation]
    inputs: dict[int, plan.PersonInputs]

    def days_of(self, person_id: int, *, start: date, end: date, holidays) -> dict:
        """One person's status on every day from start to end (weekends and holidays too)."""
        own = self.inputs[person_id]
        return plan.office_days(
            person_id,
            start=start,
            end=end,
            rotations=self.rotations,
            memberships=own.memberships,
            terms=own.terms,
            absences=own.absences,
            overrides=own.overrides,
            holidays=holidays,
        )


def _terms(agreement: Agreement) -> plan.HomeOfficeTerms:
    weekdays = frozenset(int(d) for d in (agreement.weekdays or "").split(",") if d)
    return plan.HomeOfficeTerms(
        start=agreement.start_date,
        end=agreement.end_date,
        weekdays=weekdays or None,
        share_percent=agreement.share_percent,
        alternating=agreement.pattern == "alternating",
    )


def load_unit(session: Session, unit: Unit, *, start: date, end: date) -> UnitInputs:
    """Everything the planner needs for one unit and a date range (five queries)."""
    people = list(
        session.exec(
            select(Person)
            .where(Person.unit_id == unit.id, col(Person.active).is_(True))
            .order_by(Person.display_name)
        ).all()
    )
    ids = [p.id for p in people]
    rotations = [
        plan.Rotation(
            kind=r.kind,
            groups=r.groups,
            valid_from=r.valid_from,
            office_weekdays={int(k): frozenset(v) for k, v in (r.office_weekdays or {}).items()},
        )
        for r in session.exec(
            select(Rotation)
            .where(Rotation.unit_id == unit.id)
            .order_by(Rotation.valid_from, Rotation.id)
        ).all()
    ]
    memberships: dict[int, list] = {i: [] for i in ids}
    terms: dict[int, list] = {i: [] for i in ids}
    absences: dict[int, list] = {i: [] for i in ids}
    overrides: dict[int, list] = {i: [] for i in ids}
    if ids:
        for m in session.exec(
            select(GroupMembership)
            .where(col(GroupMembership.person_id).in_(ids))
            .order_by(GroupMembership.valid_from, GroupMembership.id)
        ):
            memberships[m.person_id].append(plan.Membership(m.person_id, m.group, m.valid_from))
        for a in session.exec(
            select(Agreement).where(
                col(Agreement.person_id).in_(ids),
                col(Agreement.state).in_(
                    (*CURRENT_AGREEMENT_STATES, "ended", "expired", "revoked")
                ),
                col(Agreement.start_date) <= end,
            )
        ):
            # Ended agreements still shape the past days they covered.
            last = a.end_date
            if a.ended_at is not None and a.state in ("ended", "expired", "revoked"):
                stopped = a.ended_at.date() - timedelta(days=1)
                last = min(last, stopped) if last else stopped
            if last is None or last >= start:
                term = _terms(a)
                terms[a.person_id].append(
                    plan.HomeOfficeTerms(
                        term.start, last, term.weekdays, term.share_percent, term.alternating
                    )
                )
        for ab in session.exec(
            select(Absence).where(
                col(Absence.person_id).in_(ids), Absence.end >= start, Absence.start <= end
            )
        ):
            absences[ab.person_id].append(plan.Absence(ab.start, ab.end))
        for o in session.exec(
            select(DayOverride).where(
                col(DayOverride.person_id).in_(ids),
                DayOverride.day >= start,
                DayOverride.day <= end,
            )
        ):
            overrides[o.person_id].append(
                plan.DayOverride(o.person_id, o.day, o.in_office, o.reason)
            )
    inputs = {
        p.id: plan.PersonInputs(
            memberships=memberships[p.id],
            terms=terms[p.id],
            absences=absences[p.id],
            overrides=overrides[p.id],
        )
        for p in people
    }
    return UnitInputs(unit=unit, people=people, rotations=rotations, inputs=inputs)


# --- changes ------------------------------------------------------------------------------


def set_rotation(
    *,
    session: Session,
    unit: Unit,
    by: Person,
    kind: str,
    groups: int,
    valid_from: date,
    office_weekdays: Mapping[int, list[int]] | None,
    today: date,
) -> Rotation:
    """A new pattern from ``valid_from`` on; days before keep the pattern they had."""
    if not heads(session, unit, by):
        raise NotAllowed()
    if kind not in ROTATION_KINDS:
        raise PresenceError(_l("Unknown rotation."), field="kind")
    if valid_from < today:
        raise PresenceError(_l("A new rotation can only start today or later."), field="valid_from")
    rotation = Rotation(
        unit_id=unit.id,
        kind=kind,
        groups=groups,
        valid_from=valid_from,
        created_by_id=by.id,
        # Only fixed weekdays name days per group; the other kinds derive them.
        office_weekdays=(
            {str(k): sorted(v) for k, v in (office_weekdays or {}).items()} or None
            if kind == "fixed"
            else None
        ),
    )
    session.add(rotation)
    session.flush()
    record(
        session,
        action="rotation.set",
        actor=by,
        object_type="unit",
        object_id=unit.id,
        after={"kind": kind, "groups": groups, "valid_from": str(valid_from)},
    )
    return rotation


def assign_groups(
    *,
    session: Session,
    unit: Unit,
    by: Person,
    groups: Mapping[int, int],
    valid_from: date,
    today: date,
) -> int:
    """Put people of the unit into rotation groups from a day on."""
    if not heads(session, unit, by):
        raise NotAllowed()
    if valid_from < today:
        raise PresenceError(_l("Groups can only change from today on."), field="valid_from")
    members = {p.id for p in session.exec(select(Person).where(Person.unit_id == unit.id)).all()}
    changed = 0
    for person_id, group in groups.items():
        if person_id not in members:
            raise NotAllowed()
        session.add(
            GroupMembership(
                person_id=person_id, group=group, valid_from=valid_from, created_by_id=by.id
            )
        )
        changed += 1
    session.flush()
    record(
        session,
        action="rotation.groups",
        actor=by,
        object_type="unit",
        object_id=unit.id,
        after={
            "valid_from": str(valid_from),
            "assignments": {str(k): v for k, v in groups.items()},
        },
    )
    return changed


def add_absence(*, session: Session, person: Person, by: Person, start: date, end: date) -> Absence:
    if by.id != person.id and not is_supervisor_of(session, by, person):
        raise NotAllowed()
    if end < start:
        raise PresenceError(_l("The last day must not be before the first day."), field="end")
    absence = Absence(person_id=person.id, start=start, end=end, created_by_id=by.id)
    session.add(absence)
    session.flush()
    record(
        session,
        action="absence.added",
        actor=by,
        object_type="person",
        object_id=person.id,
        after={"start": str(start), "end": str(end)},
    )
    return absence


def override_day(
    *, session: Session, person: Person, by: Person, day: date, in_office: bool, today: date
) -> None:
    """A supervisor puts someone in or out of the office on one day (future days only)."""
    if not is_supervisor_of(session, by, person):
        raise NotAllowed()
    if day < today:
        raise PresenceError(_l("Past days cannot be changed."), field="day")
    existing = session.exec(
        select(DayOverride).where(DayOverride.person_id == person.id, DayOverride.day == day)
    ).first()
    if existing is None:
        session.add(
            DayOverride(
                person_id=person.id,
                day=day,
                in_office=in_office,
                reason="override",
                created_by_id=by.id,
            )
        )
    else:
        existing.in_office, existing.reason, existing.swap_id = in_office, "override", None
    session.flush()
    record(
        session,
        action="presence.override",
        actor=by,
        object_type="person",
        object_id=person.id,
        after={"day": str(day), "in_office": in_office},
    )


def propose_swap(
    *,
    session: Session,
    requester: Person,
    colleague: Person,
    requester_day: date,
    colleague_day: date,
    statuses: Mapping[int, Mapping[date, object]],
    today: date,
) -> Swap:
    """Offer a colleague of the same unit one's office day for theirs."""
    if colleague.id == requester.id or colleague.unit_id != requester.unit_id:
        raise PresenceError(
            _l("You can only swap with a colleague of your unit."), field="colleague"
        )
    if min(requester_day, colleague_day) < today:
        raise PresenceError(_l("Past days cannot be swapped."), field="requester_day")
    if not plan.swap_is_valid(
        statuses[requester.id], statuses[colleague.id], requester_day, colleague_day
    ):
        raise PresenceError(
            _l(
                "This swap does not fit the plan: you must be in the office on the first day "
                "and at home on the second, your colleague the other way round."
            ),
            field="requester_day",
        )
    swap = Swap(
        requester_id=requester.id,
        colleague_id=colleague.id,
        requester_day=requester_day,
        colleague_day=colleague_day,
    )
    session.add(swap)
    session.flush()
    record(
        session,
        action="swap.proposed",
        actor=requester,
        object_type="swap",
        object_id=swap.id,
        after={"colleague": colleague.username, "days": [str(requester_day), str(colleague_day)]},
    )
    return swap


def answer_swap(*, session: Session, swap: Swap, by: Person, accept: bool) -> None:
    """The colleague confirms (the two days change hands) or declines."""
    if by.id != swap.colleague_id:
        raise NotAllowed()
    if swap.state != "proposed":
        raise PresenceError(_l("This swap has already been answered."))
    swap.state, swap.decided_at = ("confirmed" if accept else "declined"), utcnow()
    if accept:
        for person_id, day, in_office in (
            (swap.requester_id, swap.requester_day, False),
            (swap.colleague_id, swap.requester_day, True),
            (swap.colleague_id, swap.colleague_day, False),
            (swap.requester_id, swap.colleague_day, True),
        ):
            existing = session.exec(
                select(DayOverride).where(
                    DayOverride.person_id == person_id, DayOverride.day == day
                )
            ).first()
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(
                DayOverride(
                    person_id=person_id,
                    day=day,
                    in_office=in_office,
                    reason="swap",
                    swap_id=swap.id,
                    created_by_id=by.id,
                )
            )
    session.flush()
    record(session, action=f"swap.{swap.state}", actor=by, object_type="swap", object_id=swap.id)
    if accept:
        # The supervisor is told, so the unit's plan holds no surprises.
        from homeoffice.notifications.services import queue

        requester = session.get(Person, swap.requester_id)
        manager = session.get(Person, requester.manager_id) if requester.manager_id else None
        if manager is not None:
            queue(
                session,
                to=manager,
                event="swap.confirmed",
                template="swap_confirmed",
                swap=swap,
                requester=requester,
                colleague=by,
            )


# --- the calendar feed --------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_feed(*, session: Session, person: Person) -> str:
    """A new secret feed address; the previous one stops working. Returns the token."""
    for feed in session.exec(
        select(CalendarFeed).where(
            CalendarFeed.person_id == person.id, col(CalendarFeed.revoked_at).is_(None)
        )
    ).all():
        feed.revoked_at = utcnow()
    session.flush()
    token = secrets.token_urlsafe(32)
    session.add(CalendarFeed(person_id=person.id, token_hash=_hash(token)))
    session.flush()
    record(
        session,
        action="calendar.feed_created",
        actor=person,
        object_type="person",
        object_id=person.id,
    )
    return token


def revoke_feed(*, session: Session, person: Person) -> None:
    for feed in session.exec(
        select(CalendarFeed).where(
            CalendarFeed.person_id == person.id, col(CalendarFeed.revoked_at).is_(None)
        )
    ).all():
        feed.revoked_at = utcnow()
    record(
        session,
        action="calendar.feed_revoked",
        actor=person,
        object_type="person",
        object_id=person.id,
    )


def person_for_feed(session: Session, token: str) -> Person | None:
    feed = session.exec(
        select(CalendarFeed).where(
            CalendarFeed.token_hash == _hash(token), col(CalendarFeed.revoked_at).is_(None)
        )
    ).first()
    if feed is None:
        return None
    person = session.get(Person, feed.person_id)
    return person if person is not None and person.active else None


def replan(*, session: Session, config, today: date, by: Person | None = None) -> None:
    """Allocate rooms again after a change of the plan (from today on, past untouched).

    Called once per change (a rotation, groups, an absence, a swap, a single day, an
    agreement decided, revoked, started or ended), in the change's own transaction, so
    the rooms and the plan never disagree. ``by`` is who made the change, for the run's
    record; None for a job.
    """
    from homeoffice.rooms.models import PLAN_CHANGE, Room
    from homeoffice.rooms.services import run_allocation

    if session.exec(select(Room.id)).first() is not None:
        run_allocation(session=session, today=today, config=config, by=by, trigger=PLAN_CHANGE)


def person_days(session: Session, person: Person, *, start: date, end: date, holidays):
    """A person's day statuses and their rooms: ({day: DayStatus}, {day: (Room, Building)})."""
    days = {}
    unit = session.get(Unit, person.unit_id) if person.unit_id else None
    if unit is not None:
        unit_inputs = load_unit(session, unit, start=start, end=end)
        days = unit_inputs.days_of(person.id, start=start, end=end, holidays=holidays)
    seats = seats_between(session, start=start, end=end, person_id=person.id)
    return days, seats.get(person.id, {})


def seats_between(session: Session, *, start: date, end: date, person_id: int | None = None):
    """Allocated rooms from start to end, of one person or everybody, in one query:
    {person_id: {day: (Room, Building)}}."""
    from homeoffice.rooms.models import Building, Room, RoomAllocation

    statement = (
        select(RoomAllocation, Room, Building)
        .join(Room, Room.id == RoomAllocation.room_id)
        .join(Building, Building.id == Room.building_id)
        .where(RoomAllocation.day >= start, RoomAllocation.day <= end)
    )
    if person_id is not None:
        statement = statement.where(RoomAllocation.person_id == person_id)
    seats: dict[int, dict] = {}
    for row, room, building in session.exec(statement):
        seats.setdefault(row.person_id, {})[row.day] = (room, building)
    return seats
