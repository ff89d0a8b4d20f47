"""Fixtures in the flaskr manner: ``app``, ``client``, ``runner``, ``auth``; plus real
servers (slapd, PostgreSQL, Chromium) from ``tests/servers``.

Every test gets a fresh database: a copy of a SQLite file migrated once per run, or
a PostgreSQL database created from a migrated template database.
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, event
from sqlmodel import Session
from werkzeug.serving import make_server

from homeoffice import create_app
from homeoffice.db import session_scope
from homeoffice.directory.local import LocalDirectory, hash_password
from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from homeoffice.migrations import upgrade
from homeoffice.people.services import sync_people
from tests.servers.browser import browser, page  # noqa: F401
from tests.servers.postgres import postgres_server  # noqa: F401
from tests.servers.slapd import slapd, slapd_server  # noqa: F401

PASSWORD = "Sommer-2026!"
SECRET_KEY = "test-secret-key-0123456789abcdef"
BASE = "dc=musterstadt,dc=de"
ROLE_GROUPS = {
    "hr": f"cn=homeoffice-hr,ou=groups,{BASE}",
    "it": f"cn=homeoffice-it,ou=groups,{BASE}",
    "admin": f"cn=homeoffice-admin,ou=groups,{BASE}",
    "facility": f"cn=homeoffice-facility,ou=groups,{BASE}",
}

#: the small local directory every app fixture starts with:
#: key → (username, display name, unit, manager key, role group)
PEOPLE = {
    "supervisor": ("b.vogt", "Berta Vogt", "Bürgerbüro", None, None),
    "employee": ("e.kaya", "Emre Kaya", "Bürgerbüro", "supervisor", None),
    "colleague": ("c.schaefer", "Carla Schäfer", "Bürgerbüro", "supervisor", None),
    "outsider": ("o.weiss", "Otto Weiß", "Ordnungsamt", None, None),
    "hr": ("h.lang", "Hilde Lang", "Personalamt", None, "hr"),
    "it": ("i.roth", "Ingo Roth", "IT", None, "it"),
    "admin": ("a.berg", "Anke Berg", "IT", None, "admin"),
    "facility": ("f.horn", "Falk Horn", "Hauptamt", None, "facility"),
}


def dn_of(key: str) -> str:
    return f"uid={PEOPLE[key][0]},ou=people,{BASE}"


_hash_cache: dict[str, str] = {}


def password_hash(password: str = PASSWORD) -> str:
    """argon2 is slow on purpose; one hash per password per test run is enough."""
    if password not in _hash_cache:
        _hash_cache[password] = hash_password(password)
    return _hash_cache[password]


def seed_local_directory(session: Session) -> None:
    groups = {}
    for role, dn in ROLE_GROUPS.items():
        groups[role] = LocalDirectoryGroup(dn=dn, name=role)
        session.add(groups[role])
    for key, (username, name, unit, manager, role) in PEOPLE.items():
        user = LocalDirectoryUser(
            username=username,
            dn=dn_of(key),
            display_name=name,
            unit=unit,
            manager_dn=dn_of(manager) if manager else None,
            mail=f"{username}@musterstadt.example",
            employee_number=str(100 + len(name)),
            password_hash=password_hash(),
        )
        session.add(user)
        session.flush()
        if role:
            session.flush()
            session.add(LocalDirectoryMembership(group_id=groups[role].id, user_id=user.id))
    session.flush()
    sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)


# --- databases ------------------------------------------------------------------------

_templates: dict[str, str] = {}


def _sqlite_template(tmp_path_factory) -> str:
    if "sqlite" not in _templates:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = create_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        _templates["sqlite"] = str(path)
    return _templates["sqlite"]


def _postgres_template(server) -> str:
    if "postgres" not in _templates:
        server.create_database("homeoffice_template")
        engine = create_engine(server.url("homeoffice_template"))
        upgrade(engine)
        engine.dispose()
        _templates["postgres"] = "homeoffice_template"
    return _templates["postgres"]


@pytest.fixture
def database_url(request, tmp_path, tmp_path_factory) -> Iterator[str]:
    """A fresh, migrated database: SQLite by default, or ``"postgres"`` when a test is
    parametrised with ``@both_databases`` / ``indirect=["database_url"]``."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        target = tmp_path / "homeoffice.db"
        shutil.copyfile(_sqlite_template(tmp_path_factory), target)
        yield f"sqlite:///{target}"
        return
    server = request.getfixturevalue("postgres_server")
    template = _postgres_template(server)
    name = f"test_{uuid.uuid4().hex[:12]}"
    server.create_database(name, template=template)
    yield server.url(name)
    if server.is_running():
        server.drop_database(name)


#: run a test on SQLite and on PostgreSQL
both_databases = pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def make_app(database_url: str, tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "DIRECTORY": "local",
        "ROLE_GROUPS": ROLE_GROUPS,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(database_url, tmp_path)
    with app.app_context():
        with session_scope() as session:
            seed_local_directory(session)
    yield app
    app.extensions["homeoffice.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db_session(app) -> Iterator[Session]:
    """A session outside any request, for arranging and checking data."""
    with app.app_context():
        with session_scope() as session:
            yield session


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of the form on ``path`` (CSRF stays on in the tests)."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class AuthActions:
    def __init__(self, client) -> None:
        self._client = client

    def login(self, as_: str = "employee", password: str = PASSWORD, **kwargs):
        username = PEOPLE[as_][0] if as_ in PEOPLE else as_
        token = csrf_token(self._client)
        return self._client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token},
            **kwargs,
        )

    def logout(self):
        token = csrf_token(self._client, "/")
        return self._client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


# --- measuring ------------------------------------------------------------------------


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_queries(app) -> Iterator[QueryCounter]:
    """Count the SQL statements the app's engine sends inside the block."""
    counter = QueryCounter()
    engine = app.extensions["homeoffice.engine"]

    def _before(conn, cursor, statement, parameters, context, executemany):
        counter.statements.append(statement)

    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", _before)


# --- a served app for the browser ------------------------------------------------------


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free loopback port, for Chromium."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


# --- people in the browser ------------------------------------------------------------


@pytest.fixture
def findings():
    """Console errors and axe findings of a page test, asserted with ``assert_clean()``."""
    from tests.servers.browser import Findings

    return Findings()


@pytest.fixture
def person(request, live_server, findings):
    """``person("hr")`` logs that person in, in a browser context of their own (German,
    downloads allowed); the login is fresh, as credentials and exports require."""
    from playwright.sync_api import expect

    chromium = request.getfixturevalue("browser")
    contexts = []

    def log_in(role: str):
        context = chromium.new_context(locale="de-DE", accept_downloads=True)
        contexts.append(context)
        tab = context.new_page()
        findings.watch(tab, role)
        tab.goto(f"{live_server}/login")
        tab.get_by_label("Benutzername").fill(PEOPLE[role][0])
        tab.get_by_label("Passwort").fill(PASSWORD)
        tab.get_by_role("button", name="Anmelden").click()
        expect(tab.get_by_role("button", name="Abmelden")).to_be_visible()
        return tab

    yield log_in
    for context in contexts:
        context.close()


# --- a mail server ----------------------------------------------------------------------


@pytest.fixture
def smtp_server(tmp_path_factory) -> Iterator:
    """A real SMTP server requiring STARTTLS and login (tests/servers/smtp.py), running
    at the test's start; ``.settings()`` are the app settings that send through it."""
    import importlib.util

    from tests.servers import unavailable

    if importlib.util.find_spec("aiosmtpd") is None:
        unavailable("aiosmtpd not installed: pip install -e '.[test]'")
    from tests.servers.smtp import SmtpServer

    server = SmtpServer(tmp_path_factory.mktemp("smtp"))
    server.start()
    yield server
    server.stop()
