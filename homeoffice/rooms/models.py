"""Buildings and rooms, with normal and infection-control capacity."""

from __future__ import annotations

from datetime import date

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class Building(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    address: str | None = Field(default=None, max_length=300)

    def __repr__(self) -> str:
        return f"<Building {self.name!r}>"


class Room(SQLModel, table=True):
    """An office. ``infection_capacity`` is usually 1 (Einzelbüro), 0 for rooms not to use."""

    __table_args__ = (UniqueConstraint("building_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    #: room number as on the door, unique within the building
    number: str = Field(max_length=50)
    floor: int = 0
    capacity: int = Field(default=1, ge=0)
    infection_capacity: int = Field(default=1, ge=0)
    step_free: bool = False
    #: the unit that uses the room; None for rooms any unit may use
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)

    def __repr__(self) -> str:
        return f"<Room {self.building_id}/{self.number}>"


class RoomAllocation(SQLModel, table=True):
    """The room a person sits in on an office day. Kept for the contact report until the
    retention period ends, then deleted by a job."""

    __tablename__ = "room_allocation"
    __table_args__ = (UniqueConstraint("day", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)


class HomeRoom(SQLModel, table=True):
    """The room a person gets on their office days wherever possible."""

    __tablename__ = "home_room"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    room_id: int = Field(foreign_key="room.id", index=True)
