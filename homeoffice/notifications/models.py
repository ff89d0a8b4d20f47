"""The mail outbox: messages are written in the transaction of the action that causes
them and sent afterwards, so a mail failure never undoes the action."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body_text: str
    body_html: str | None = None
    #: the recipient's language when queued, for Content-Language and the HTML ``lang``
    locale: str | None = Field(default=None, max_length=5)
    #: what caused the message, e.g. "request.approved"
    event: str = Field(max_length=100, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    sent_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True, index=True)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    #: do not try again before this time (back-off after a failure)
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.event}>"
