"""/health: JSON, no login, 503 naming the failing part."""

import pytest

from tests.conftest import make_app


def test_health_ok_without_login(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "directory": "ok", "jobs": "ok"}


def test_health_warns_after_repeated_job_failures(app, client):
    from homeoffice.db import session_scope
    from homeoffice.jobs.models import FAILED, OK, JobRun

    def runs(*outcomes):
        with app.app_context(), session_scope() as session:
            for number, outcome in enumerate(outcomes):
                session.add(
                    JobRun(
                        job="sync_directory",
                        occurrence=f"2026-11-{number + 1:02d}",
                        outcome=outcome,
                        holder="test",
                        error="LDAPSocketOpenError",
                    )
                )

    runs(FAILED, FAILED)
    assert client.get("/health").json["jobs"] == "ok"  # two failures are not yet a pattern
    runs(FAILED)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json["status"] == "warning"
    assert response.json["jobs"] == "warning"
    assert "LDAP" not in response.get_data(as_text=True)  # details go to the log only
    runs(OK)
    assert client.get("/health").json == {
        "status": "ok",
        "database": "ok",
        "directory": "ok",
        "jobs": "ok",
    }


def test_health_reports_unreachable_sqlite_database(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/x.db", tmp_path)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["database"] == "unavailable"
    assert response.json["status"] == "unavailable"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_health_says_503_when_postgres_stops(app, client, postgres_server):
    assert client.get("/health").status_code == 200
    postgres_server.stop()
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json["database"] == "unavailable"
    finally:
        postgres_server.start()
    assert client.get("/health").status_code == 200
