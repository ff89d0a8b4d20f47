"""When each job runs: the scheduler process started by ``flask --app homeoffice scheduler``.

The scheduler runs in a process of its own, never inside the web workers (SECURITY.md
item 29); only the demo's development server may embed it (``SCHEDULER_EMBEDDED``).
APScheduler keeps its jobs in the service's database (``apscheduler_jobs``), so the next
run times survive a restart and a run missed while the process was down is made up
within the misfire grace time. Once-only execution does not rely on that store: it comes
from the database lease and the ``job_run`` table (``homeoffice.jobs.runner``), so two
scheduler processes on two machines cannot run an occurrence twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask
from sqlalchemy import Engine, inspect, text

from homeoffice.jobs.runner import SYSTEM_CLOCK, Clock, retry_failed, run_job

log = logging.getLogger(__name__)

#: periods an occurrence key is cut to
MINUTE = "minute"
INTERVAL = "interval"
DAY = "day"
WEEK = "week"

#: APScheduler's table in the service's database
JOBSTORE_TABLE = "apscheduler_jobs"
#: the id of the entry that retries failed nightly and weekly jobs
RETRY_ID = "retry_failed"
#: runs later than this (a restart, a long pause) are dropped: the next one does the work
MISFIRE_GRACE_SECONDS = 300


@dataclass(frozen=True)
class Entry:
    """One line of the schedule: a job, its cron fields and the period of its occurrences."""

    job: str
    cron: dict[str, str] = field(hash=False)
    period: str


def schedule(config: Mapping[str, Any]) -> tuple[Entry, ...]:
    """The schedule for these settings.

    ``apply_dates`` and ``revoke_access`` run every ``ACCESS_JOB_MINUTES``: access never
    outlives the agreement by more than one interval. The nightly jobs follow one
    another after 02:00, the directory sync first so that the allocation sees today's
    staff; reminders go out in the morning, the weekly plan on the configured day.
    """
    minutes = config["ACCESS_JOB_MINUTES"]
    offset = min(5, minutes // 3)
    hour, minute = str(config["WEEKLY_PLAN_TIME"]).split(":")
    return (
        Entry("apply_dates", {"minute": f"*/{minutes}"}, INTERVAL),
        Entry("revoke_access", {"minute": f"{offset}-59/{minutes}"}, INTERVAL),
        Entry("sync_directory", {"hour": "2", "minute": "0"}, DAY),
        Entry("allocate_rooms", {"hour": "2", "minute": "20"}, DAY),
        Entry("delete_expired_contacts", {"hour": "2", "minute": "40"}, DAY),
        Entry("refresh_crl", {"hour": "2", "minute": "50"}, DAY),
        Entry("erase_health_details", {"hour": "3", "minute": "10"}, DAY),
        Entry("prune_job_runs", {"hour": "3", "minute": "30"}, DAY),
        Entry("send_reminders", {"hour": "7", "minute": "0"}, DAY),
        Entry(
            "weekly_plan",
            {"day_of_week": config["WEEKLY_PLAN_DAY"], "hour": hour, "minute": minute},
            WEEK,
        ),
        Entry("deliver_mail", {"minute": "*"}, MINUTE),
        Entry("deliver_webhooks", {"minute": "*"}, MINUTE),
    )


def trigger(entry: Entry, zone: ZoneInfo) -> CronTrigger:
    return CronTrigger(timezone=zone, **entry.cron)


def next_runs(config: Mapping[str, Any], now: datetime) -> dict[str, datetime | None]:
    """When each job runs next after ``now``, in the administration's time zone."""
    zone = ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])
    return {
        entry.job: trigger(entry, zone).get_next_fire_time(None, now.astimezone(zone))
        for entry in schedule(config)
    }


def occurrence_key(period: str, now: datetime, zone: ZoneInfo, minutes: int = 15) -> str:
    """The slot a run at ``now`` stands for, as ISO text: the local ISO week for weekly
    jobs, the local date for daily jobs, the UTC time cut to the interval (``minutes``)
    or to the minute for the others.

    A run delayed within the misfire grace time still falls in its slot, and two
    scheduler processes firing the same trigger compute the same key.
    """
    local = now.astimezone(zone)
    if period == WEEK:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == DAY:
        return local.date().isoformat()
    utc = now.astimezone(ZoneInfo("UTC")).replace(second=0, microsecond=0)
    if period == INTERVAL:
        utc = utc.replace(minute=utc.minute - utc.minute % minutes)
    elif period != MINUTE:
        raise ValueError(f"unknown period {period!r}")
    return utc.strftime("%Y-%m-%dT%H:%MZ")


def run_scheduled(app: Flask, entry: Entry, clock: Clock = SYSTEM_CLOCK) -> None:
    """Run the entry's job for the occurrence of this moment."""
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    key = occurrence_key(entry.period, clock.now(), zone, app.config["ACCESS_JOB_MINUTES"])
    run_job(app, entry.job, occurrence=key, clock=clock)


# What the persistent job store keeps is a reference to a function and its arguments,
# which must survive pickling: the job's name, not the app. The app is the one this
# process serves, set when the scheduler is built.
_served: dict[str, Flask] = {}


def fire(job: str) -> None:
    """What a stored trigger calls."""
    app = _served["app"]
    entries = {entry.job: entry for entry in schedule(app.config)}
    run_scheduled(app, entries[job])


def fire_retries() -> None:
    """Retry failed nightly and weekly jobs whose back-off has passed."""
    app = _served["app"]
    retry_failed(app, [e.job for e in schedule(app.config) if e.period in (DAY, WEEK)])


def build_scheduler(app: Flask, *, background: bool = False) -> BaseScheduler:
    """A scheduler with every job of the schedule, in the administration's time zone.

    ``max_instances=1`` keeps a slow run from overlapping the next one in this process;
    ``coalesce`` turns a backlog after a pause into one run; runs later than the grace
    time are dropped, as the next occurrence does the same work. Jobs are replaced at
    every start, so a changed setting (e.g. the weekly plan's day) takes effect, and
    entries no longer in the schedule are removed from the store.
    """
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    engine: Engine = app.extensions["homeoffice.engine"]
    entries = schedule(app.config)
    _remove_stale(engine, {entry.job for entry in entries} | {RETRY_ID})
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    kind = BackgroundScheduler if background else BlockingScheduler
    scheduler = kind(
        jobstores={"default": store},
        timezone=zone,
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    _served["app"] = app
    for entry in entries:
        scheduler.add_job(
            fire,
            trigger(entry, zone),
            args=(entry.job,),
            id=entry.job,
            name=entry.job,
            replace_existing=True,
        )
    scheduler.add_job(
        fire_retries,
        CronTrigger(minute="*", timezone=zone),
        id=RETRY_ID,
        name=RETRY_ID,
        replace_existing=True,
    )
    return scheduler


def _remove_stale(engine: Engine, ids: set[str]) -> None:
    """Drop stored jobs that the schedule no longer has (renamed or removed jobs)."""
    if not inspect(engine).has_table(JOBSTORE_TABLE):
        return
    with engine.begin() as connection:
        stored = connection.execute(text(f"SELECT id FROM {JOBSTORE_TABLE}")).scalars().all()
        for stale in set(stored) - ids:
            connection.execute(text(f"DELETE FROM {JOBSTORE_TABLE} WHERE id = :id"), {"id": stale})


def start_embedded(app: Flask) -> BaseScheduler | None:
    """Start the scheduler inside the development server, for the demo only.

    Under Werkzeug's reloader only the child that serves requests starts it; gunicorn
    workers never get here (``wsgi.py`` refuses the setting).
    """
    if os.environ.get("WERKZEUG_RUN_MAIN") is None and app.debug:
        return None  # the reloader's watcher process: its child will start one
    scheduler = build_scheduler(app, background=True)
    scheduler.start()
    log.info("Scheduler started inside the development server (SCHEDULER_EMBEDDED)")
    return scheduler
