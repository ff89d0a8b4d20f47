"""API tokens: personal ones that people make for themselves, service ones for systems."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: a person's own token: acts as that person, within the person's current roles
PERSONAL = "personal"
#: a system's token, made by an administrator: reads only, acts for no person
SERVICE = "service"
TOKEN_KINDS = (PERSONAL, SERVICE)


class ApiToken(SQLModel, table=True):
    """A bearer token for ``/api/v1``. Only its hash is kept; the token is shown once.

    A SHA-256 hash is enough here, unlike for passwords: the token is 256 random bits,
    so there is nothing to guess and no dictionary to try, and a slow hash (argon2)
    would only cost time on every API request.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    #: PERSONAL or SERVICE
    kind: str = Field(max_length=20)
    #: whose token it is; None for a service token
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: what the token is for, as its maker wrote it ("Fachverfahren Personal")
    name: str = Field(max_length=100)
    #: the system a service token is for
    system: str | None = Field(default=None, max_length=100)
    #: space-separated roles the token may use (its scope)
    roles: str = Field(max_length=200)
    #: SHA-256 (hex) of the whole token
    token_hash: str = Field(max_length=64, unique=True)
    #: the token's first characters, not secret, so people recognise it in lists
    prefix: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    created_by_id: int = Field(foreign_key="person.id")
    #: every token runs out (at most API_TOKEN_MAX_DAYS after it was made)
    expires_at: datetime = Field(sa_column=timestamp_column())
    #: updated at most once a minute, so reading does not write on every request
    last_used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revoked_by_id: int | None = Field(default=None, foreign_key="person.id")

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.kind} {self.prefix}>"
