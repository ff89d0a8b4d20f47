"""Server-side login sessions and the record of login attempts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow


class LoginSession(SQLModel, table=True):
    """A login, alive until logout, idle timeout, absolute lifetime or deactivation.

    The browser holds only a random token; the server keeps its hash, so ending the
    row ends the session even for a copied cookie (SECURITY.md item 10).
    """

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    #: SHA-256 of the random token held in the session cookie
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    #: when the password was last checked (for actions that want a fresh login)
    authenticated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    ended_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    #: logout, idle, expired, deactivated
    end_reason: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=64)

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} person={self.person_id}>"


class LoginAttempt(SQLModel, table=True):
    """A failed login, counted for the rate limit shared by all worker processes."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    #: the login name as typed, lower-cased and cut to length
    username: str = Field(max_length=128, index=True)
    address: str = Field(max_length=64, index=True)

    def __repr__(self) -> str:
        return f"<LoginAttempt {self.username!r} from {self.address}>"
