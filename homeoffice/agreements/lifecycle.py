"""What the calendar does to agreements without anyone clicking: reminders before the end,
the end of a leaver's agreements, and erasing health details after the retention period.

Called by the scheduled jobs (``homeoffice.jobs.runner``); each function works in the
caller's transaction and is safe to run twice: reminders are recorded and never sent again,
leavers' agreements end once, erased details stay erased.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from homeoffice.agreements.models import (
    AMENDMENT,
    CURRENT_AGREEMENT_STATES,
    OPEN_REQUEST_STATES,
    RENEWAL,
    REVOKED,
    Agreement,
    HomeOfficeRequest,
)
from homeoffice.agreements.queries import people_by_id
from homeoffice.audit.services import record
from homeoffice.jobs.models import Reminder
from homeoffice.notifications.services import queue
from homeoffice.people.models import HR, IT, Person
from homeoffice.people.queries import holders_of

AGREEMENT_END = "agreement_end"
DEVICE_OVERDUE = "device_overdue"

#: states of a request that is finished: nothing in it is needed for a decision any more
CLOSED_REQUEST_STATES = ("rejected", "withdrawn")
#: states of an agreement that has ended
ENDED_AGREEMENT_STATES = ("expired", "revoked")


def _sent(session: Session, kind: str, ids: Sequence[int]) -> set[tuple[int, str]]:
    if not ids:
        return set()
    rows = session.exec(
        select(Reminder.object_id, Reminder.stage).where(
            Reminder.kind == kind, col(Reminder.object_id).in_(ids)
        )
    ).all()
    return {(object_id, stage) for object_id, stage in rows}


def send_end_reminders(session: Session, *, today: date, days: Sequence[int]) -> dict[str, int]:
    """Remind the employee, their supervisor and HR that an agreement ends soon.

    One reminder per stage (e.g. 30 and 7 days before the end). A run that comes late,
    or an agreement approved with little time left, sends only the nearest stage and
    marks the earlier ones as done: nobody gets "30 days left" after "7 days left".
    Agreements that a renewal or change is already under way for are left alone.
    """
    stages = sorted(set(days))
    if not stages:
        return {"agreements": 0, "mails": 0}
    rows = session.exec(
        select(Agreement, Person)
        .join(Person, Person.id == Agreement.person_id)
        .where(
            col(Agreement.state).in_(CURRENT_AGREEMENT_STATES),
            col(Agreement.end_date).is_not(None),
            col(Agreement.end_date) >= today,
            col(Agreement.end_date) <= today + timedelta(days=stages[-1]),
            col(Person.active).is_(True),
        )
        .order_by(Agreement.end_date, Agreement.id)
    ).all()
    ids = [agreement.id for agreement, _ in rows]
    sent = _sent(session, AGREEMENT_END, ids)
    followed = _followed_up(session, ids)
    managers = people_by_id(session, [person.manager_id for _, person in rows])
    reminded: list[tuple[Agreement, Person, int]] = []
    mails = 0
    for agreement, person in rows:
        remaining = (agreement.end_date - today).days
        due = [stage for stage in stages if remaining <= stage]
        if agreement.id in followed or (agreement.id, str(due[0])) in sent:
            continue
        for stage in due:
            if (agreement.id, str(stage)) not in sent:
                session.add(Reminder(kind=AGREEMENT_END, object_id=agreement.id, stage=str(stage)))
        context = {"agreement": agreement, "owner": person, "days_left": remaining}
        queue(session, to=person, event="agreement.ending", template="agreement_ending", **context)
        mails += 1
        manager = managers.get(person.manager_id)
        if manager is not None and manager.active:
            queue(
                session,
                to=manager,
                event="agreement.ending",
                template="agreement_ending_supervisor",
                **context,
            )
            mails += 1
        reminded.append((agreement, person, remaining))
    if reminded:
        # HR gets one list per run rather than a mail per agreement.
        for clerk in holders_of(session, HR):
            queue(
                session,
                to=clerk,
                event="agreement.ending",
                template="agreements_ending_hr",
                reminded=reminded,
            )
            mails += 1
    session.flush()
    return {"agreements": len(reminded), "mails": mails}


def _followed_up(session: Session, ids: Sequence[int]) -> set[int]:
    """Agreements with an open renewal or change request, or a follow-up agreement."""
    if not ids:
        return set()
    requested = session.exec(
        select(HomeOfficeRequest.agreement_id).where(
            col(HomeOfficeRequest.agreement_id).in_(ids),
            col(HomeOfficeRequest.kind).in_((RENEWAL, AMENDMENT)),
            or_(
                col(HomeOfficeRequest.state).in_(OPEN_REQUEST_STATES),
                HomeOfficeRequest.state == "approved",
            ),
        )
    ).all()
    replaced = session.exec(
        select(Agreement.replaces_id).where(col(Agreement.replaces_id).in_(ids))
    ).all()
    return {agreement_id for agreement_id in (*requested, *replaced) if agreement_id}


def remind_overdue_devices(session: Session, *, today: date) -> dict[str, int]:
    """Once a week per device that is overdue: a mail to the person and a list to IT."""
    from homeoffice.devices.services import overdue

    week = "{}-W{:02d}".format(*today.isocalendar()[:2])
    rows = overdue(session, today)
    sent = _sent(session, DEVICE_OVERDUE, [handover.id for handover, _, _ in rows])
    due = [(h, p, d) for h, p, d in rows if (h.id, week) not in sent]
    mails = 0
    for handover, person, device in due:
        session.add(Reminder(kind=DEVICE_OVERDUE, object_id=handover.id, stage=week))
        if person.active:
            queue(
                session,
                to=person,
                event="device.overdue",
                template="device_overdue",
                handover=handover,
                device=device,
                days_overdue=(today - handover.expected_return).days,
            )
            mails += 1
    if due:
        for clerk in holders_of(session, IT):
            queue(
                session,
                to=clerk,
                event="device.overdue",
                template="devices_overdue_it",
                overdue=[(h, p, d, (today - h.expected_return).days) for h, p, d in due],
            )
            mails += 1
    session.flush()
    return {"devices": len(due), "mails": mails}


def end_agreements_of(session: Session, person: Person, *, reason: str, today: date) -> int:
    """End the current agreements of someone who has left: revoked, access and devices
    become due back (the revocation job takes the access within its interval)."""
    from homeoffice.agreements.services import finish_agreement

    agreements = session.exec(
        select(Agreement).where(
            Agreement.person_id == person.id, col(Agreement.state).in_(CURRENT_AGREEMENT_STATES)
        )
    ).all()
    for agreement in agreements:
        finish_agreement(session, agreement, state=REVOKED, reason=reason, by=None, today=today)
    return len(agreements)


def erase_health_details(session: Session, *, today: date, retention_days: int) -> dict[str, int]:
    """Erase what a request said about health once it is no longer needed.

    Concerned are requests that gave health as a reason and whose agreement ended, or
    that were rejected or withdrawn, more than ``retention_days`` ago. The reason
    "health", the certificate flag, the free texts (which may name an illness) and the
    stored verdict (which explains the reasons) are removed; the agreement's verified
    flag too. What remains is what the agreement was: dates, days, decision. Each erasure
    is audited without the erased data.
    """
    cutoff = datetime.combine(today - timedelta(days=retention_days), time.min, tzinfo=UTC)
    health = or_(
        col(HomeOfficeRequest.reasons).contains("health"),
        col(HomeOfficeRequest.health_certificate).is_(True),
    )
    ended = session.exec(
        select(HomeOfficeRequest, Agreement)
        .join(Agreement, Agreement.request_id == HomeOfficeRequest.id)
        .where(
            health,
            col(Agreement.state).in_(ENDED_AGREEMENT_STATES),
            col(Agreement.ended_at) < cutoff,
        )
    ).all()
    closed = session.exec(
        select(HomeOfficeRequest).where(
            health,
            col(HomeOfficeRequest.state).in_(CLOSED_REQUEST_STATES),
            or_(
                col(HomeOfficeRequest.decided_at) < cutoff,
                col(HomeOfficeRequest.withdrawn_at) < cutoff,
            ),
        )
    ).all()
    erased = 0
    for req, agreement in [*ended, *((req, None) for req in closed)]:
        if "health" not in req.reason_set and not req.health_certificate:
            continue  # "contains" matched another word; nothing to erase
        reasons = [reason for reason in req.reasons.split() if reason != "health"]
        req.reasons = " ".join(reasons)
        req.health_certificate = False
        req.other_text = req.endorsement_note = None
        req.decision_reason = req.override_reason = None
        req.verdict = None
        if agreement is not None:
            agreement.health_verified = False
            agreement.conditions = agreement.end_reason = None
        record(
            session,
            action="retention.health_erased",
            actor=None,
            object_type="request",
            object_id=req.id,
            detail={"agreement_id": agreement.id if agreement else None},
        )
        erased += 1
    session.flush()
    return {"erased": erased}
