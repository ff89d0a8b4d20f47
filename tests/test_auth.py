"""Login, sessions and logout against the local directory (SECURITY.md items 8-13)."""

from datetime import timedelta

import pytest
from sqlmodel import select

from homeoffice.audit.models import AuditEvent
from homeoffice.auth.models import LoginAttempt, LoginSession
from homeoffice.db import utcnow
from homeoffice.people.models import Person
from tests.conftest import PASSWORD, PEOPLE, both_databases, csrf_token


def _events(app, action):
    from homeoffice.db import session_scope

    with app.app_context(), session_scope() as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


@both_databases
def test_login_opens_start_page_and_is_audited(app, client, auth):
    response = auth.login("employee")
    assert response.status_code == 302 and response.location == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Emre Kaya" in page.get_data(as_text=True)
    assert "Bürgerbüro" in page.get_data(as_text=True)
    events = _events(app, "login.success")
    assert [e.actor_name for e in events] == ["e.kaya"]


@both_databases
def test_wrong_password_refused_in_german_and_audited(app, client, auth):
    response = auth.login("employee", password="falsch")
    assert response.status_code == 200
    assert "Benutzername oder Passwort ist falsch." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert [e.actor_name for e in _events(app, "login.failure")] == ["e.kaya"]


@pytest.mark.parametrize("password", ["", "   "])
def test_empty_password_refused(client, auth, password):
    response = auth.login("employee", password=password)
    assert response.status_code in (200, 400)
    assert client.get("/").status_code == 302


def test_unknown_user_gets_the_same_message(client, auth):
    response = auth.login("nobody.here")
    assert "Benutzername oder Passwort ist falsch." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"username": PEOPLE["employee"][0], "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_logout_needs_post_with_token(client, auth):
    auth.login("employee")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    assert client.get("/").status_code == 200


def test_old_cookie_replayed_after_logout_is_refused(app, client, auth):
    auth.login("employee")
    stolen = client.get_cookie("homeoffice_session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("homeoffice_session", stolen)
    response = thief.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_session_is_new_after_login(app, client):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    token = csrf_token(client)
    client.post("/login", data={"username": "e.kaya", "password": PASSWORD, "csrf_token": token})
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "_user_id" in session


def test_cookie_flags(app, client, auth):
    response = auth.login("employee")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookie_secure_in_production(tmp_path, monkeypatch, database_url):
    from tests.conftest import make_app

    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(database_url, tmp_path, TESTING=False)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    response = app.test_client().get("/health")
    assert "Strict-Transport-Security" in response.headers


def _age_session(app, **delta):
    from homeoffice.db import session_scope

    with app.app_context(), session_scope() as session:
        for row in session.exec(select(LoginSession)).all():
            row.last_seen_at -= timedelta(**delta.get("idle", {}))
            row.created_at -= timedelta(**delta.get("created", {}))


def test_idle_timeout_ends_session(app, client, auth):
    auth.login("employee")
    _age_session(app, idle={"minutes": app.config["SESSION_IDLE_MINUTES"] + 1})
    assert client.get("/").status_code == 302
    assert _events(app, "logout.timeout")[0].detail == "idle"


def test_absolute_lifetime_ends_session(app, client, auth):
    auth.login("employee")
    _age_session(app, created={"hours": app.config["SESSION_MAX_HOURS"], "minutes": 1})
    assert client.get("/").status_code == 302
    assert _events(app, "logout.timeout")[0].detail == "expired"


def test_deactivation_ends_session(app, client, auth):
    from homeoffice.db import session_scope

    auth.login("employee")
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == "e.kaya")).one()
        person.active = False
    assert client.get("/").status_code == 302


@both_databases
def test_login_rate_limit_per_account_and_address(app, client, auth):
    limit = app.config["LOGIN_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert auth.login("employee", password="wrong").status_code == 200
    refused = auth.login("employee")  # even the right password now waits
    assert refused.status_code == 429
    assert "Zu viele falsche Versuche" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 302
    # The same account from another machine is not locked out by this attacker.
    other = app.test_client()
    token = csrf_token(other)
    response = other.post(
        "/login",
        data={"username": "e.kaya", "password": PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert response.status_code == 302


def test_rate_limit_window_slides(app, client, auth):
    from homeoffice.db import session_scope

    for _ in range(app.config["LOGIN_FAILURES_PER_ACCOUNT"]):
        auth.login("employee", password="wrong")
    assert auth.login("employee").status_code == 429
    with app.app_context(), session_scope() as session:
        for attempt in session.exec(select(LoginAttempt)).all():
            attempt.at = utcnow() - timedelta(
                minutes=app.config["LOGIN_FAILURE_WINDOW_MINUTES"] + 1
            )
    assert auth.login("employee").status_code == 302


def test_rate_limit_per_address_across_names(app, client, auth):
    limit = app.config["LOGIN_FAILURES_PER_ADDRESS"]
    for n in range(limit):
        auth.login(f"guess{n}", password="wrong")
    assert auth.login("employee").status_code == 429


def test_audit_neutralises_line_breaks(app, client, auth):
    auth.login("evil\r\nlogin.success admin", password="x")
    event = _events(app, "login.failure")[0]
    assert "\n" not in event.actor_name and "\r" not in event.actor_name
    assert "\\r\\n" in event.actor_name


def test_safe_redirect_after_login(client):
    token = csrf_token(client)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"username": "e.kaya", "password": PASSWORD, "csrf_token": token},
    )
    assert response.location == "/"


def test_redirect_back_to_requested_page(client):
    first = client.get("/people/team")
    assert first.location.startswith("/login?next=")
    token = csrf_token(client)
    response = client.post(
        first.location, data={"username": "b.vogt", "password": PASSWORD, "csrf_token": token}
    )
    assert response.location == "/people/team"


def test_fresh_login_helper_asks_for_password_again(app, client, auth):
    from flask import Blueprint

    from homeoffice.security import fresh_login_required, roles_required

    # A throwaway view using the helper the credential and export pages will use.
    bp = Blueprint("fresh_probe", __name__)

    @bp.get("/fresh-probe")
    @roles_required("employee")
    @fresh_login_required
    def probe():
        return "fresh enough"

    app.register_blueprint(bp)
    auth.login("employee")
    assert client.get("/fresh-probe").get_data(as_text=True) == "fresh enough"
    from homeoffice.db import session_scope

    with app.app_context(), session_scope() as session:
        for row in session.exec(select(LoginSession)).all():
            row.authenticated_at -= timedelta(minutes=app.config["FRESH_LOGIN_MINUTES"] + 1)
    response = client.get("/fresh-probe")
    assert response.status_code == 302 and response.location.startswith("/login")
