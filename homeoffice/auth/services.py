"""Login, logout and server-side sessions."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from homeoffice.audit.services import record
from homeoffice.auth.models import LoginAttempt, LoginSession
from homeoffice.db import utcnow
from homeoffice.people.models import Person
from homeoffice.people.services import refresh_person
from vpn.directory import Directory, is_blank

log = logging.getLogger(__name__)

MAX_USERNAME_LENGTH = 128


class LoginRefused(Exception):
    """The login did not succeed; ``reason`` tells the view which message to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: "invalid" (wrong name or password), "throttled", "inactive"
        self.reason = reason


@dataclass
class LoginResult:
    person: Person
    #: the random session token for the cookie; only its hash is stored
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _too_many_failures(
    session: Session, *, username: str, address: str, limits: Mapping[str, int], now: datetime
) -> bool:
    """Failures in the window per (account, address) and per address.

    Counting per (account, address) rather than per account alone keeps an attacker
    from locking someone else out of their account from another machine; counting
    per address slows one machine trying many names. Both windows slide, so nothing
    stays locked once the attempts stop.
    """
    since = now - timedelta(minutes=limits["LOGIN_FAILURE_WINDOW_MINUTES"])
    recent = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since)
    per_account = session.exec(
        recent.where(LoginAttempt.username == username, LoginAttempt.address == address)
    ).one()
    if per_account >= limits["LOGIN_FAILURES_PER_ACCOUNT"]:
        return True
    per_address = session.exec(recent.where(LoginAttempt.address == address)).one()
    return per_address >= limits["LOGIN_FAILURES_PER_ADDRESS"]


def log_in(
    *,
    session: Session,
    directory: Directory,
    username: str,
    password: str,
    address: str,
    config: Mapping,
) -> LoginResult:
    """Check the password against the directory and open a server-side session.

    Raises ``LoginRefused`` for a wrong name or password, a throttled caller or a
    deactivated person; lets ``DirectoryUnavailable`` through so that the caller
    can say the directory is down instead of blaming the password.
    """
    now = utcnow()
    typed = (username or "").strip()[:MAX_USERNAME_LENGTH]
    key = typed.lower()
    if _too_many_failures(session, username=key, address=address, limits=config, now=now):
        record(session, action="login.throttled", actor_name=typed, detail=f"from {address}")
        raise LoginRefused("throttled")
    entry = None
    if typed and not is_blank(password):
        entry = directory.authenticate(typed, password)
    if entry is None:
        session.add(LoginAttempt(username=key, address=address, at=now))
        record(session, action="login.failure", actor_name=typed, detail=f"from {address}")
        session.flush()
        raise LoginRefused("invalid")
    person = refresh_person(session, entry, config["ROLE_GROUPS"])
    token = secrets.token_urlsafe(32)
    login_session = LoginSession(
        token_hash=hash_token(token),
        person_id=person.id,
        address=address,
        created_at=now,
        authenticated_at=now,
        last_seen_at=now,
    )
    session.add(login_session)
    session.flush()
    record(
        session,
        action="login.success",
        actor=person,
        object_type="login_session",
        object_id=login_session.id,
        detail=f"from {address}",
    )
    return LoginResult(person=person, token=token)


def load_session(
    session: Session, token: str, *, idle: timedelta, lifetime: timedelta
) -> tuple[LoginSession, Person] | None:
    """The live login session for a cookie token, or None (and the row ended) if it
    timed out, was logged out, or its person is deactivated."""
    row = session.exec(
        select(LoginSession, Person)
        .join(Person, Person.id == LoginSession.person_id)
        .where(LoginSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    login_session, person = row
    if login_session.ended_at is not None:
        return None
    now = utcnow()
    reason = None
    if not person.active:
        reason = "deactivated"
    elif now - login_session.last_seen_at > idle:
        reason = "idle"
    elif now - login_session.created_at > lifetime:
        reason = "expired"
    if reason:
        login_session.ended_at = now
        login_session.end_reason = reason
        record(
            session,
            action="logout.timeout",
            actor=person,
            object_type="login_session",
            object_id=login_session.id,
            detail=reason,
        )
        session.flush()
        return None
    # One write a minute at most: enough for the idle timeout, cheap for busy pages.
    if now - login_session.last_seen_at > timedelta(minutes=1):
        login_session.last_seen_at = now
    return login_session, person


def log_out(session: Session, login_session: LoginSession, person: Person) -> None:
    login_session.ended_at = utcnow()
    login_session.end_reason = "logout"
    record(
        session,
        action="logout",
        actor=person,
        object_type="login_session",
        object_id=login_session.id,
    )
    session.flush()


def end_sessions_of(session: Session, person: Person, *, reason: str) -> int:
    """End every open login session of a person (deactivation, role change)."""
    now = utcnow()
    open_sessions = session.exec(
        select(LoginSession).where(
            LoginSession.person_id == person.id,
            col(LoginSession.ended_at).is_(None),
        )
    ).all()
    for login_session in open_sessions:
        login_session.ended_at = now
        login_session.end_reason = reason
    return len(open_sessions)
