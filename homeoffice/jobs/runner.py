"""Run a scheduled job once per occurrence, whatever the number of scheduler processes.

Three guards, from cheap to certain: a lease row per job keeps a second process from
starting the same job while the first runs it; a successful run already recorded for the
occurrence makes a late or repeated trigger a no-op; and the "ok" record is written in
the job's own transaction under a partial unique index, so even a process that took
over an expired lease while the first was still working cannot commit the effect twice.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import Engine, delete, func, insert, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from homeoffice.db import session_scope, utcnow
from homeoffice.jobs.models import ERROR_LENGTH, FAILED, OK, JobLease, JobRun

log = logging.getLogger(__name__)

#: how long a lease holds when its holder neither finishes nor releases it (a crash)
LEASE = timedelta(minutes=30)


class Clock(Protocol):
    """Where the runner gets the time; tests pass one they can set."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real time in UTC."""

    def now(self) -> datetime:
        return utcnow()


SYSTEM_CLOCK = SystemClock()

#: a job: (app, session, today) → counts; it flushes and never commits
Job = Callable[[Flask, Session, date], dict[str, Any]]


# --- the jobs ---------------------------------------------------------------------------


def _apply_dates(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.agreements.services import apply_dates

    return apply_dates(session, today=today, config=app.config)


def _revoke_access(app: Flask, session: Session, today: date) -> dict[str, Any]:
    """Expire what has ended, then revoke: one run after midnight takes the access of an
    agreement that ended yesterday, whichever of the two jobs the scheduler fired first.
    Changed end dates of access taken over by a change or renewal reach the directory in
    the same run."""
    from homeoffice.access.services import adjust_expiry_due, revoke_due
    from homeoffice.agreements.services import apply_dates
    from homeoffice.directory import open_directory

    dates = apply_dates(session, today=today, config=app.config)
    directory = open_directory(app.config, session)
    try:
        revoked = revoke_due(session=session, directory=directory, config=app.config, today=today)
        adjusted = adjust_expiry_due(session=session, directory=directory)
    finally:
        directory.close()
    return {**dates, **revoked, **adjusted}


def _sync_directory(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.directory import open_directory
    from homeoffice.people.services import sync_people

    directory = open_directory(app.config, session)
    try:
        report = sync_people(
            session=session,
            directory=directory,
            role_groups=app.config["ROLE_GROUPS"],
            today=today,
        )
    finally:
        directory.close()
    if report.agreements_ended:
        # Leavers' office days are gone: rooms again from today, once for all of them.
        from homeoffice.presence.services import replan

        replan(session=session, config=app.config, today=today, by=None)
    return report.as_dict()


def _allocate_rooms(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.rooms.services import run_allocation

    summary = run_allocation(session=session, today=today, config=app.config, by=None)
    return {
        "person_days": summary.person_days,
        "placed": summary.placed,
        "unplaced": len(summary.unplaced),
        "conflicts": len(summary.conflicts),
    }


def _delete_expired_contacts(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.rooms.services import delete_expired_contacts

    deleted = delete_expired_contacts(
        session=session, today=today, retention_days=app.config["CONTACT_RETENTION_DAYS"]
    )
    return {"deleted": deleted}


def _refresh_crl(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.access.authority import publish_crl

    record = publish_crl(session, app.config)
    return {"crl_number": record.crl_number}


def _deliver_mail(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.notifications.services import deliver_pending

    sent, failed = deliver_pending(session, app.config)
    return {"sent": sent, "failed": failed}


def _deliver_webhooks(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.webhooks.services import deliver_pending

    delivered, failed = deliver_pending(session, app.config)
    return {"delivered": delivered, "failed": failed}


def _send_reminders(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.agreements.lifecycle import remind_overdue_devices, send_end_reminders

    ending = send_end_reminders(session, today=today, days=app.config["REMINDER_DAYS"])
    devices = remind_overdue_devices(session, today=today)
    return {
        "agreements": ending["agreements"],
        "devices": devices["devices"],
        "mails": ending["mails"] + devices["mails"],
    }


def _weekly_plan(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.presence.weekly import next_monday, publish_weekly_plan

    return publish_weekly_plan(session, config=app.config, monday=next_monday(today))


def _erase_health_details(app: Flask, session: Session, today: date) -> dict[str, Any]:
    from homeoffice.agreements.lifecycle import erase_health_details

    return erase_health_details(
        session, today=today, retention_days=app.config["HEALTH_RETENTION_DAYS"]
    )


def _prune_job_runs(app: Flask, session: Session, today: date) -> dict[str, Any]:
    cutoff = datetime.combine(
        today - timedelta(days=app.config["JOB_RUN_RETENTION_DAYS"]), datetime.min.time(), UTC
    )
    return {"deleted": prune_runs(session, before=cutoff)}


#: every job the scheduler and ``flask run-job`` know, by name
JOBS: dict[str, Job] = {
    "apply_dates": _apply_dates,
    "revoke_access": _revoke_access,
    "sync_directory": _sync_directory,
    "allocate_rooms": _allocate_rooms,
    "delete_expired_contacts": _delete_expired_contacts,
    "refresh_crl": _refresh_crl,
    "deliver_mail": _deliver_mail,
    "deliver_webhooks": _deliver_webhooks,
    "send_reminders": _send_reminders,
    "weekly_plan": _weekly_plan,
    "erase_health_details": _erase_health_details,
    "prune_job_runs": _prune_job_runs,
}


# --- running one ------------------------------------------------------------------------


def make_holder() -> str:
    """A name for this run's claim: host and process for people, a random part for
    uniqueness (two runs in one process must not mistake each other's lease)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[-200:]


def local_today(app: Flask, now: datetime) -> date:
    """The day in the administration's time zone: agreements start and end on local days."""
    return now.astimezone(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def run_job(
    app: Flask,
    name: str,
    *,
    occurrence: str,
    clock: Clock = SYSTEM_CLOCK,
    lease: timedelta = LEASE,
) -> JobRun | None:
    """Run job ``name`` for ``occurrence`` unless it runs elsewhere or already succeeded.

    Returns the recorded run ("ok" or "failed"), or None when another holder has the
    lease or a successful run for this occurrence exists. A failure is logged and
    recorded with its error, never raised: the scheduler keeps going and the next
    occurrence (or ``flask run-job``) tries again.
    """
    job = JOBS[name]
    engine: Engine = app.extensions["homeoffice.engine"]
    holder = make_holder()
    if not take_lease(engine, name, holder=holder, now=clock.now(), lease=lease):
        log.info("Job %s %s skipped: another process holds the lease", name, occurrence)
        return None
    try:
        if _succeeded(engine, name, occurrence):
            log.info("Job %s %s skipped: it already succeeded", name, occurrence)
            return None
        return _run(app, engine, job, name, occurrence=occurrence, holder=holder, clock=clock)
    finally:
        release_lease(engine, name, holder=holder)


def take_lease(engine: Engine, name: str, *, holder: str, now: datetime, lease: timedelta) -> bool:
    """Claim the job in a short transaction of its own; False when someone else holds it.

    Insert the lease row, or, when it exists, take it over only if it has expired. Both
    are single statements the database serialises, so of two processes racing for the
    same job exactly one succeeds, on SQLite and on PostgreSQL alike.
    """
    table = JobLease.__table__
    expires_at = now + lease
    try:
        with engine.begin() as connection:
            connection.execute(insert(table).values(job=name, holder=holder, expires_at=expires_at))
        return True
    except IntegrityError:
        pass
    with engine.begin() as connection:
        result = connection.execute(
            update(table)
            .where(table.c.job == name, table.c.expires_at < now)
            .values(holder=holder, expires_at=expires_at)
        )
        if result.rowcount == 1:
            return True
        current = connection.execute(select(table.c.holder).where(table.c.job == name)).scalar()
        if current is None or not _holder_died_here(current):
            return False
        # The holder was a process on this machine that no longer exists (killed, or
        # the machine restarted): waiting out its lease would let access outlive an
        # agreement by half an hour. Take over exactly that claim.
        log.warning("Job %s: taking over the lease of %s, which is gone", name, current)
        result = connection.execute(
            update(table)
            .where(table.c.job == name, table.c.holder == current)
            .values(holder=holder, expires_at=expires_at)
        )
    return result.rowcount == 1


def _holder_died_here(holder: str) -> bool:
    """The lease holder ran on this host and its process is gone."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another run in this very process holds it: it is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


def release_lease(engine: Engine, name: str, *, holder: str) -> None:
    """Give the job back, but only our own claim: a lease taken over after ours expired
    belongs to the other process now."""
    table = JobLease.__table__
    with engine.begin() as connection:
        connection.execute(delete(table).where(table.c.job == name, table.c.holder == holder))


def _succeeded(engine: Engine, name: str, occurrence: str) -> bool:
    with Session(engine) as session:
        found = session.exec(
            select(JobRun.id).where(
                JobRun.job == name, JobRun.occurrence == occurrence, JobRun.outcome == OK
            )
        ).first()
    return found is not None


def _run(
    app: Flask,
    engine: Engine,
    job: Job,
    name: str,
    *,
    occurrence: str,
    holder: str,
    clock: Clock,
) -> JobRun | None:
    started_at = clock.now()
    try:
        with app.app_context(), session_scope(engine) as session:
            counts = job(app, session, local_today(app, started_at))
            run = JobRun(
                job=name,
                occurrence=occurrence,
                started_at=started_at,
                finished_at=clock.now(),
                outcome=OK,
                counts=dict(counts),
                holder=holder,
            )
            session.add(run)
            session.flush()
    except IntegrityError as exc:
        if not _succeeded(engine, name, occurrence):
            return _record_failure(engine, name, occurrence, holder, started_at, clock, exc)
        # A process that took over our expired lease committed first; ours rolled back.
        log.warning("Job %s %s rolled back: another process completed it", name, occurrence)
        return None
    except Exception as exc:
        return _record_failure(engine, name, occurrence, holder, started_at, clock, exc)
    log.info("Job %s %s done: %s", name, occurrence, run.counts)
    return run


def _record_failure(
    engine: Engine,
    name: str,
    occurrence: str,
    holder: str,
    started_at: datetime,
    clock: Clock,
    exc: Exception,
) -> JobRun:
    """Record a failed run in a transaction of its own: the job's was rolled back."""
    log.error("Job %s %s failed", name, occurrence, exc_info=exc)
    run = JobRun(
        job=name,
        occurrence=occurrence,
        started_at=started_at,
        finished_at=clock.now(),
        outcome=FAILED,
        error=f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH],
        holder=holder,
    )
    with session_scope(engine) as session:
        session.add(run)
    return run


# --- failures: retries with back-off, and the warning on /health -------------------------


def retry_failed(app: Flask, names: Iterable[str], *, clock: Clock = SYSTEM_CLOCK) -> list[JobRun]:
    """Run a failed occurrence again once its back-off has passed.

    Only for jobs whose next regular run is far off (nightly, weekly): a job that runs
    every few minutes retries by itself. The n-th retry waits ``JOB_RETRY_MINUTES``
    × 2ⁿ⁻¹ after the last failure; after ``JOB_RETRIES`` retries the occurrence is left
    to the next one (and /health warns). The state lives in ``job_run``, so retries
    survive a restart and two scheduler processes still run each retry once.
    """
    engine: Engine = app.extensions["homeoffice.engine"]
    retries, base = app.config["JOB_RETRIES"], app.config["JOB_RETRY_MINUTES"]
    now = clock.now()
    due: list[JobRun] = []
    with Session(engine) as session:
        latest = latest_runs(session, 1)
        for name in names:
            last = latest[name][0] if latest.get(name) else None
            if last is None or last.outcome != FAILED:
                continue
            failures = session.exec(
                select(func.count()).where(
                    JobRun.job == name,
                    JobRun.occurrence == last.occurrence,
                    JobRun.outcome == FAILED,
                )
            ).one()
            if failures > retries:
                continue
            wait = timedelta(minutes=base * 2 ** (failures - 1))
            if last.finished_at is None or last.finished_at + wait <= now:
                due.append(last)
    done = []
    for last in due:
        run = run_job(app, last.job, occurrence=last.occurrence, clock=clock)
        if run is not None:
            done.append(run)
    return done


def latest_runs(session: Session, limit: int) -> dict[str, list[JobRun]]:
    """The ``limit`` latest runs of every job, newest first, in one statement.

    One small index range per job (``ix_job_run_job_id``) joined by UNION ALL, rather
    than a window over the whole history: /health reads this on every probe.
    """
    table = JobRun.__table__
    parts = [
        select(table.c.id).where(table.c.job == name).order_by(table.c.id.desc()).limit(limit)
        for name in JOBS
    ]
    # SQLite allows ORDER BY/LIMIT in a compound select only inside subqueries.
    ids = union_all(*(select(part.subquery().c.id) for part in parts)).subquery()
    rows = session.exec(select(JobRun).where(col(JobRun.id).in_(select(ids.c.id)))).all()
    runs: dict[str, list[JobRun]] = {name: [] for name in JOBS}
    for run in sorted(rows, key=lambda run: run.id, reverse=True):
        runs.setdefault(run.job, []).append(run)
    return runs


def failure_streak(runs: list[JobRun]) -> int:
    """How many of these runs (newest first) failed in a row."""
    streak = 0
    for run in runs:
        if run.outcome != FAILED:
            break
        streak += 1
    return streak


def failing_jobs(session: Session, threshold: int) -> list[str]:
    """Jobs whose last ``threshold`` runs all failed."""
    return [
        name
        for name, runs in latest_runs(session, threshold).items()
        if failure_streak(runs) >= threshold
    ]


def prune_runs(session: Session, *, before: datetime) -> int:
    """Forget run records older than ``before``: a minute job writes half a million a year."""
    result = session.exec(delete(JobRun).where(JobRun.started_at < before))
    return result.rowcount or 0
