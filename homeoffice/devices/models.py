"""The laptop inventory."""

from __future__ import annotations

from datetime import date, datetime

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
