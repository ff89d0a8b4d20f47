"""Read-only queries of the device pages; each one statement, however many rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from homeoffice.devices.models import Device, Handover
from homeoffice.people.models import Person


@dataclass
class HandoverRow:
    """A handover with the device and the people named on its record."""

    handover: Handover
    device: Device
    person: Person
    handed_over_by: Person
    returned_to: Person | None


def _rows():
    clerk = aliased(Person, name="clerk")
    receiver = aliased(Person, name="receiver")
    return (
        select(Handover, Device, Person, clerk, receiver)
        .join(Device, Device.id == Handover.device_id)
        .join(Person, Person.id == Handover.person_id)
        .join(clerk, clerk.id == Handover.handed_over_by_id)
        .outerjoin(receiver, receiver.id == Handover.returned_to_id)
    )


def handover_row(session: Session, handover_id: int) -> HandoverRow | None:
    row = session.exec(_rows().where(Handover.id == handover_id)).first()
    return HandoverRow(*row) if row else None


def device_history(session: Session, device_id: int) -> list[HandoverRow]:
    """Every handover of a device, the latest first."""
    rows = session.exec(
        _rows()
        .where(Handover.device_id == device_id)
        .order_by(col(Handover.handed_over_on).desc(), col(Handover.id).desc())
    ).all()
    return [HandoverRow(*row) for row in rows]


def open_handovers_of(session: Session, person: Person) -> list[HandoverRow]:
    """The devices a person holds now ("Meine Geräte")."""
    rows = session.exec(
        _rows()
        .where(Handover.person_id == person.id, col(Handover.returned_on).is_(None))
        .order_by(Handover.handed_over_on, Handover.id)
    ).all()
    return [HandoverRow(*row) for row in rows]
