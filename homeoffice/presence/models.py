"""Who is in the office when: rotations, group membership, absences, single-day
exceptions and swaps. The plan itself is derived (homeoffice.presence.plan), never
stored, so a change of pattern changes future days only."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

ROTATION_KINDS = ("none", "weekly", "daily", "cycle", "fixed")
SWAP_STATES = ("proposed", "confirmed", "declined", "withdrawn")


class Rotation(SQLModel, table=True):
    """A unit's rotation pattern from a day on; the newest one in force wins."""

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    #: one of ROTATION_KINDS
    kind: str = Field(max_length=20)
    groups: int = Field(default=2, ge=1, le=10)
    #: for "fixed": {"0": [1, 3], "1": [2, 4]} — ISO weekdays each group is in the office
    office_weekdays: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    valid_from: date = Field(index=True)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    def __repr__(self) -> str:
        return f"<Rotation unit={self.unit_id} {self.kind} from {self.valid_from}>"


class GroupMembership(SQLModel, table=True):
    """A person's rotation group (0 = A, 1 = B, …) from a day on."""

    __tablename__ = "group_membership"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    group: int = Field(ge=0, le=9)
    valid_from: date
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Absence(SQLModel, table=True):
    """Leave, illness, training: no office day (the kind is not shown to colleagues)."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    start: date
    end: date
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class DayOverride(SQLModel, table=True):
    """One day in or out of the office against the plan: a supervisor's override or one
    half of a confirmed swap."""

    __tablename__ = "day_override"
    __table_args__ = (UniqueConstraint("person_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    day: date = Field(index=True)
    in_office: bool
    #: "override" or "swap"
    reason: str = Field(max_length=20)
    swap_id: int | None = Field(default=None, foreign_key="swap.id")
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Swap(SQLModel, table=True):
    """A swap of office days between two people of a unit: the requester gives away an
    office day and takes the colleague's; the colleague confirms."""

    id: int | None = Field(default=None, primary_key=True)
    requester_id: int = Field(foreign_key="person.id", index=True)
    colleague_id: int = Field(foreign_key="person.id", index=True)
    #: the requester's office day that the colleague takes over
    requester_day: date
    #: the colleague's office day that the requester takes over
    colleague_day: date
    state: str = Field(default="proposed", max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    decided_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class CalendarFeed(SQLModel, table=True):
    """A person's secret iCalendar address; only a hash of the token is kept."""

    __tablename__ = "calendar_feed"
    __table_args__ = (
        Index(
            "uq_calendar_feed_active_per_person",
            "person_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
