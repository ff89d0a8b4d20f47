"""The audit log: who did what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow


class AuditEvent(SQLModel, table=True):
    """One change of state or security-relevant event. Never updated, never deleted
    except by the retention job."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    #: e.g. ``login.success``, ``person.deactivated``, ``directory.sync``
    action: str = Field(max_length=100, index=True)
    #: the person who acted; None for the system (jobs, CLI) or an unknown login name
    actor_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: the actor's login name at the time, or what an anonymous caller typed
    actor_name: str | None = Field(default=None, max_length=200)
    object_type: str | None = Field(default=None, max_length=50)
    object_id: str | None = Field(default=None, max_length=100)
    before: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: short free text without secrets or health details; CR/LF neutralised
    detail: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=64)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"
