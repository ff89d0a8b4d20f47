"""The database: one engine per app, one session per request or job.

Services ``flush()`` and never commit. The request boundary commits once when the
response is a success and rolls back otherwise, so a multi-step operation is atomic
by construction; jobs and CLI commands use ``session_scope()`` for the same effect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask, current_app, g
from sqlalchemy import Column, DateTime, Engine, event
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only kind we store)."""
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine with the connection settings each backend needs."""
    if url.startswith("sqlite"):
        # Page tests serve from a thread; SQLite connections must be shareable then.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def init_app(app: Flask) -> None:
    app.extensions["homeoffice.engine"] = make_engine(app.config["DATABASE_URL"])
    app.after_request(_commit_on_success)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["homeoffice.engine"]


def get_session() -> Session:
    """The session of the current request or app context, made on first use."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    return g.db_session


def keep_changes_despite_error() -> None:
    """Commit this request's changes even though it answers with an error status.

    For records that must survive a refusal, such as the audit event of a login that
    failed because the directory was down.
    """
    g.db_commit_anyway = True


def _commit_on_success(response):
    session = g.get("db_session")
    if session is not None and (response.status_code < 400 or g.get("db_commit_anyway")):
        session.commit()
    return response


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


@contextmanager
def session_scope(bind: Engine | None = None) -> Iterator[Session]:
    """A session for a job or CLI command: commit at the end, roll back on error."""
    session = Session(bind or engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite forgets the zone of a ``DateTime(timezone=True)``; this type makes both
    backends give the same aware value, so comparisons never mix naive and aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use homeoffice.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def timestamp_column(*, nullable: bool = False, index: bool = False) -> Column:
    """A ``UTCDateTime`` column for a SQLModel field (``sa_column=timestamp_column()``)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)
