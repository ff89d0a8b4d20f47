"""Open work for the IT department that follows from agreements."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: kinds of IT task
ISSUE_LAPTOP = "issue_laptop"
GRANT_VPN = "grant_vpn"
GRANT_TERMINAL_SERVER = "grant_terminal_server"
REVOKE_ACCESS = "revoke_access"
RETURN_LAPTOP = "return_laptop"
#: a change or renewal took over access with another end date: the directory's account
#: expiry must follow (done by the revoke_access job within its interval)
ADJUST_EXPIRY = "adjust_expiry"
TASK_KINDS = (
    ISSUE_LAPTOP,
    GRANT_VPN,
    GRANT_TERMINAL_SERVER,
    REVOKE_ACCESS,
    RETURN_LAPTOP,
    ADJUST_EXPIRY,
)

OPEN = "open"
DONE = "done"
CANCELLED = "cancelled"


class ItTask(SQLModel, table=True):
    """One thing IT has to do for one agreement: hand out, grant, revoke, take back."""

    __tablename__ = "it_task"

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    #: one of TASK_KINDS
    kind: str = Field(max_length=30)
    state: str = Field(default=OPEN, max_length=20, index=True)
    #: the day by which it must be done (the agreement's start or end)
    due_date: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    done_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    done_by_id: int | None = Field(default=None, foreign_key="person.id")
    #: tries so far and the last failure, so that IT sees what to retry
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, max_length=1000)

    def __repr__(self) -> str:
        return f"<ItTask {self.id} {self.kind} {self.state}>"
