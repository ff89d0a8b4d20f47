"""Buildings and rooms, with normal and infection-control capacity, the units that use
each room, the allocations of single offices and the record of every allocation run."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow


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

    def __repr__(self) -> str:
        return f"<Room {self.building_id}/{self.number}>"


class RoomUnit(SQLModel, table=True):
    """A unit that may use a room. A room without any row here is open to every unit."""

    __tablename__ = "room_unit"

    room_id: int = Field(foreign_key="room.id", primary_key=True)
    #: indexed for "the rooms of this unit"; the primary key serves "the units of a room"
    unit_id: int = Field(foreign_key="unit.id", primary_key=True, index=True)

    def __repr__(self) -> str:
        return f"<RoomUnit room={self.room_id} unit={self.unit_id}>"


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


#: what started an allocation run
MANUAL = "manual"
SCHEDULED = "scheduled"
PLAN_CHANGE = "plan_change"
RUN_TRIGGERS = (MANUAL, SCHEDULED, PLAN_CHANGE)


class AllocationRun(SQLModel, table=True):
    """One run of the single-office allocation: its range, figures and conflicts.

    Written by the run itself in the same transaction as the allocations, so the
    nightly job's runs and the runs after a change of plan are on record too, and the
    facility page shows a stored result instead of running the allocation again on a
    reload. No health data: a conflict names the day, the person, why and what could be
    done (see ``homeoffice.rooms.services.conflict_record``).
    """

    __tablename__ = "allocation_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    #: who started it; None for the nightly job
    by_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: manual, scheduled or plan_change (an agreement, rotation, absence or swap changed)
    trigger: str = Field(default=MANUAL, max_length=20)
    from_day: date
    to_day: date
    #: office days of people present in the range
    person_days: int = 0
    #: office days with a room
    placed: int = 0
    #: office days without a room
    unplaced: int = 0
    #: ``[{"day": "2026-12-01", "person_id": 7, "reason": "office_full", "rooms": [3, 9],
    #: "days": ["2026-12-02"]}, ...]``, suggestions best first
    conflicts: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    def __repr__(self) -> str:
        return f"<AllocationRun {self.id} {self.from_day}..{self.to_day} {self.trigger}>"
