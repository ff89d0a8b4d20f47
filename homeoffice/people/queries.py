"""Read-only queries for the staff pages; each a fixed number of statements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, or_, select

from homeoffice.pagination import Page, paginate
from homeoffice.people.models import Person, Unit


@dataclass
class StaffRow:
    person: Person
    unit_name: str | None
    manager_name: str | None


def staff_page(session: Session, *, search: str, number: int, size: int) -> Page:
    manager = aliased(Person)
    statement = (
        select(Person, Unit.name, manager.display_name)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .outerjoin(manager, manager.id == Person.manager_id)
        .where(col(Person.active).is_(True))
        .order_by(Person.display_name, Person.id)
    )
    if search:
        pattern = f"%{search.replace('%', '').replace('_', '')}%"
        statement = statement.where(
            or_(col(Person.display_name).ilike(pattern), col(Person.username).ilike(pattern))
        )
    page = paginate(session, statement, number=number, size=size)
    page.items = [StaffRow(person=p, unit_name=u, manager_name=m) for p, u, m in page.items]
    return page


def team_of(session: Session, supervisor: Person) -> list[Person]:
    """Direct reports plus the members of the unit the supervisor heads."""
    headed = select(Unit.id).where(Unit.head_id == supervisor.id)
    return list(
        session.exec(
            select(Person)
            .where(
                col(Person.active).is_(True),
                Person.id != supervisor.id,
                or_(Person.manager_id == supervisor.id, col(Person.unit_id).in_(headed)),
            )
            .order_by(Person.display_name)
        ).all()
    )


def holders_of(session: Session, role: str) -> list[Person]:
    """Active people who hold ``role`` (e.g. every HR clerk for a digest mail)."""
    candidates = session.exec(
        select(Person)
        .where(col(Person.active).is_(True), col(Person.roles).contains(role))
        .order_by(Person.id)
    ).all()
    # The column holds space-separated roles: the LIKE above is a pre-filter only.
    return [person for person in candidates if role in person.role_set]
