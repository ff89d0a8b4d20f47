"""The jobs as administrators see them: what each does, when it runs next, how its last
runs went, and starting one now (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, select

from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.jobs.models import JobRun
from homeoffice.jobs.runner import JOBS, failure_streak, latest_runs, run_job
from homeoffice.jobs.schedule import next_runs
from homeoffice.people.models import ADMIN, Person

#: what each job does, in plain words, for the admin page
DESCRIPTIONS = {
    "apply_dates": _l("Starts agreements on their first day and ends them after the last."),
    "revoke_access": _l(
        "Ends agreements that are over and takes their remote access away; "
        "carries changed end dates of renewed agreements into the directory."
    ),
    "sync_directory": _l(
        "Reads staff from the directory; people who left lose their agreement and access."
    ),
    "allocate_rooms": _l("Gives everybody in the office a room for the coming weeks."),
    "delete_expired_contacts": _l("Deletes room use older than the retention period."),
    "refresh_crl": _l("Publishes the list of revoked VPN certificates before it expires."),
    "erase_health_details": _l("Erases health details of agreements ended long ago."),
    "prune_job_runs": _l("Deletes old entries of this history."),
    "send_reminders": _l("Reminds of agreements that end soon and of overdue laptops."),
    "weekly_plan": _l("Mails everybody their plan for next week."),
    "deliver_mail": _l("Sends the mail waiting in the outbox."),
    "deliver_webhooks": _l("Sends waiting events to the registered webhooks."),
}


class JobNotFound(Exception):
    pass


class NotAllowed(Exception):
    pass


@dataclass
class JobStatus:
    name: str
    description: str
    next_run: datetime | None
    last_run: JobRun | None
    #: failed runs in a row, newest first (0 when the last run succeeded)
    failures: int


def overview(session: Session, config, *, now: datetime) -> list[JobStatus]:
    """Every job with its next and last run, and its failures in a row (up to the warning
    threshold), from one statement."""
    upcoming = next_runs(config, now)
    latest = latest_runs(session, max(config["JOB_FAILURE_WARNING"], 1))
    return [
        JobStatus(
            name=name,
            description=str(DESCRIPTIONS.get(name, "")),
            next_run=upcoming.get(name),
            last_run=latest[name][0] if latest[name] else None,
            failures=failure_streak(latest[name]),
        )
        for name in JOBS
    ]


def history(job: str | None):
    """The runs, newest first, optionally of one job (a statement to paginate)."""
    statement = select(JobRun).order_by(col(JobRun.id).desc())
    if job:
        statement = statement.where(JobRun.job == job)
    return statement


def start_now(session: Session, app: Flask, *, name: str, by: Person) -> JobRun | None:
    """Run a job now for an occurrence of its own, as ``flask run-job`` does.

    The job runs in its own transaction (its effect and its run record commit
    together); the audit event of who started it goes with the caller's.
    """
    if ADMIN not in by.role_set:
        raise NotAllowed()
    if name not in JOBS:
        raise JobNotFound(name)
    occurrence = f"manual-{utcnow():%Y-%m-%dT%H:%M:%SZ}-{by.id}"
    run = run_job(app, name, occurrence=occurrence)
    record(
        session,
        action="job.started",
        actor=by,
        object_type="job",
        object_id=name,
        detail={"occurrence": occurrence, "outcome": run.outcome if run else "skipped"},
    )
    return run
