"""Read-only queries of the agreement pages; each a fixed number of statements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, or_, select

from homeoffice.agreements.models import (
    CURRENT_AGREEMENT_STATES,
    OPEN_REQUEST_STATES,
    Agreement,
    HomeOfficeRequest,
)
from homeoffice.pagination import Page, paginate
from homeoffice.people.models import Person, Unit


@dataclass
class RequestRow:
    request: HomeOfficeRequest
    person: Person
    unit_name: str | None


def my_requests(session: Session, person: Person) -> list[HomeOfficeRequest]:
    return list(
        session.exec(
            select(HomeOfficeRequest)
            .where(HomeOfficeRequest.person_id == person.id)
            .order_by(HomeOfficeRequest.created_at.desc(), HomeOfficeRequest.id.desc())
        ).all()
    )


def my_agreements(session: Session, person: Person) -> list[Agreement]:
    return list(
        session.exec(
            select(Agreement)
            .where(Agreement.person_id == person.id)
            .order_by(Agreement.start_date.desc(), Agreement.id.desc())
        ).all()
    )


def _team_condition(supervisor: Person):
    headed = select(Unit.id).where(Unit.head_id == supervisor.id)
    return (Person.id != supervisor.id) & or_(
        Person.manager_id == supervisor.id, col(Person.unit_id).in_(headed)
    )


def team_requests(session: Session, supervisor: Person) -> list[RequestRow]:
    rows = session.exec(
        select(HomeOfficeRequest, Person, Unit.name)
        .join(Person, Person.id == HomeOfficeRequest.person_id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .where(_team_condition(supervisor), col(HomeOfficeRequest.state).in_(OPEN_REQUEST_STATES))
        .order_by(HomeOfficeRequest.submitted_at, HomeOfficeRequest.id)
    ).all()
    return [RequestRow(r, p, u) for r, p, u in rows]


def team_agreements(session: Session, supervisor: Person) -> list[tuple[Agreement, Person]]:
    return list(
        session.exec(
            select(Agreement, Person)
            .join(Person, Person.id == Agreement.person_id)
            .where(_team_condition(supervisor), col(Agreement.state).in_(CURRENT_AGREEMENT_STATES))
            .order_by(Person.display_name)
        ).all()
    )


def hr_queue(
    session: Session,
    *,
    unit_id: int | None,
    reason: str | None,
    state: str | None,
    verdict: str | None,
    search: str,
    number: int,
    size: int,
) -> Page:
    """Requests for HR, oldest first; open ones unless a state is chosen."""
    statement = (
        select(HomeOfficeRequest, Person, Unit.name)
        .join(Person, Person.id == HomeOfficeRequest.person_id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .order_by(HomeOfficeRequest.submitted_at, HomeOfficeRequest.id)
    )
    if state:
        statement = statement.where(HomeOfficeRequest.state == state)
    else:
        # Drafts are the employee's own business until sent.
        statement = statement.where(
            col(HomeOfficeRequest.state).in_([s for s in OPEN_REQUEST_STATES if s != "draft"])
        )
    if unit_id:
        statement = statement.where(Person.unit_id == unit_id)
    if reason:
        statement = statement.where(
            or_(
                HomeOfficeRequest.reasons == reason,
                col(HomeOfficeRequest.reasons).like(f"{reason} %"),
                col(HomeOfficeRequest.reasons).like(f"% {reason}"),
                col(HomeOfficeRequest.reasons).like(f"% {reason} %"),
            )
        )
    if verdict == "eligible":
        statement = statement.where(col(HomeOfficeRequest.eligible).is_(True))
    elif verdict == "not_eligible":
        statement = statement.where(col(HomeOfficeRequest.eligible).is_(False))
    if search:
        pattern = f"%{search.replace('%', '').replace('_', '')}%"
        statement = statement.where(col(Person.display_name).ilike(pattern))
    page = paginate(session, statement, number=number, size=size)
    page.items = [RequestRow(r, p, u) for r, p, u in page.items]
    return page


def people_by_id(session: Session, ids) -> dict[int, Person]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(ids))).all()}
