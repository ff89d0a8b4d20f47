"""Requests, endorsements, decisions and agreements: every state change in one place.

Each function checks who may act, changes state, writes the audit event and queues
the mail, and never commits: the request boundary commits all of it or nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, func, select

import policies
from homeoffice.agreements.models import (
    ACTIVE,
    ALTERNATING,
    AMENDMENT,
    APPROVED,
    CURRENT_AGREEMENT_STATES,
    DRAFT,
    ENDED,
    ENDORSED,
    EXPIRED,
    NEW,
    OBJECTED,
    OPEN_REQUEST_STATES,
    REJECTED,
    RENEWAL,
    REVOKED,
    SHARE,
    SUBMITTED,
    WEEKDAYS,
    WITHDRAWN,
    Agreement,
    HomeOfficeRequest,
)
from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.notifications.services import queue
from homeoffice.people.models import HR, Person, Unit
from homeoffice.people.queries import holders_of
from homeoffice.refusal import Refusal
from homeoffice.tasks.models import (
    ADJUST_EXPIRY,
    GRANT_TERMINAL_SERVER,
    GRANT_VPN,
    ISSUE_LAPTOP,
    OPEN,
    RETURN_LAPTOP,
    REVOKE_ACCESS,
    ItTask,
)
from homeoffice.webhooks import services as webhooks
from homeoffice.webhooks.models import AGREEMENT_DECIDED

log = logging.getLogger(__name__)


class AgreementError(Refusal):
    """A request or agreement action refused."""


class NotAllowed(Exception):
    """The actor may not see or change this object (answered as 404 to hide it)."""


@dataclass
class RequestData:
    """The fields an employee may set on a request: an allow-list, nothing else."""

    reasons: frozenset[str]
    children_under_14: int
    youngest_child_age: int | None
    care_level: int | None
    commute_km: float | None
    commute_minutes: int | None
    health_certificate: bool
    other_text: str | None
    pattern: str
    share_percent: int | None
    weekdays: frozenset[int]
    start_date: date
    end_date: date | None
    wants_laptop: bool
    wants_vpn: bool
    wants_terminal_server: bool
    uses_private_computer: bool


# --- who may do what ------------------------------------------------------------------


def is_supervisor_of(session: Session, actor: Person, person: Person) -> bool:
    """The actor is the person's manager or heads the person's unit."""
    if person.id == actor.id:
        return False
    if person.manager_id == actor.id:
        return True
    if person.unit_id is None:
        return False
    unit = session.get(Unit, person.unit_id)
    return unit is not None and unit.head_id == actor.id


def can_read(session: Session, actor: Person, owner: Person) -> bool:
    return actor.id == owner.id or HR in actor.role_set or is_supervisor_of(session, actor, owner)


def can_see_health_details(actor: Person, owner: Person) -> bool:
    """Health is special-category data (GDPR Art. 9): the person and HR only."""
    return actor.id == owner.id or HR in actor.role_set


def load_request(session: Session, request_id: int, actor: Person, *, lock: bool = False):
    """The request and its owner, or NotAllowed when the actor may not read it.

    ``lock`` takes a row lock (PostgreSQL ``SELECT … FOR UPDATE``) so that two people
    deciding at the same moment are serialised and the second sees the first's result.
    """
    statement = select(HomeOfficeRequest).where(HomeOfficeRequest.id == request_id)
    if lock:
        # populate_existing: a row loaded earlier in this session is read again under
        # the lock, so the state we check is the one the lock protects.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    req = session.exec(statement).first()
    if req is None:
        raise NotAllowed()
    owner = session.get(Person, req.person_id)
    if not can_read(session, actor, owner):
        raise NotAllowed()
    return req, owner


def load_agreement(session: Session, agreement_id: int, actor: Person, *, lock: bool = False):
    statement = select(Agreement).where(Agreement.id == agreement_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    agreement = session.exec(statement).first()
    if agreement is None:
        raise NotAllowed()
    owner = session.get(Person, agreement.person_id)
    if not can_read(session, actor, owner):
        raise NotAllowed()
    return agreement, owner


# --- eligibility ----------------------------------------------------------------------


def days_per_week(pattern: str, share_percent: int | None, weekdays) -> float:
    if pattern == WEEKDAYS:
        return float(len(weekdays))
    if pattern == ALTERNATING:
        return 2.5  # every other week at home: half of a five-day week
    return round((share_percent or 0) * 5 / 100, 2)


def policy_request(data) -> policies.Request:
    """The facts the policy engine needs, from form data or a stored request."""
    weekdays = data.weekdays if isinstance(data, RequestData) else data.weekday_set
    reasons = data.reasons if isinstance(data, RequestData) else data.reason_set
    return policies.Request(
        reasons=frozenset(reasons),
        children_under_14=data.children_under_14 or 0,
        youngest_child_age=data.youngest_child_age,
        care_level=data.care_level,
        commute_km=data.commute_km,
        commute_minutes=data.commute_minutes,
        health_certificate=bool(data.health_certificate),
        other_text=data.other_text or "",
        days_per_week=days_per_week(data.pattern, data.share_percent, weekdays),
        start=data.start_date,
        end=data.end_date,
    )


def evaluate(session: Session, *, data, person: Person, rule_book) -> policies.Verdict:
    unit = session.get(Unit, person.unit_id) if person.unit_id else None
    return policies.evaluate(
        policy_request(data),
        policies.Person(unit=unit.name if unit else None),
        policies.Context(on=data.start_date, rule_book=rule_book),
    )


# --- the employee's request -----------------------------------------------------------


def _open_request_of(session: Session, person: Person) -> HomeOfficeRequest | None:
    return session.exec(
        select(HomeOfficeRequest).where(
            HomeOfficeRequest.person_id == person.id,
            col(HomeOfficeRequest.state).in_(OPEN_REQUEST_STATES),
        )
    ).first()


def current_agreement(session: Session, person: Person) -> Agreement | None:
    return session.exec(
        select(Agreement)
        .where(Agreement.person_id == person.id, col(Agreement.state).in_(CURRENT_AGREEMENT_STATES))
        .order_by(Agreement.start_date.desc())
    ).first()


def create_request(
    *,
    session: Session,
    person: Person,
    data: RequestData,
    rule_book,
    submit: bool,
    kind: str = NEW,
    agreement_id: int | None = None,
) -> HomeOfficeRequest:
    """Store a request (as draft or sent) with the verdict it got when it was made."""
    if _open_request_of(session, person) is not None:
        raise AgreementError(
            _l("You already have an open request. Withdraw it first or wait for the decision.")
        )
    agreement = None
    if kind in (AMENDMENT, RENEWAL):
        agreement = session.get(Agreement, agreement_id) if agreement_id else None
        if (
            agreement is None
            or agreement.person_id != person.id
            or agreement.state not in CURRENT_AGREEMENT_STATES
        ):
            raise AgreementError(_l("There is no current agreement to change or renew."))
    elif current_agreement(session, person) is not None:
        raise AgreementError(
            _l("You already have an agreement. Ask for a change or a renewal of it instead.")
        )
    verdict = evaluate(session, data=data, person=person, rule_book=rule_book)
    req = HomeOfficeRequest(
        person_id=person.id,
        kind=kind,
        agreement_id=agreement.id if agreement else None,
        state=SUBMITTED if submit else DRAFT,
        reasons=" ".join(sorted(data.reasons)),
        children_under_14=data.children_under_14,
        youngest_child_age=data.youngest_child_age,
        care_level=data.care_level,
        commute_km=data.commute_km,
        commute_minutes=data.commute_minutes,
        health_certificate=data.health_certificate,
        other_text=data.other_text,
        pattern=data.pattern,
        share_percent=data.share_percent if data.pattern == SHARE else None,
        weekdays=",".join(str(d) for d in sorted(data.weekdays))
        if data.pattern == WEEKDAYS
        else None,
        start_date=data.start_date,
        end_date=data.end_date,
        wants_laptop=data.wants_laptop,
        wants_vpn=data.wants_vpn and not data.uses_private_computer,
        wants_terminal_server=data.wants_terminal_server or data.uses_private_computer,
        uses_private_computer=data.uses_private_computer,
        verdict=verdict.as_dict(),
        eligible=verdict.eligible,
        rule_set=verdict.rule_set,
        priority=verdict.priority,
        submitted_at=utcnow() if submit else None,
    )
    session.add(req)
    session.flush()
    record(
        session,
        action="request.submitted" if submit else "request.drafted",
        actor=person,
        object_type="request",
        object_id=req.id,
        after={
            "state": req.state,
            "kind": kind,
            "eligible": verdict.eligible,
            "rule_set": verdict.rule_set,
        },
    )
    if submit:
        _notify_submitted(session, req, person)
    return req


def submit_draft(*, session: Session, req: HomeOfficeRequest, by: Person, rule_book) -> None:
    if req.person_id != by.id:
        raise NotAllowed()
    _require_state(req, (DRAFT,))
    # The verdict is taken again: rules may have changed since the draft was saved.
    verdict = evaluate(session, data=req, person=by, rule_book=rule_book)
    req.verdict, req.eligible = verdict.as_dict(), verdict.eligible
    req.rule_set, req.priority = verdict.rule_set, verdict.priority
    req.state, req.submitted_at = SUBMITTED, utcnow()
    record(
        session,
        action="request.submitted",
        actor=by,
        object_type="request",
        object_id=req.id,
        before={"state": DRAFT},
        after={"state": SUBMITTED},
    )
    _notify_submitted(session, req, by)


def withdraw(*, session: Session, req: HomeOfficeRequest, by: Person) -> None:
    if req.person_id != by.id:
        raise NotAllowed()
    _require_state(req, OPEN_REQUEST_STATES)
    before = req.state
    req.state, req.withdrawn_at = WITHDRAWN, utcnow()
    record(
        session,
        action="request.withdrawn",
        actor=by,
        object_type="request",
        object_id=req.id,
        before={"state": before},
        after={"state": WITHDRAWN},
    )


# --- the supervisor -------------------------------------------------------------------


def endorse(
    *, session: Session, req: HomeOfficeRequest, owner: Person, by: Person, agree: bool, note: str
) -> None:
    """The supervisor endorses or objects (with a reason); HR decides either way."""
    if not is_supervisor_of(session, by, owner):
        raise NotAllowed()
    _require_state(req, (SUBMITTED,))
    note = (note or "").strip()
    if not agree and not note:
        raise AgreementError(_l("Please give a reason for the objection."), field="note")
    req.state = ENDORSED if agree else OBJECTED
    req.endorsed_by_id, req.endorsed_at = by.id, utcnow()
    req.endorsement_note = note or None
    record(
        session,
        action="request.endorsed" if agree else "request.objected",
        actor=by,
        object_type="request",
        object_id=req.id,
        before={"state": SUBMITTED},
        after={"state": req.state},
    )
    for hr_person in holders_of(session, HR):
        queue(
            session,
            to=hr_person,
            event=f"request.{req.state}",
            template="request_for_hr",
            req=req,
            owner=owner,
        )


# --- HR -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadEntry:
    """One current agreement as the quota sees it: whose, when, and how many days at
    home it adds on each weekday (Monday first)."""

    person_id: int
    start: date
    end: date | None
    per_day: tuple[float, float, float, float, float]


def _per_day(weekdays: str | None, per_week: float) -> tuple[float, ...]:
    fixed = {int(d) for d in (weekdays or "").split(",") if d}
    if fixed:
        return tuple(1.0 if day in fixed else 0.0 for day in range(1, 6))
    return (per_week / 5,) * 5


def current_agreements_of_units(session: Session, unit_ids) -> dict[int, list[LoadEntry]]:
    """Current agreements per unit, as light entries — one query for many units."""
    unit_ids = {u for u in unit_ids if u}
    result: dict[int, list[LoadEntry]] = {u: [] for u in unit_ids}
    if not unit_ids:
        return result
    rows = session.exec(
        select(
            Person.unit_id,
            Agreement.person_id,
            Agreement.start_date,
            Agreement.end_date,
            Agreement.weekdays,
            Agreement.days_per_week,
        )
        .join(Person, Person.id == Agreement.person_id)
        .where(
            col(Person.unit_id).in_(unit_ids),
            col(Person.active).is_(True),
            col(Agreement.state).in_(CURRENT_AGREEMENT_STATES),
        )
    ).all()
    for unit_id, person_id, start, end, weekdays, per_week in rows:
        result[unit_id].append(LoadEntry(person_id, start, end, _per_day(weekdays, per_week)))
    return result


def staff_of_units(session: Session, unit_ids) -> dict[int, int]:
    unit_ids = {u for u in unit_ids if u}
    if not unit_ids:
        return {}
    rows = session.exec(
        select(Person.unit_id, func.count())
        .where(col(Person.unit_id).in_(unit_ids), col(Person.active).is_(True))
        .group_by(Person.unit_id)
    ).all()
    return dict(rows)


def weekday_load(
    entries, *, start: date, end: date | None, excluding_person: int | None
) -> dict[int, float]:
    """Expected number of people at home on each weekday (1-5) during a term.

    Fixed weekdays count fully on their day; a share of the week or alternating weeks
    counts as that share on every day, since those days are not fixed in advance.
    """
    totals = [0.0] * 5
    last = end or date.max
    for entry in entries:
        if entry.person_id == excluding_person or entry.start > last:
            continue
        if entry.end is not None and entry.end < start:
            continue
        for index, value in enumerate(entry.per_day):
            totals[index] += value
    return {day: totals[day - 1] for day in range(1, 6)}


@dataclass
class QuotaReport:
    unit_staff: int
    by_day: dict[int, policies.QuotaCheck]

    @property
    def allowed(self) -> bool:
        return all(check.allowed for check in self.by_day.values())


def quota_for(
    req: HomeOfficeRequest, *, unit_name: str, staff: int, agreements, rule_book
) -> QuotaReport:
    """The unit's quota on each weekday if this request were approved (no I/O)."""
    try:
        rule_set = rule_book.get(req.rule_set)
    except KeyError:
        rule_set = rule_book.active_on(req.start_date)[0]
    load = weekday_load(
        agreements, start=req.start_date, end=req.end_date, excluding_person=req.person_id
    )
    mine = days_per_week(req.pattern, req.share_percent, req.weekday_set)
    by_day = {}
    for day, away in load.items():
        if req.pattern == WEEKDAYS:
            adding = 1.0 if day in req.weekday_set else 0.0
        else:
            adding = mine / 5
        before = math.ceil(round(away, 6))
        after = math.ceil(round(away + adding, 6))
        by_day[day] = policies.check_quota(
            rule_set, unit=unit_name, unit_staff=staff, away_on_day=before, adding=after - before
        )
    return QuotaReport(unit_staff=staff, by_day=by_day)


def quota_report(
    session: Session, *, req: HomeOfficeRequest, owner: Person, rule_book
) -> QuotaReport:
    unit = session.get(Unit, owner.unit_id) if owner.unit_id else None
    unit_id = unit.id if unit else None
    return quota_for(
        req,
        unit_name=unit.name if unit else "",
        staff=staff_of_units(session, [unit_id]).get(unit_id, 0),
        agreements=current_agreements_of_units(session, [unit_id]).get(unit_id, []),
        rule_book=rule_book,
    )


def decide(
    *,
    session: Session,
    req: HomeOfficeRequest,
    owner: Person,
    by: Person,
    approve: bool,
    reason: str,
    override_reason: str,
    conditions: str,
    rule_book,
    today: date,
    config: Mapping | None = None,
) -> Agreement | None:
    """HR approves (creating the agreement) or rejects (with a reason).

    An approval changes the person's office days from its start on, so the rooms are
    allocated again from ``today`` (see `_replan`); a rejection changes no plan.
    """
    if HR not in by.role_set:
        raise NotAllowed()
    if owner.id == by.id:
        raise AgreementError(_l("Nobody may decide their own request."))
    allowed_from = (ENDORSED, OBJECTED) if owner.manager_id else (SUBMITTED, ENDORSED, OBJECTED)
    if req.state == SUBMITTED and owner.manager_id:
        raise AgreementError(_l("The supervisor has not yet endorsed this request."))
    _require_state(req, allowed_from)
    reason, override_reason = (reason or "").strip(), (override_reason or "").strip()
    before = req.state
    if not approve:
        if not reason:
            raise AgreementError(_l("Please give a reason for the rejection."), field="reason")
        req.state, req.decided_by_id, req.decided_at = REJECTED, by.id, utcnow()
        req.decision_reason = reason
        record(
            session,
            action="request.rejected",
            actor=by,
            object_type="request",
            object_id=req.id,
            before={"state": before},
            after={"state": REJECTED},
        )
        _notify_decided(session, req, owner)
        webhooks.emit(session, AGREEMENT_DECIDED, webhooks.decision_payload(req, owner))
        return None

    if not req.eligible and not override_reason:
        raise AgreementError(
            _l(
                "The request is not eligible under the rules. "
                "Give an exception reason to approve it."
            ),
            field="override_reason",
        )
    quota = quota_report(session, req=req, owner=owner, rule_book=rule_book)
    if not quota.allowed and not override_reason:
        raise AgreementError(
            _l(
                "Approving would exceed the unit's quota. "
                "Give an override reason to approve anyway."
            ),
            field="override_reason",
        )
    req.state, req.decided_by_id, req.decided_at = APPROVED, by.id, utcnow()
    req.decision_reason = reason or None
    req.override_reason = override_reason or None
    agreement = _create_agreement(session, req=req, conditions=conditions, today=today, by=by)
    record(
        session,
        action="request.approved",
        actor=by,
        object_type="request",
        object_id=req.id,
        before={"state": before},
        after={
            "state": APPROVED,
            "agreement_id": agreement.id,
            "rule_set": agreement.rule_set,
            "override": bool(override_reason),
        },
    )
    _notify_decided(session, req, owner)
    webhooks.emit(session, AGREEMENT_DECIDED, webhooks.decision_payload(req, owner, agreement))
    _replan(session, today=today, by=by, config=config)
    return agreement


def _replan(session: Session, *, today: date, by: Person | None, config: Mapping | None) -> None:
    """Allocate rooms again from ``today`` after an agreement changed someone's office
    days, in the same transaction; past days keep their rooms.

    ``config`` defaults to the app's (every caller runs in an app context). Imported
    here because the presence services import this module.
    """
    from flask import current_app

    from homeoffice.presence.services import replan

    replan(
        session=session,
        config=config if config is not None else current_app.config,
        today=today,
        by=by,
    )


def _create_agreement(
    session: Session, *, req: HomeOfficeRequest, conditions: str, today: date, by: Person
) -> Agreement:
    previous = session.get(Agreement, req.agreement_id) if req.agreement_id else None
    kind = "temporary" if (req.rule_set or "").startswith("infection_control") else "ordinary"
    agreement = Agreement(
        person_id=req.person_id,
        request_id=req.id,
        replaces_id=previous.id if previous else None,
        state=APPROVED,
        kind=kind,
        start_date=req.start_date,
        end_date=req.end_date,
        pattern=req.pattern,
        share_percent=req.share_percent,
        weekdays=req.weekdays,
        days_per_week=days_per_week(req.pattern, req.share_percent, req.weekday_set),
        rule_set=req.rule_set or "",
        conditions=(conditions or "").strip() or None,
    )
    if previous is not None and previous.state in CURRENT_AGREEMENT_STATES:
        # The new agreement takes over; the old one ends when it starts.
        _finish(
            session,
            previous,
            state=ENDED,
            reason=f"replaced by request {req.id}",
            by=by,
            today=today,
            tasks=False,
        )
    session.add(agreement)
    session.flush()
    held = _open_handovers(session, previous.id) if previous is not None else []
    for handover in held:
        # A change or renewal keeps the laptop: it now belongs to the new agreement.
        handover.agreement_id, handover.expected_return = agreement.id, agreement.end_date
    if previous is not None:
        from homeoffice.access.models import ACTIVE as CREDENTIAL_ACTIVE
        from homeoffice.access.models import TERMINAL_SERVER_GROUP, VPN_GROUP, Credential

        # Access issued for the old agreement carries over too. A changed end date must
        # reach the directory's account expiry; that needs the directory, which an HR
        # decision does not wait for, so it is a task the revoke_access job carries out.
        carried = session.exec(
            select(Credential).where(
                Credential.agreement_id == previous.id, Credential.state == CREDENTIAL_ACTIVE
            )
        ).all()
        for credential in carried:
            credential.agreement_id, credential.expires_on = agreement.id, agreement.end_date
        if previous.end_date != agreement.end_date and any(
            c.kind in (VPN_GROUP, TERMINAL_SERVER_GROUP) for c in carried
        ):
            session.add(
                ItTask(
                    agreement_id=agreement.id,
                    person_id=req.person_id,
                    kind=ADJUST_EXPIRY,
                    due_date=today,
                )
            )
    for wanted, kind_ in (
        (req.wants_laptop, ISSUE_LAPTOP),
        (req.wants_vpn, GRANT_VPN),
        (req.wants_terminal_server, GRANT_TERMINAL_SERVER),
    ):
        if wanted and not (kind_ == ISSUE_LAPTOP and held):
            session.add(
                ItTask(
                    agreement_id=agreement.id,
                    person_id=req.person_id,
                    kind=kind_,
                    due_date=req.start_date,
                )
            )
    record(
        session,
        action="agreement.created",
        actor=by,
        object_type="agreement",
        object_id=agreement.id,
        after={
            "state": APPROVED,
            "start": str(req.start_date),
            "end": str(req.end_date),
            "rule_set": agreement.rule_set,
        },
    )
    if agreement.start_date <= today:
        _activate(session, agreement, by=by)
    return agreement


def _activate(session: Session, agreement: Agreement, *, by: Person | None) -> None:
    agreement.state, agreement.activated_at = ACTIVE, utcnow()
    session.flush()
    record(
        session,
        action="agreement.activated",
        actor=by,
        object_type="agreement",
        object_id=agreement.id,
        before={"state": APPROVED},
        after={"state": ACTIVE},
    )


def _finish(
    session: Session,
    agreement: Agreement,
    *,
    state: str,
    reason: str,
    by: Person | None,
    today: date,
    tasks: bool = True,
) -> None:
    """End an agreement; ``today`` is the caller's day (the job clock's in the lifecycle
    jobs), so the access and the laptop fall due on the day the agreement ended."""
    before = agreement.state
    agreement.state, agreement.ended_at, agreement.end_reason = state, utcnow(), reason
    session.flush()
    if tasks:
        request = session.get(HomeOfficeRequest, agreement.request_id)
        session.add(
            ItTask(
                agreement_id=agreement.id,
                person_id=agreement.person_id,
                kind=REVOKE_ACCESS,
                due_date=today,
            )
        )
        for handover in _open_handovers(session, agreement.id):
            # Due back now, not at the end the agreement would have had.
            if handover.expected_return is None or handover.expected_return > today:
                handover.expected_return = today
        if request is not None and request.wants_laptop:
            session.add(
                ItTask(
                    agreement_id=agreement.id,
                    person_id=agreement.person_id,
                    kind=RETURN_LAPTOP,
                    due_date=today,
                )
            )
        # Open hand-out tasks make no sense any more.
        for task in session.exec(
            select(ItTask).where(
                ItTask.agreement_id == agreement.id,
                ItTask.state == OPEN,
                col(ItTask.kind).in_((ISSUE_LAPTOP, GRANT_VPN, GRANT_TERMINAL_SERVER)),
            )
        ).all():
            task.state = "cancelled"
    record(
        session,
        action=f"agreement.{state}",
        actor=by,
        object_type="agreement",
        object_id=agreement.id,
        before={"state": before},
        after={"state": state},
        detail=reason,
    )


def _open_handovers(session: Session, agreement_id: int) -> list:
    """Laptops still out under an agreement (devices import agreements, not the reverse)."""
    from homeoffice.devices.models import Handover

    return list(
        session.exec(
            select(Handover).where(
                Handover.agreement_id == agreement_id, col(Handover.returned_on).is_(None)
            )
        ).all()
    )


def revoke(
    *,
    session: Session,
    agreement: Agreement,
    owner: Person,
    by: Person,
    reason: str,
    today: date | None = None,
    config: Mapping | None = None,
) -> None:
    """HR ends a current agreement early; the person is back in the office from today,
    so the rooms are allocated again from today."""
    if HR not in by.role_set:
        raise NotAllowed()
    if owner.id == by.id:
        raise AgreementError(_l("Nobody may decide on their own agreement."))
    if agreement.state not in CURRENT_AGREEMENT_STATES:
        raise AgreementError(_l("Only a current agreement can be revoked."))
    reason = (reason or "").strip()
    if not reason:
        raise AgreementError(_l("Please give a reason for the revocation."))
    today = today or date.today()
    _finish(session, agreement, state=REVOKED, reason=reason, by=by, today=today)
    queue(
        session,
        to=owner,
        event="agreement.revoked",
        template="agreement_revoked",
        agreement=agreement,
        reason=reason,
    )
    _replan(session, today=today, by=by, config=config)


def verify_health_certificate(
    *, session: Session, agreement: Agreement, owner: Person, by: Person
) -> None:
    if HR not in by.role_set or owner.id == by.id:
        raise NotAllowed()
    if agreement.health_verified:
        return
    agreement.health_verified = True
    record(
        session,
        action="agreement.health_verified",
        actor=by,
        object_type="agreement",
        object_id=agreement.id,
        before={"health_verified": False},
        after={"health_verified": True},
    )


def record_health_view(session: Session, *, by: Person, object_type: str, object_id: int) -> None:
    """Every view of health details by HR is logged, without the details."""
    record(session, action="health.viewed", actor=by, object_type=object_type, object_id=object_id)


def finish_agreement(
    session: Session,
    agreement: Agreement,
    *,
    state: str,
    reason: str,
    by: Person | None,
    today: date,
) -> None:
    """End an agreement outside the HR screens (e.g. its holder left the administration):
    the same IT tasks and audit event as a revocation by HR."""
    _finish(session, agreement, state=state, reason=reason, by=by, today=today)


# --- dates drive states (called by the lifecycle job) ---------------------------------


def apply_dates(session: Session, *, today: date, config: Mapping | None = None) -> dict[str, int]:
    """Activate agreements whose start has come, expire those whose end has passed.

    When any agreement changed state, the rooms are allocated again once, at the end.
    """
    # Row locks: apply_dates and revoke_access (which calls this first) hold leases of
    # their own and may overlap; the second waits and then sees the rows no longer match,
    # instead of ending an agreement twice.
    started = session.exec(
        select(Agreement)
        .where(Agreement.state == APPROVED, Agreement.start_date <= today)
        .with_for_update()
    ).all()
    for agreement in started:
        _activate(session, agreement, by=None)
    ended = session.exec(
        select(Agreement)
        .where(
            col(Agreement.state).in_(CURRENT_AGREEMENT_STATES),
            col(Agreement.end_date).is_not(None),
            col(Agreement.end_date) < today,
        )
        .with_for_update()
    ).all()
    for agreement in ended:
        _finish(session, agreement, state=EXPIRED, reason="end date passed", by=None, today=today)
    if started or ended:
        _replan(session, today=today, by=None, config=config)
    return {"activated": len(started), "expired": len(ended)}


# --- helpers --------------------------------------------------------------------------


def _require_state(req: HomeOfficeRequest, allowed) -> None:
    if req.state not in allowed:
        raise AgreementError(
            _l("This is not possible in the request's current state (%(state)s).", state=req.state)
        )


def _notify_submitted(session: Session, req: HomeOfficeRequest, owner: Person) -> None:
    queue(session, to=owner, event="request.submitted", template="request_received", req=req)
    manager = session.get(Person, owner.manager_id) if owner.manager_id else None
    if manager is not None:
        queue(
            session,
            to=manager,
            event="request.submitted",
            template="request_for_supervisor",
            req=req,
            owner=owner,
        )
    else:
        for hr_person in holders_of(session, HR):
            queue(
                session,
                to=hr_person,
                event="request.submitted",
                template="request_for_hr",
                req=req,
                owner=owner,
            )


def _notify_decided(session: Session, req: HomeOfficeRequest, owner: Person) -> None:
    queue(session, to=owner, event=f"request.{req.state}", template="request_decided", req=req)
    manager = session.get(Person, owner.manager_id) if owner.manager_id else None
    if manager is not None:
        queue(
            session,
            to=manager,
            event=f"request.{req.state}",
            template="request_decided",
            req=req,
            owner=owner,
        )
