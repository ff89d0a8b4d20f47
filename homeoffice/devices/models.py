"""The laptop inventory."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

DEVICE_STATES = ("in_stock", "issued", "in_repair", "retired")


class Device(SQLModel, table=True):
    """A laptop the IT department can hand over (Dienstgerät)."""

    id: int | None = Field(default=None, primary_key=True)
    #: the inventory number on the sticker (Inventarnummer)
    asset_tag: str = Field(max_length=50, unique=True)
    serial_number: str = Field(max_length=100, unique=True)
    model: str = Field(max_length=200)
    purchase_date: date | None = None
    #: one of DEVICE_STATES
    state: str = Field(default="in_stock", max_length=20, index=True)
    notes: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    def __repr__(self) -> str:
        return f"<Device {self.asset_tag}>"


class Handover(SQLModel, table=True):
    """A laptop handed to a person (Übergabe) and, later, its return.

    A partial unique index allows one open handover per device: one laptop is with
    one person at a time, whatever two IT clerks click at the same moment.
    """

    __table_args__ = (
        Index(
            "uq_handover_open_per_device",
            "device_id",
            unique=True,
            sqlite_where=text("returned_on IS NULL"),
            postgresql_where=text("returned_on IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    agreement_id: int | None = Field(default=None, foreign_key="agreement.id", index=True)
    handed_over_on: date
    handed_over_by_id: int = Field(foreign_key="person.id")
    #: bag, power supply, mouse … as written on the handover record
    accessories: str | None = Field(default=None, max_length=500)
    #: the agreement's last day; None for agreements until revoked
    expected_return: date | None = Field(default=None, index=True)
    #: when the person confirmed the handover record in the app
    confirmed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    returned_on: date | None = Field(default=None, index=True)
    returned_to_id: int | None = Field(default=None, foreign_key="person.id")
    return_note: str | None = Field(default=None, max_length=1000)

    def __repr__(self) -> str:
        return f"<Handover {self.id} device={self.device_id} person={self.person_id}>"
