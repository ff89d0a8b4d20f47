"""Webhooks that administrators register, and the outbox of their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: HR approved or rejected a request
AGREEMENT_DECIDED = "agreement.decided"
#: IT issued remote access (groups, terminal-server secret, certificate, tunnel)
ACCESS_ISSUED = "access.issued"
#: remote access was taken back (by IT, or by the job when an agreement ended)
ACCESS_REVOKED = "access.revoked"
#: IT handed a laptop over
DEVICE_HANDED_OVER = "device.handed_over"
#: IT took a laptop back
DEVICE_RETURNED = "device.returned"
EVENT_KINDS = (
    AGREEMENT_DECIDED,
    ACCESS_ISSUED,
    ACCESS_REVOKED,
    DEVICE_HANDED_OVER,
    DEVICE_RETURNED,
)

#: longest error text kept in the delivery log
ERROR_LENGTH = 500


class Webhook(SQLModel, table=True):
    """An address in another system that receives the events it subscribes to.

    The secret signs every delivery, so it must be readable again: it is stored
    encrypted (Fernet, key derived from SECRET_KEY), never in clear and never hashed.
    """

    __tablename__ = "webhook"

    id: int | None = Field(default=None, primary_key=True)
    #: what the receiver is, as the administrator named it ("Personalverwaltung")
    name: str = Field(max_length=100)
    #: where deliveries are POSTed (https, or http when WEBHOOK_ALLOW_HTTP is on)
    url: str = Field(max_length=2000)
    #: space-separated event kinds from EVENT_KINDS
    events: str = Field(max_length=200)
    #: the signing secret, Fernet-encrypted
    secret_encrypted: str = Field(max_length=500)
    #: the secret's first characters, so people can tell which secret a receiver holds
    secret_prefix: str = Field(max_length=20)
    #: an inactive webhook gets no new events and nothing is sent to it
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    created_by_id: int = Field(foreign_key="person.id")

    @property
    def event_set(self) -> frozenset[str]:
        return frozenset(self.events.split())

    def __repr__(self) -> str:
        return f"<Webhook {self.id} {self.name!r}>"


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: written in the transaction of the action (an outbox),
    sent by the ``deliver_webhooks`` job, tried again with back-off until it is delivered
    or WEBHOOK_MAX_ATTEMPTS is reached (then it stays here as failed)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # The job looks for undelivered rows that are due; the log pages by webhook.
        Index("ix_webhook_delivery_due", "delivered_at", "next_attempt_at"),
        Index("ix_webhook_delivery_webhook_id_id", "webhook_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhook.id")
    #: the event kind, e.g. "agreement.decided"
    event: str = Field(max_length=50)
    #: uuid4 hex, the same on every attempt, so the receiver can drop a repeat
    event_id: str = Field(max_length=32, unique=True)
    #: the event's data (ids, username, employee number, dates; no reasons, no secrets)
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    attempts: int = 0
    #: not before this time (back-off after a failure); None: at once
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )
    last_attempt_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )
    delivered_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    #: the HTTP status of the last answer; None when no answer came
    last_status: int | None = None
    #: why the last attempt failed, cut to ERROR_LENGTH, never with the secret
    last_error: str | None = Field(default=None, max_length=ERROR_LENGTH)

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.event} {self.event_id}>"
