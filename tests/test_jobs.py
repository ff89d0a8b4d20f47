"""Scheduled jobs run once per occurrence: lease, idempotent occurrences, failures recorded,
and two processes racing on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.audit.services import record
from homeoffice.db import session_scope
from homeoffice.jobs.models import JobLease, JobRun
from homeoffice.jobs.runner import JOBS, LEASE, run_job
from homeoffice.jobs.schedule import (
    DAY,
    INTERVAL,
    JOBSTORE_TABLE,
    MINUTE,
    RETRY_ID,
    WEEK,
    build_scheduler,
    next_runs,
    occurrence_key,
    run_scheduled,
    schedule,
)
from homeoffice.people.models import Person
from tests.conftest import ROLE_GROUPS, SECRET_KEY, both_databases

START = date(2026, 12, 1)
#: 08:00 in Berlin on the agreement's first day
MORNING = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parent.parent


class SettableClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def _future_agreement(app) -> int:
    """An approved agreement of Emre Kaya that starts on START."""
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == "e.kaya")).one()
        req = HomeOfficeRequest(
            person_id=person.id,
            state="approved",
            reasons="commute",
            pattern="share",
            share_percent=40,
            start_date=START,
            eligible=True,
            rule_set="ordinary@1",
        )
        session.add(req)
        session.flush()
        agreement = Agreement(
            person_id=person.id,
            request_id=req.id,
            start_date=START,
            pattern="share",
            share_percent=40,
            days_per_week=2,
            rule_set="ordinary@1",
        )
        session.add(agreement)
        session.flush()
        return agreement.id


def _count(app, statement) -> int:
    with app.app_context(), session_scope() as session:
        return session.exec(statement).one()


def _runs(app, job: str = "apply_dates") -> list[tuple[str, str, dict | None, str | None]]:
    with app.app_context(), session_scope() as session:
        runs = session.exec(select(JobRun).where(JobRun.job == job).order_by(JobRun.id)).all()
        return [(run.occurrence, run.outcome, run.counts, run.error) for run in runs]


def _agreement_state(app, agreement_id: int) -> str:
    with app.app_context(), session_scope() as session:
        return session.get(Agreement, agreement_id).state


def _activations(app) -> int:
    return _count(app, select(func.count()).where(AuditEvent.action == "agreement.activated"))


def _counting(monkeypatch, name: str = "apply_dates") -> list[date]:
    """Wrap job ``name`` so the test sees each call (and the day it was given)."""
    calls: list[date] = []
    original = JOBS[name]

    def counted(app, session, today):
        calls.append(today)
        return original(app, session, today)

    monkeypatch.setitem(JOBS, name, counted)
    return calls


@both_databases
def test_an_occurrence_runs_once(app, monkeypatch):
    agreement_id = _future_agreement(app)
    calls = _counting(monkeypatch)
    clock = SettableClock(MORNING)

    first = run_job(app, "apply_dates", occurrence="2026-12-01T07:00Z", clock=clock)
    clock.current += timedelta(seconds=30)
    second = run_job(app, "apply_dates", occurrence="2026-12-01T07:00Z", clock=clock)

    assert first is not None and first.outcome == "ok"
    assert first.counts == {"activated": 1, "expired": 0}
    assert second is None
    assert calls == [START]
    assert _agreement_state(app, agreement_id) == "active"
    assert _activations(app) == 1
    assert _runs(app) == [("2026-12-01T07:00Z", "ok", {"activated": 1, "expired": 0}, None)]
    # the lease is given back: the next occurrence runs at once, with nothing left to do
    third = run_job(app, "apply_dates", occurrence="2026-12-01T07:15Z", clock=clock)
    assert third.counts == {"activated": 0, "expired": 0} and len(calls) == 2
    assert _count(app, select(func.count()).select_from(JobLease)) == 0


def test_the_day_is_the_local_one(app, monkeypatch):
    calls = _counting(monkeypatch)
    # 23:30 UTC on 30 November is already 1 December in Berlin
    clock = SettableClock(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    run_job(app, "apply_dates", occurrence="2026-11-30T23:30Z", clock=clock)
    assert calls == [START]


@both_databases
def test_a_lease_held_elsewhere_skips_the_run(app, monkeypatch):
    agreement_id = _future_agreement(app)
    calls = _counting(monkeypatch)
    with app.app_context(), session_scope() as session:
        session.add(
            JobLease(
                job="apply_dates", holder="other:1:x", expires_at=MORNING + timedelta(minutes=1)
            )
        )

    run = run_job(app, "apply_dates", occurrence="2026-12-01", clock=SettableClock(MORNING))

    assert run is None and calls == []
    assert _agreement_state(app, agreement_id) == "approved"
    assert _runs(app) == []
    with app.app_context(), session_scope() as session:
        assert session.get(JobLease, "apply_dates").holder == "other:1:x"


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(app, monkeypatch):
    import socket

    calls = _counting(monkeypatch)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer exists
    alive = os.getppid()
    here = socket.gethostname()
    with app.app_context(), session_scope() as session:
        session.add(
            JobLease(job="apply_dates", holder=f"{here}:{alive}:x", expires_at=MORNING + LEASE)
        )
        session.add(
            JobLease(job="revoke_access", holder=f"{here}:{gone.pid}:x", expires_at=MORNING + LEASE)
        )

    # A living holder keeps its claim; a dead one on this host loses it before it expires.
    assert run_job(app, "apply_dates", occurrence="o", clock=SettableClock(MORNING)) is None
    assert calls == []
    run = run_job(app, "revoke_access", occurrence="o", clock=SettableClock(MORNING))
    assert run is not None and run.outcome == "ok"
    with app.app_context(), session_scope() as session:
        assert session.get(JobLease, "revoke_access") is None  # released after the run
        assert session.get(JobLease, "apply_dates").holder == f"{here}:{alive}:x"


@both_databases
def test_an_expired_lease_is_taken_over(app, monkeypatch):
    agreement_id = _future_agreement(app)
    calls = _counting(monkeypatch)
    with app.app_context(), session_scope() as session:
        session.add(
            JobLease(job="apply_dates", holder="crashed:1:x", expires_at=MORNING - timedelta(1))
        )

    run = run_job(app, "apply_dates", occurrence="2026-12-01", clock=SettableClock(MORNING))

    assert run.outcome == "ok" and calls == [START]
    assert run.holder != "crashed:1:x"
    assert _agreement_state(app, agreement_id) == "active"
    assert _count(app, select(func.count()).select_from(JobLease)) == 0


@both_databases
def test_a_failure_is_recorded_and_the_next_run_succeeds(app, monkeypatch):
    agreement_id = _future_agreement(app)
    original = JOBS["apply_dates"]

    def half_done_then_broken(app, session, today):
        original(app, session, today)
        raise RuntimeError("directory unreachable " + "x" * 3000)

    monkeypatch.setitem(JOBS, "apply_dates", half_done_then_broken)
    clock = SettableClock(MORNING)
    failed = run_job(app, "apply_dates", occurrence="2026-12-01", clock=clock)

    assert failed.outcome == "failed"
    assert failed.error.startswith("RuntimeError: directory unreachable x")
    assert len(failed.error) == 2000
    # the job's transaction rolled back: the half-done activation is gone
    assert _agreement_state(app, agreement_id) == "approved"
    assert _activations(app) == 0
    assert [outcome for _, outcome, _, _ in _runs(app)] == ["failed"]

    monkeypatch.setitem(JOBS, "apply_dates", original)
    clock.current += timedelta(minutes=15)
    retried = run_job(app, "apply_dates", occurrence="2026-12-01", clock=clock)

    assert retried.outcome == "ok" and retried.counts == {"activated": 1, "expired": 0}
    assert [outcome for _, outcome, _, _ in _runs(app)] == ["failed", "ok"]
    assert _agreement_state(app, agreement_id) == "active"


@both_databases
def test_a_run_finished_elsewhere_meanwhile_rolls_back(app, monkeypatch):
    """The last guard: a process that took over an expired lease while we still worked
    committed the occurrence first; our effect must not be committed on top."""

    def overtaken(app, session, today):
        record(session, action="test.effect")
        with Session(app.extensions["homeoffice.engine"]) as other:
            other.add(JobRun(job="apply_dates", occurrence="2026-12-01", outcome="ok", holder="b"))
            other.commit()
        return {"effect": 1}

    monkeypatch.setitem(JOBS, "apply_dates", overtaken)
    run = run_job(app, "apply_dates", occurrence="2026-12-01", clock=SettableClock(MORNING))

    assert run is None
    assert _count(app, select(func.count()).where(AuditEvent.action == "test.effect")) == 0
    assert _runs(app) == [("2026-12-01", "ok", None, None)]


def test_occurrence_keys():
    late_evening = datetime(2026, 11, 30, 23, 14, 59, 999, tzinfo=UTC)
    assert occurrence_key(WEEK, late_evening, BERLIN) == "2026-W49"  # Tuesday in Berlin
    assert occurrence_key(DAY, late_evening, BERLIN) == "2026-12-01"
    assert occurrence_key(INTERVAL, late_evening, BERLIN) == "2026-11-30T23:00Z"
    assert occurrence_key(INTERVAL, late_evening, BERLIN, minutes=5) == "2026-11-30T23:10Z"
    assert occurrence_key(MINUTE, late_evening, BERLIN) == "2026-11-30T23:14Z"
    # a run delayed within the misfire grace time stays in its interval
    assert occurrence_key(INTERVAL, late_evening.replace(minute=4), BERLIN) == "2026-11-30T23:00Z"
    with pytest.raises(ValueError):
        occurrence_key("fortnight", late_evening, BERLIN)


def test_the_scheduler_knows_every_job_and_keeps_them_in_the_database(app):
    engine = app.extensions["homeoffice.engine"]
    with engine.begin() as connection:
        # a job an older version scheduled: removed at the next start
        connection.exec_driver_sql(
            f"CREATE TABLE {JOBSTORE_TABLE} (id VARCHAR(191) PRIMARY KEY, "
            "next_run_time FLOAT, job_state BLOB NOT NULL)"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {JOBSTORE_TABLE} VALUES ('renamed_job', NULL, x'00')"
        )
    scheduler = build_scheduler(app, background=True)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == set(JOBS) | {RETRY_ID}
        assert set(JOBS) == {entry.job for entry in schedule(app.config)}
        for job in jobs.values():
            assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 300)
        assert str(jobs["apply_dates"].trigger) == "cron[minute='*/15']"
        assert str(jobs["revoke_access"].trigger) == "cron[minute='5-59/15']"
        assert str(jobs["deliver_mail"].trigger) == "cron[minute='*']"
        assert str(jobs["sync_directory"].trigger) == "cron[hour='2', minute='0']"
        assert str(jobs["weekly_plan"].trigger) == (
            "cron[day_of_week='fri', hour='12', minute='0']"
        )
        assert str(scheduler.timezone) == "Europe/Berlin"
    finally:
        scheduler.shutdown(wait=False)
    # The persistent store: the jobs and their next run times are rows in our database.
    with engine.connect() as connection:
        stored = dict(
            connection.exec_driver_sql(f"SELECT id, next_run_time FROM {JOBSTORE_TABLE}").all()
        )
    assert set(stored) == set(JOBS) | {RETRY_ID}
    assert all(next_run is not None for next_run in stored.values())


def test_the_schedule_follows_the_settings(app):
    app.config.update(ACCESS_JOB_MINUTES=5, WEEKLY_PLAN_DAY="thu", WEEKLY_PLAN_TIME="15:30")
    entries = {entry.job: entry for entry in schedule(app.config)}
    assert entries["apply_dates"].cron == {"minute": "*/5"}
    assert entries["revoke_access"].cron == {"minute": "1-59/5"}
    upcoming = next_runs(app.config, MORNING)  # Tuesday 08:00 in Berlin
    assert upcoming["revoke_access"] == datetime(2026, 12, 1, 8, 1, tzinfo=BERLIN)
    assert upcoming["sync_directory"] == datetime(2026, 12, 2, 2, 0, tzinfo=BERLIN)
    assert upcoming["weekly_plan"] == datetime(2026, 12, 3, 15, 30, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ACCESS_JOB_MINUTES", 7),
        ("WEEKLY_PLAN_DAY", "freitag"),
        ("WEEKLY_PLAN_TIME", "25:00"),
        ("REMINDER_DAYS", [30, -1]),
        ("JOB_RETRY_MINUTES", 0),
    ],
)
def test_schedule_settings_that_cannot_work_are_refused(database_url, tmp_path, key, value):
    from homeoffice.config import ConfigError
    from tests.conftest import make_app

    with pytest.raises(ConfigError, match=key):
        make_app(database_url, tmp_path, **{key: value})


# --- two processes on PostgreSQL -------------------------------------------------------

_RACER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    import homeoffice.models
    from homeoffice import create_app
    from homeoffice.audit.services import record
    from homeoffice.jobs.runner import JOBS, LEASE, run_job

    def slow_effect(app, session, today):
        record(session, action="test.raced")
        time.sleep(0.5)
        return {"ran": 1}

    JOBS["race"] = slow_effect
    config, barrier, me = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    app = create_app(config)
    with app.app_context():
        app.extensions["homeoffice.engine"].connect().close()
    (barrier / me).touch()
    deadline = time.monotonic() + 20
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    run = run_job(app, "race", occurrence="2026-12-01")
    print(run.outcome if run else "none")
    """
)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_processes_run_an_occurrence_once(database_url, tmp_path):
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "DIRECTORY": "local",
        "ROLE_GROUPS": ROLE_GROUPS,
    }
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "HOMEOFFICE_INSTANCE_PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, json.dumps(config), str(barrier), name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    results = [racer.communicate(timeout=60) for racer in racers]
    for racer, (_, err) in zip(racers, results, strict=True):
        assert racer.returncode == 0, err

    assert sorted(out.strip() for out, _ in results) == ["none", "ok"]
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            runs = session.exec(select(JobRun).where(JobRun.job == "race")).all()
            effects = session.exec(
                select(func.count()).where(AuditEvent.action == "test.raced")
            ).one()
    finally:
        engine.dispose()
    assert [(run.occurrence, run.outcome) for run in runs] == [("2026-12-01", "ok")]
    assert effects == 1


def test_every_job_runs(app):
    clock = SettableClock(MORNING)
    outcomes = {}
    for name in JOBS:
        run = run_job(app, name, occurrence="2026-12-01", clock=clock)
        outcomes[name] = (run.outcome, run.error)
    assert outcomes == {name: ("ok", None) for name in JOBS}


def test_a_trigger_runs_its_occurrence(app):
    run_scheduled(app, schedule(app.config)[0], SettableClock(MORNING + timedelta(minutes=7)))
    assert [(occurrence, outcome) for occurrence, outcome, _, _ in _runs(app)] == [
        ("2026-12-01T07:00Z", "ok")
    ]
