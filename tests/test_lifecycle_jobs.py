"""The lifecycle jobs that mail and tidy up: reminders before an agreement ends, overdue
laptops, next week's plan, erasing health details, leavers, and retries with back-off.

Time travels through a settable clock; every job runs through ``run_job`` as the
scheduler runs it, and the effects are counted in the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.devices.models import Device, Handover
from homeoffice.directory.models import LocalDirectoryUser
from homeoffice.jobs.models import JobRun
from homeoffice.jobs.runner import JOBS, retry_failed, run_job
from homeoffice.notifications.models import OutboxMessage
from homeoffice.people.models import Person
from homeoffice.tasks.models import ItTask
from tests.conftest import both_databases

END = date(2027, 3, 31)


class SettableClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def at(day: date, hour: int = 6) -> SettableClock:
    """A clock on ``day`` at ``hour`` UTC (07:00 or 08:00 in Berlin)."""
    return SettableClock(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))


def _person(session, username: str) -> Person:
    return session.exec(select(Person).where(Person.username == username)).one()


def _agreement(app, username="e.kaya", *, end=END, reasons="commute", state="active", **extra):
    with app.app_context(), session_scope() as session:
        person = _person(session, username)
        req = HomeOfficeRequest(
            person_id=person.id,
            state="approved",
            reasons=reasons,
            pattern="share",
            share_percent=40,
            start_date=date(2026, 1, 1),
            end_date=end,
            eligible=True,
            rule_set="ordinary@1",
            **{k: v for k, v in extra.items() if k in ("health_certificate", "other_text")},
        )
        session.add(req)
        session.flush()
        agreement = Agreement(
            person_id=person.id,
            request_id=req.id,
            state=state,
            start_date=date(2026, 1, 1),
            end_date=end,
            pattern="share",
            share_percent=40,
            days_per_week=2,
            rule_set="ordinary@1",
            **{k: v for k, v in extra.items() if k in ("ended_at", "health_verified")},
        )
        session.add(agreement)
        session.flush()
        return agreement.id, req.id


def _mails(app, event: str | None = None) -> list[tuple[str, str, str]]:
    with app.app_context(), session_scope() as session:
        statement = select(OutboxMessage).order_by(OutboxMessage.id)
        if event:
            statement = statement.where(OutboxMessage.event == event)
        return [(m.to_address, m.subject, m.body_text) for m in session.exec(statement).all()]


# --- reminders before the end ---------------------------------------------------------


@both_databases
def test_reminders_go_out_30_and_7_days_before_the_end_once_each(app):
    _agreement(app)
    run_job(app, "send_reminders", occurrence="a", clock=at(END - timedelta(days=31)))
    assert _mails(app) == []

    run_job(app, "send_reminders", occurrence="b", clock=at(END - timedelta(days=30)))
    mails = _mails(app, "agreement.ending")
    assert sorted(to for to, _, _ in mails) == [
        "b.vogt@musterstadt.example",  # the supervisor
        "e.kaya@musterstadt.example",  # the employee
        "h.lang@musterstadt.example",  # HR
    ]
    employee = next(m for m in mails if m[0].startswith("e.kaya"))
    assert employee[1] == "Ihre Homeoffice-Vereinbarung endet am 31.03.2027"
    assert "in 30 Tagen" in employee[2]
    assert "/homeoffice/requests/new?kind=renewal" in employee[2]  # the renewal link
    hr = next(m for m in mails if m[0].startswith("h.lang"))
    assert "Emre Kaya" in hr[2]

    # The next days' runs (and a repeated run) send nothing until the 7-day stage.
    for days_left in (29, 10, 8):
        run_job(
            app,
            "send_reminders",
            occurrence=f"d{days_left}",
            clock=at(END - timedelta(days=days_left)),
        )
    assert len(_mails(app)) == 3
    run_job(app, "send_reminders", occurrence="e", clock=at(END - timedelta(days=7)))
    assert len(_mails(app)) == 6
    assert "in 7 Tagen" in _mails(app)[-3][2] or any("in 7 Tagen" in m[2] for m in _mails(app))
    run_job(app, "send_reminders", occurrence="f", clock=at(END - timedelta(days=3)))
    assert len(_mails(app)) == 6


def test_a_late_start_gets_only_the_nearest_reminder(app):
    _agreement(app, end=date(2027, 3, 5))
    run_job(app, "send_reminders", occurrence="x", clock=at(date(2027, 3, 1)))
    run_job(app, "send_reminders", occurrence="y", clock=at(date(2027, 3, 2)))
    employee = [m for m in _mails(app) if m[0].startswith("e.kaya")]
    assert len(employee) == 1
    assert "in 4 Tagen" in employee[0][2]


def test_no_reminder_when_a_renewal_is_already_asked_for(app):
    agreement_id, _ = _agreement(app)
    with app.app_context(), session_scope() as session:
        person = _person(session, "e.kaya")
        session.add(
            HomeOfficeRequest(
                person_id=person.id,
                kind="renewal",
                agreement_id=agreement_id,
                state="submitted",
                reasons="commute",
                start_date=END + timedelta(days=1),
            )
        )
    run_job(app, "send_reminders", occurrence="a", clock=at(END - timedelta(days=30)))
    assert _mails(app) == []


def test_reminders_speak_the_persons_language(app):
    _agreement(app)
    with app.app_context(), session_scope() as session:
        _person(session, "e.kaya").locale = "en"
    run_job(app, "send_reminders", occurrence="a", clock=at(END - timedelta(days=7)))
    employee = next(m for m in _mails(app) if m[0].startswith("e.kaya"))
    assert employee[1] == "Your home-office agreement ends on Mar 31, 2027"
    assert "in 7 days" in employee[2]
    supervisor = next(m for m in _mails(app) if m[0].startswith("b.vogt"))
    assert supervisor[1].startswith("Homeoffice von Emre Kaya endet")


# --- overdue laptops --------------------------------------------------------------------


def test_overdue_laptops_are_reminded_once_a_week(app):
    with app.app_context(), session_scope() as session:
        person, it = _person(session, "e.kaya"), _person(session, "i.roth")
        device = Device(
            asset_tag="MS-4711", serial_number="S4711", model="ThinkPad", state="issued"
        )
        session.add(device)
        session.flush()
        session.add(
            Handover(
                device_id=device.id,
                person_id=person.id,
                handed_over_on=date(2026, 1, 5),
                handed_over_by_id=it.id,
                expected_return=date(2026, 11, 30),
            )
        )
    run_job(app, "send_reminders", occurrence="1", clock=at(date(2026, 11, 30)))
    assert _mails(app) == []  # due today is not overdue
    run_job(app, "send_reminders", occurrence="2", clock=at(date(2026, 12, 2)))
    mails = _mails(app, "device.overdue")
    assert sorted(to for to, _, _ in mails) == [
        "e.kaya@musterstadt.example",
        "i.roth@musterstadt.example",
    ]
    assert "MS-4711" in mails[0][1] and "vor 2 Tagen" in mails[0][2]
    run_job(app, "send_reminders", occurrence="3", clock=at(date(2026, 12, 4)))  # same week
    assert len(_mails(app)) == 2
    run_job(app, "send_reminders", occurrence="4", clock=at(date(2026, 12, 7)))  # next week
    assert len(_mails(app)) == 4


# --- next week's plan -------------------------------------------------------------------


def test_the_weekly_plan_goes_to_everyone_once_per_week(app):
    from homeoffice.jobs.schedule import run_scheduled, schedule

    entry = next(e for e in schedule(app.config) if e.job == "weekly_plan")
    friday_noon = SettableClock(datetime(2026, 12, 18, 11, tzinfo=UTC))
    run_scheduled(app, entry, friday_noon)
    run_scheduled(app, entry, friday_noon)  # a second scheduler process, or a retry
    mails = _mails(app, "plan.weekly")
    assert len(mails) == 8 == len({to for to, _, _ in mails})  # everyone, once
    to, subject, body = next(m for m in mails if m[0].startswith("e.kaya"))
    assert subject == "Ihre Woche ab 21.12.2026"
    # Christmas is a public holiday in NRW; the other days are office days (no agreement).
    assert "- Freitag, 25.12.: Feiertag (Erster Weihnachtstag)\n" in body
    assert "- Montag, 21.12.: im Büro\n" in body
    assert "/presence/?week=2026-12-21" in body
    with app.app_context(), session_scope() as session:
        runs = session.exec(select(JobRun).where(JobRun.job == "weekly_plan")).all()
        assert [(run.occurrence, run.outcome) for run in runs] == [("2026-W51", "ok")]


# --- erasing health details -----------------------------------------------------------


def test_health_details_are_erased_after_the_retention_period(app):
    long_ago = datetime(2026, 4, 1, tzinfo=UTC)
    recent = datetime(2026, 11, 1, tzinfo=UTC)
    old_id, old_req = _agreement(
        app,
        reasons="health commute",
        state="expired",
        end=date(2026, 3, 31),
        ended_at=long_ago,
        health_certificate=True,
        health_verified=True,
        other_text="Rückenleiden",
    )
    new_id, new_req = _agreement(
        app,
        "c.schaefer",
        reasons="health",
        state="expired",
        end=date(2026, 10, 31),
        ended_at=recent,
        health_certificate=True,
        other_text="Allergie",
    )
    plain_id, plain_req = _agreement(
        app,
        "o.weiss",
        reasons="commute",
        state="expired",
        end=date(2026, 3, 31),
        ended_at=long_ago,
        other_text="Pendelstrecke 60 km",
    )
    run = run_job(app, "erase_health_details", occurrence="2026-12-01", clock=at(date(2026, 12, 1)))
    assert run.counts == {"erased": 1}
    with app.app_context(), session_scope() as session:
        old = session.get(HomeOfficeRequest, old_req)
        assert (old.reasons, old.health_certificate, old.other_text, old.verdict) == (
            "commute",
            False,
            None,
            None,
        )
        assert session.get(Agreement, old_id).health_verified is False
        assert session.get(Agreement, old_id).end_date == date(2026, 3, 31)  # the rest stays
        recent_req = session.get(HomeOfficeRequest, new_req)
        assert (recent_req.reasons, recent_req.other_text) == ("health", "Allergie")
        assert session.get(HomeOfficeRequest, plain_req).other_text == "Pendelstrecke 60 km"
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "retention.health_erased")
        ).all()
        assert [(e.object_type, e.object_id) for e in events] == [("request", str(old_req))]
        # The erasure is audited without the erased data.
        assert "Rücken" not in repr(events[0].__dict__)
        assert "health" not in repr(events[0].before) + repr(events[0].after)
    run = run_job(app, "erase_health_details", occurrence="2026-12-02", clock=at(date(2026, 12, 2)))
    assert run.counts == {"erased": 0}


# --- leavers ----------------------------------------------------------------------------


def test_the_nightly_sync_revokes_the_agreement_of_someone_who_left(app):
    agreement_id, _ = _agreement(app)
    with app.app_context(), session_scope() as session:
        user = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == "e.kaya")
        ).one()
        session.delete(user)
    run = run_job(app, "sync_directory", occurrence="2026-12-01", clock=at(date(2026, 12, 1), 1))
    assert run.outcome == "ok"
    assert run.counts["deactivated"] == 1 and run.counts["agreements_ended"] == 1
    with app.app_context(), session_scope() as session:
        agreement = session.get(Agreement, agreement_id)
        assert agreement.state == "revoked"
        assert "left" in agreement.end_reason
        tasks = session.exec(select(ItTask).where(ItTask.agreement_id == agreement_id)).all()
        # Due on the job's day (its clock), not on the machine's.
        assert [(t.kind, t.state, t.due_date) for t in tasks] == [
            ("revoke_access", "open", date(2026, 12, 1))
        ]


@both_databases
def test_an_expired_agreement_falls_due_on_the_job_clocks_day(app):
    agreement_id, _ = _agreement(app, end=date(2027, 5, 31))
    with app.app_context(), session_scope() as session:
        laptop = Device(asset_tag="MS-9001", serial_number="S9001", model="T14", state="issued")
        session.add(laptop)
        session.flush()
        person, it = _person(session, "e.kaya"), _person(session, "i.roth")
        session.add(
            Handover(
                device_id=laptop.id,
                person_id=person.id,
                agreement_id=agreement_id,
                handed_over_on=date(2026, 1, 5),
                handed_over_by_id=it.id,
                expected_return=date(2027, 6, 30),
            )
        )
    run_job(app, "apply_dates", occurrence="2027-06-01", clock=at(date(2027, 6, 1)))
    with app.app_context(), session_scope() as session:
        assert session.get(Agreement, agreement_id).state == "expired"
        tasks = session.exec(select(ItTask).where(ItTask.agreement_id == agreement_id)).all()
        assert [(t.kind, t.due_date) for t in tasks] == [("revoke_access", date(2027, 6, 1))]
        handover = session.exec(select(Handover).where(Handover.agreement_id == agreement_id)).one()
        assert handover.expected_return == date(2027, 6, 1)


# --- retries with back-off ------------------------------------------------------------


def test_a_failed_nightly_job_is_retried_with_back_off(app, monkeypatch):
    calls = []

    def flaky(app_, session, today):
        calls.append(today)
        if len(calls) < 3:
            raise ConnectionError("directory unreachable")
        return {"ok": 1}

    monkeypatch.setitem(JOBS, "sync_directory", flaky)
    failed_at = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    run_job(app, "sync_directory", occurrence="2026-12-01", clock=SettableClock(failed_at))
    assert len(calls) == 1

    def retry(minutes: int):
        return retry_failed(
            app, ["sync_directory"], clock=SettableClock(failed_at + timedelta(minutes=minutes))
        )

    assert retry(4) == [] and len(calls) == 1  # first back-off: 5 minutes
    assert [r.outcome for r in retry(5)] == ["failed"] and len(calls) == 2
    assert retry(14) == []  # second back-off: 10 minutes after the last failure
    assert [r.outcome for r in retry(16)] == ["ok"] and len(calls) == 3
    assert retry(120) == []  # nothing to retry after a success
    with app.app_context(), session_scope() as session:
        outcomes = session.exec(select(JobRun.occurrence, JobRun.outcome).order_by(JobRun.id)).all()
    assert outcomes == [("2026-12-01", "failed")] * 2 + [("2026-12-01", "ok")]


def test_retries_stop_after_the_configured_number(app, monkeypatch):
    app.config["JOB_RETRIES"] = 2

    def broken(app_, session, today):
        raise ConnectionError("directory unreachable")

    monkeypatch.setitem(JOBS, "sync_directory", broken)
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    run_job(app, "sync_directory", occurrence="2026-12-01", clock=SettableClock(start))
    for hours in range(1, 6):
        retry_failed(app, ["sync_directory"], clock=SettableClock(start + timedelta(hours=hours)))
    with app.app_context(), session_scope() as session:
        failures = session.exec(select(JobRun).where(JobRun.outcome == "failed")).all()
    assert len(failures) == 3  # the run and two retries
    assert failures[-1].error == "ConnectionError: directory unreachable"


# --- the run record is pruned -----------------------------------------------------------


def test_old_run_records_are_pruned(app):
    with app.app_context(), session_scope() as session:
        for started in (datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)):
            session.add(
                JobRun(
                    job="deliver_mail",
                    occurrence=started.isoformat(),
                    started_at=started,
                    outcome="ok",
                    holder="t",
                )
            )
    run = run_job(app, "prune_job_runs", occurrence="2026-12-01", clock=at(date(2026, 12, 1)))
    assert run.counts == {"deleted": 1}
    with app.app_context(), session_scope() as session:
        left = session.exec(select(JobRun.job, JobRun.occurrence).order_by(JobRun.id)).all()
    assert [job for job, _ in left] == ["deliver_mail", "prune_job_runs"]


@pytest.mark.parametrize("job", ["send_reminders", "weekly_plan", "erase_health_details"])
def test_new_jobs_are_idempotent_per_occurrence(app, job):
    _agreement(app, end=date(2026, 12, 8))
    clock = at(date(2026, 12, 1))
    first = run_job(app, job, occurrence="2026-12-01", clock=clock)
    before = len(_mails(app))
    assert first.outcome == "ok"
    assert run_job(app, job, occurrence="2026-12-01", clock=clock) is None
    assert len(_mails(app)) == before
