"""Read-only queries of the IT pages; each a fixed number of statements."""

from __future__ import annotations

from sqlmodel import Session, select

from homeoffice.access.models import Credential
from homeoffice.agreements.models import Agreement
from homeoffice.people.models import Person, Unit
from homeoffice.tasks.models import OPEN, ItTask


def open_tasks(session: Session):
    return session.exec(
        select(ItTask, Person, Unit.name, Agreement)
        .join(Person, Person.id == ItTask.person_id)
        .join(Agreement, Agreement.id == ItTask.agreement_id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .where(ItTask.state == OPEN)
        .order_by(ItTask.due_date, ItTask.id)
    ).all()


def credentials_of(session: Session, agreement_id: int) -> list[Credential]:
    return list(
        session.exec(
            select(Credential)
            .where(Credential.agreement_id == agreement_id)
            .order_by(Credential.id)
        ).all()
    )
