"""Next week's plan, mailed to each person before the week starts.

The plan is derived as on "my week" (rotation, agreement, absences, holidays, single-day
changes) with the rooms allocated so far; the calendar feed shows the same days. Once per
week: the job's run record for the week makes a second run a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from sqlmodel import Session, col, func, select

from homeoffice.notifications.services import queue
from homeoffice.people.models import Person, Unit
from homeoffice.presence.services import load_unit, seats_between


def next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


def publish_weekly_plan(session: Session, *, config: Mapping, monday: date) -> dict[str, int]:
    """Queue one mail per active person of a unit with the week from ``monday``.

    Per unit a fixed number of queries (``load_unit``) plus one for all rooms: the job's
    cost grows with the number of units, not with the number of people.
    """
    from homeoffice.rooms.services import holidays_for

    friday = monday + timedelta(days=4)
    holidays = holidays_for(config, monday, friday)
    seats = seats_between(session, start=monday, end=friday)
    mails = people = 0
    for unit in session.exec(select(Unit).order_by(Unit.id)).all():
        inputs = load_unit(session, unit, start=monday, end=friday)
        for person in inputs.people:
            days = inputs.days_of(person.id, start=monday, end=friday, holidays=holidays)
            people += 1
            if not person.mail:
                continue
            queue(
                session,
                to=person,
                event="plan.weekly",
                template="weekly_plan",
                monday=monday,
                days=days,
                seats=seats.get(person.id, {}),
            )
            mails += 1
    return {"people": people, "mails": mails, "without_unit": people_without_unit(session)}


def people_without_unit(session: Session) -> int:
    """Active people the weekly mail cannot reach: no unit, hence no plan."""
    return session.exec(
        select(func.count()).where(col(Person.active).is_(True), col(Person.unit_id).is_(None))
    ).one()
