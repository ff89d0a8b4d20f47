"""When each job runs: the scheduler process started by ``flask --app homeoffice scheduler``.

The scheduler runs in a process of its own, never inside the web workers (SECURITY.md
item 29). Its job store is APScheduler's default memory store on purpose: the schedule
is this module, rebuilt at every start, and once-only execution comes from the database
lease and the ``job_run`` table (``homeoffice.jobs.runner``), so a second scheduler
process for failover needs no shared APScheduler state and cannot run an occurrence twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from homeoffice.jobs.runner import SYSTEM_CLOCK, Clock, run_job

#: periods an occurrence key is truncated to
MINUTE = "minute"
QUARTER = "quarter"
DAY = "day"


@dataclass(frozen=True)
class Entry:
    """One line of the schedule: a job, its cron fields and the period of its occurrences."""

    job: str
    cron: dict[str, str]
    period: str


#: apply_dates and revoke_access every 15 minutes: access never outlives the agreement
#: by more than one job interval. The nightly jobs follow one another after 02:00, the
#: directory sync first so that the allocation sees today's staff.
SCHEDULE = (
    Entry("apply_dates", {"minute": "*/15"}, QUARTER),
    Entry("revoke_access", {"minute": "5-59/15"}, QUARTER),
    Entry("sync_directory", {"hour": "2", "minute": "0"}, DAY),
    Entry("allocate_rooms", {"hour": "2", "minute": "20"}, DAY),
    Entry("delete_expired_contacts", {"hour": "2", "minute": "40"}, DAY),
    Entry("refresh_crl", {"hour": "2", "minute": "50"}, DAY),
    Entry("deliver_mail", {"minute": "*"}, MINUTE),
)


def occurrence_key(period: str, now: datetime, zone: ZoneInfo) -> str:
    """The slot a run at ``now`` stands for, as ISO text: the local date for daily jobs,
    the UTC time cut to the quarter hour or the minute for the others.

    A run delayed within ``misfire_grace_time`` (five minutes) still falls in its slot,
    and two scheduler processes firing the same trigger compute the same key.
    """
    if period == DAY:
        return now.astimezone(zone).date().isoformat()
    utc = now.astimezone(ZoneInfo("UTC")).replace(second=0, microsecond=0)
    if period == QUARTER:
        utc = utc.replace(minute=utc.minute - utc.minute % 15)
    elif period != MINUTE:
        raise ValueError(f"unknown period {period!r}")
    return utc.strftime("%Y-%m-%dT%H:%MZ")


def run_scheduled(app: Flask, entry: Entry, clock: Clock = SYSTEM_CLOCK) -> None:
    """What the trigger calls: run the job for the occurrence of this moment."""
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    run_job(app, entry.job, occurrence=occurrence_key(entry.period, clock.now(), zone), clock=clock)


def build_scheduler(app: Flask) -> BlockingScheduler:
    """A blocking scheduler with every job of SCHEDULE, in the administration's time zone.

    ``max_instances=1`` keeps a slow run from overlapping the next one in this process;
    ``coalesce`` turns a backlog after a pause into one run; runs more than five minutes
    late are dropped, as the next occurrence does the same work.
    """
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    scheduler = BlockingScheduler(timezone=zone)
    for entry in SCHEDULE:
        scheduler.add_job(
            run_scheduled,
            CronTrigger(timezone=zone, **entry.cron),
            args=(app, entry),
            id=entry.job,
            name=entry.job,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
        )
    return scheduler
