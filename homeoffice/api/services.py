"""API tokens: made, listed, revoked and checked here, each change audited.

A token is ``ho_`` + 8 hex characters (its public prefix, shown in lists) + ``_`` + 256
random bits. It is shown once when it is made; only its SHA-256 hash is stored, and
neither the token nor its hash is ever logged or written to the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, select

from homeoffice.api.models import PERSONAL, SERVICE, ApiToken
from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.people.models import ADMIN, ALL_ROLES, FACILITY, HR, IT, Person
from homeoffice.refusal import Refusal

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ho_"
#: roles a service token may carry: those of departments, never a person's own
SERVICE_ROLES = (HR, IT, FACILITY, ADMIN)
#: longer "tokens" are refused before hashing
MAX_TOKEN_LENGTH = 200
#: last_used_at is written at most this often per token
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenError(Refusal):
    """A token change refused."""


class NotAllowed(Exception):
    """The actor may not see or change this token (answered as 404 to hide it)."""


class TokenRefused(Exception):
    """A request's token does not authenticate anybody; ``message`` says why."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling the API and with which roles.

    ``person`` is None for a service token. ``roles`` are the effective roles: for a
    personal token its scope within the owner's current roles, for a logged-in browser
    the person's roles. ``fresh`` says that a browser's password check is recent (health
    details need it, as on the screens); a token counts as fresh, since it was made
    after a login and is kept by its owner like a password.
    """

    person: Person | None
    roles: frozenset[str]
    token: ApiToken | None = None
    fresh: bool = True

    @property
    def by_token(self) -> bool:
        return self.token is not None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_token() -> tuple[str, str]:
    """(prefix, token): the prefix is random too, so it tells nothing about the rest."""
    prefix = TOKEN_PREFIX + secrets.token_hex(4)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def expiry(day: date, config: Mapping) -> datetime:
    """The end of ``day`` in the administration's time zone: a token "valid until
    30 June" works all of 30 June."""
    zone = ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return end.astimezone(ZoneInfo("UTC"))


def _check_expiry(expires_on: date | None, *, today: date, config: Mapping) -> None:
    limit = config["API_TOKEN_MAX_DAYS"]
    if expires_on is None:
        raise TokenError(_l("Please enter the last day the token may be used."), "expires_on")
    if expires_on < today:
        raise TokenError(_l("The last day cannot be in the past."), "expires_on")
    if expires_on > today + timedelta(days=limit):
        raise TokenError(
            _l("A token may be valid for at most %(days)s days.", days=limit), "expires_on"
        )


def _clean_name(value: str | None, field: str) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise TokenError(_l("Please enter a name."), field)
    if len(text) > 100:
        raise TokenError(_l("At most 100 characters, please."), field)
    return text


def _audit(session: Session, action: str, token: ApiToken, by: Person) -> None:
    """The token's description, never the token or its hash."""
    record(
        session,
        action=action,
        actor=by,
        object_type="api_token",
        object_id=token.id,
        after={
            "kind": token.kind,
            "prefix": token.prefix,
            "name": token.name,
            "system": token.system,
            "roles": token.roles,
            "person_id": token.person_id,
            "expires_at": token.expires_at.isoformat(),
        },
    )


def create_personal(
    *,
    session: Session,
    owner: Person,
    name: str,
    roles: Iterable[str],
    expires_on: date | None,
    today: date,
    config: Mapping,
) -> tuple[ApiToken, str]:
    """A token for ``owner`` with a scope within the owner's roles; (row, clear token).

    The clear token is returned to be shown once and is never stored.
    """
    name = _clean_name(name, "name")
    scope = frozenset(roles)
    if not scope:
        raise TokenError(_l("Please choose at least one role."), "roles")
    if not scope <= set(ALL_ROLES):
        raise TokenError(_l("Unknown role."), "roles")
    if not scope <= owner.role_set:
        missing = ", ".join(sorted(scope - owner.role_set))
        raise TokenError(
            _l("A token can only carry roles you hold yourself (not: %(roles)s).", roles=missing),
            "roles",
        )
    token, clear = _store(
        session,
        owner,
        scope,
        expires_on=expires_on,
        today=today,
        config=config,
        kind=PERSONAL,
        person_id=owner.id,
        name=name,
    )
    log.info("API token %s made by person %s", token.prefix, owner.id)
    return token, clear


def create_service(
    *,
    session: Session,
    by: Person,
    system: str,
    name: str,
    roles: Iterable[str],
    expires_on: date | None,
    today: date,
    config: Mapping,
) -> tuple[ApiToken, str]:
    """A token for a system, made by an administrator: it reads with ``roles``."""
    if ADMIN not in by.role_set:
        raise NotAllowed()
    system = _clean_name(system, "system")
    name = _clean_name(name, "name")
    scope = frozenset(roles)
    if not scope:
        raise TokenError(_l("Please choose at least one role."), "roles")
    if not scope <= set(SERVICE_ROLES):
        raise TokenError(
            _l("A service token can carry only the roles HR, IT, facility and admin."), "roles"
        )
    token, clear = _store(
        session,
        by,
        scope,
        expires_on=expires_on,
        today=today,
        config=config,
        kind=SERVICE,
        person_id=None,
        name=name,
        system=system,
    )
    log.info("Service token %s for %r made by person %s", token.prefix, system, by.id)
    return token, clear


def _store(
    session: Session,
    by: Person,
    scope: frozenset[str],
    *,
    expires_on: date | None,
    today: date,
    config: Mapping,
    **fields,
) -> tuple[ApiToken, str]:
    """Make and store a checked token (only its hash), audited; the clear token is
    returned to be shown once."""
    _check_expiry(expires_on, today=today, config=config)
    prefix, clear = _new_token()
    token = ApiToken(
        **fields,
        roles=" ".join(sorted(scope)),
        token_hash=hash_token(clear),
        prefix=prefix,
        created_by_id=by.id,
        expires_at=expiry(expires_on, config),
    )
    session.add(token)
    session.flush()
    _audit(session, "api_token.created", token, by)
    return token, clear


def load_token(session: Session, token_id: int, by: Person, *, kind: str) -> ApiToken:
    """A personal token of ``by``, or (kind SERVICE) any service token for an admin;
    NotAllowed otherwise. Locked, so two revocations are serialised."""
    token = session.exec(
        select(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.kind == kind)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if token is None:
        raise NotAllowed()
    if kind == PERSONAL and token.person_id != by.id:
        raise NotAllowed()
    if kind == SERVICE and ADMIN not in by.role_set:
        raise NotAllowed()
    return token


def revoke(*, session: Session, token: ApiToken, by: Person) -> bool:
    """End a token now; False when it was revoked already (nothing changes then)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at, token.revoked_by_id = utcnow(), by.id
    session.flush()
    _audit(session, "api_token.revoked", token, by)
    return True


def personal_tokens(session: Session, person: Person) -> list[ApiToken]:
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.person_id == person.id, ApiToken.kind == PERSONAL)
            .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
        ).all()
    )


def service_tokens(session: Session) -> list[tuple[ApiToken, str | None]]:
    """Every service token with the name of the admin who made it (one query)."""
    return list(
        session.exec(
            select(ApiToken, Person.display_name)
            .outerjoin(Person, Person.id == ApiToken.created_by_id)
            .where(ApiToken.kind == SERVICE)
            .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
        ).all()
    )


def is_usable(token: ApiToken, now: datetime) -> bool:
    return token.revoked_at is None and token.expires_at > now


def authenticate(session: Session, presented: str, *, now: datetime) -> ApiPrincipal:
    """The principal a presented token stands for, or TokenRefused saying why.

    A personal token's roles are its scope within the owner's roles as they are now,
    read again on every request: a person who loses a role loses it in their tokens
    at once, and a deactivated person's tokens stop working.
    """
    if not presented or len(presented) > MAX_TOKEN_LENGTH:
        raise TokenRefused(_l("The API token is not valid."))
    # One query for the token and its owner: every API request pays for it.
    found = session.exec(
        select(ApiToken, Person)
        .outerjoin(Person, Person.id == ApiToken.person_id)
        .where(ApiToken.token_hash == hash_token(presented))
    ).first()
    if found is None:
        raise TokenRefused(_l("The API token is not valid."))
    token, owner = found
    if token.revoked_at is not None:
        raise TokenRefused(_l("The API token has been revoked."))
    if token.expires_at <= now:
        raise TokenRefused(_l("The API token has expired."))
    person = None
    roles = token.role_set
    if token.kind == PERSONAL:
        person = owner
        if person is None or not person.active:
            raise TokenRefused(_l("The owner of this API token is no longer active."))
        roles = roles & person.role_set
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
    return ApiPrincipal(person=person, roles=frozenset(roles), token=token)
