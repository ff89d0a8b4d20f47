"""The admin page of the scheduled jobs: history, next runs, and "start now" (POST, CSRF,
audited, admins only)."""

from __future__ import annotations

from sqlmodel import select

from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.jobs.models import JobRun
from homeoffice.jobs.runner import JOBS
from tests.conftest import csrf_token


def _runs(app, job: str) -> list[JobRun]:
    with app.app_context(), session_scope() as session:
        return list(session.exec(select(JobRun).where(JobRun.job == job)).all())


def test_admins_see_every_job_with_its_next_run(client, auth):
    auth.login("admin")
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "Zeitgesteuerte Abläufe" in html
    for name in JOBS:
        assert f"<code>{name}</code>" in html
    assert "Liest die Beschäftigten aus dem Verzeichnis" in html  # sync_directory, in German
    assert html.count("Jetzt starten") == len(JOBS)
    assert "Noch kein Ablauf ist gelaufen." in html


def test_other_roles_may_not_see_or_start_jobs(client, auth):
    for role in ("hr", "it", "employee"):
        auth.login(role)
        assert client.get("/admin/jobs").status_code == 403
        token = csrf_token(client, "/")
        response = client.post("/admin/jobs/apply_dates/run", data={"csrf_token": token})
        assert response.status_code == 403
        auth.logout()
    assert _runs(client.application, "apply_dates") == []


def test_start_now_runs_the_job_and_audits_who_started_it(app, client, auth):
    auth.login("admin")
    assert client.get("/admin/jobs/refresh_crl/run").status_code == 405  # no change on GET
    assert client.post("/admin/jobs/refresh_crl/run").status_code == 400  # no CSRF token
    assert _runs(app, "refresh_crl") == []

    token = csrf_token(client, "/admin/jobs")
    response = client.post(
        "/admin/jobs/refresh_crl/run", data={"csrf_token": token}, follow_redirects=True
    )
    assert response.status_code == 200
    assert "Der Ablauf ist gelaufen." in response.get_data(as_text=True)
    (run,) = _runs(app, "refresh_crl")
    assert run.outcome == "ok" and run.occurrence.startswith("manual-")
    with app.app_context(), session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "job.started")).one()
        assert (event.object_type, event.object_id) == ("job", "refresh_crl")
        assert "ok" in event.detail
    # The history, filtered by the job, shows the run with its counts.
    html = client.get("/admin/jobs?job=refresh_crl").get_data(as_text=True)
    assert "Verlauf von refresh_crl" in html and "crl_number: " in html


def test_an_unknown_job_is_not_found(client, auth):
    auth.login("admin")
    token = csrf_token(client, "/admin/jobs")
    assert client.post("/admin/jobs/rm -rf/run", data={"csrf_token": token}).status_code == 404
    # an unknown filter shows every job rather than failing
    assert client.get("/admin/jobs?job=%3Cscript%3E").status_code == 200


def test_a_failing_job_is_shown_as_a_warning(app, client, auth, monkeypatch):
    def broken(app_, session, today):
        raise ConnectionError("directory unreachable")

    monkeypatch.setitem(JOBS, "sync_directory", broken)
    auth.login("admin")
    for _ in range(3):
        token = csrf_token(client, "/admin/jobs")
        response = client.post(
            "/admin/jobs/sync_directory/run", data={"csrf_token": token}, follow_redirects=True
        )
        assert "Der Ablauf ist fehlgeschlagen: ConnectionError" in response.get_data(as_text=True)
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "3-mal nacheinander fehlgeschlagen" in html
    assert client.get("/health").json["jobs"] == "warning"
