"""The HR queue page with 10,000 requests against the same page with 100 requests.

Measures latency (mean, p50, p95 in ms) and SQL statements per request of
``GET /homeoffice/queue`` (logged in as ``demo.hr``) on a database whose
``home_office_request`` table holds ``--rows`` requests (default 10,000), and in the
same run, request by request in alternation, the same page on a database with
``--reference-rows`` requests (default 100). The page is paginated, so neither the
latency nor the number of statements should grow with the rows: the ratio of the
p95s should stay near 1 and the statement counts must be equal. Besides the plain
page it measures filtered variants (unit, reason, verdict, state, name search) and a
deep page (``?page=50``).

Everything runs in this process with Flask's test client (no server, no network):
the two databases are built in a temporary directory (SQLite, the default) or as two
throw-away databases on the PostgreSQL server of ``--database-url``, and removed at
the end. Any ``HOMEOFFICE_*``/``FLASK_*`` setting of the caller's shell is ignored,
so the benchmark never touches a real database. The last line of the output is one
JSON object, for comparing runs. Exit status 1 if a statement count differs between
the two databases.

Usage: ``.venv/bin/python bench/hr_queue.py [--requests N] [--rows R] [--reference-rows R]
[--warmup W] [--max-seconds S] [--without-agreements] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from _common import BenchError, percentile, run_main
from flask import Flask
from sqlalchemy import Engine, create_engine, event, func, insert, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# ``python bench/hr_queue.py`` puts bench/ first on the path, not the checkout; the root
# must come before bench/, whose policies.py would otherwise hide the ``policies`` package.
# homeoffice is therefore imported inside the functions, after this line.
sys.path.insert(0, str(REPO_ROOT))

LOGIN_USER = "demo.hr"
QUEUE_PATH = "/homeoffice/queue"
#: the unit whose requests the ``unit`` scenario filters for
FILTER_UNIT = "Bürgerbüro"
#: a name part the ``search`` scenario looks for (one of the demo city's last names)
SEARCH_TERM = "Müller"
#: generated people are named ``bench.00001`` …, so they never clash with the demo city
USERNAME_PREFIX = "bench."
SEED = 4711

#: generated request states and their weights: mostly waiting for a decision
STATE_WEIGHTS = {"submitted": 35, "endorsed": 35, "objected": 10, "approved": 12, "rejected": 8}
REASON_CHOICES = (
    ("childcare",),
    ("care",),
    ("commute",),
    ("health",),
    ("other",),
    ("childcare", "commute"),
    ("care", "commute"),
)


class _CsrfFinder(HTMLParser):
    """Picks the value of the hidden ``csrf_token`` input out of the login form."""

    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name") == "csrf_token" and self.token is None:
            self.token = attributes.get("value")


# --- statements --------------------------------------------------------------------------


#: an expanded ``IN (?, ?, …)`` list (SQLite's ``?``, psycopg's ``%(name)s::TYPE``): its
#: length follows the data, so statements are compared with the list collapsed to ``(…)``
_PARAMETER = r"(?:\?|%\(\w+\)s(?:::\w+)?)"
_IN_LIST = re.compile(rf"IN \({_PARAMETER}(?:, {_PARAMETER})*\)")


class StatementLog:
    """Every SQL statement an engine sends, with its execution time, per request.

    Listens like ``tests/conftest.py``'s ``count_queries`` (``before_cursor_execute``)
    and adds ``after_cursor_execute`` for the time, so that a slow page can be blamed
    on one statement. The time is the DBAPI ``execute`` call: for a SELECT that runs
    the query up to its first row, which includes any sort, but not the fetching of
    the remaining rows.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.current: list[tuple[str, float]] = []
        self.attached = False

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        began = conn.info["bench_started"].pop()
        self.current.append(
            (_IN_LIST.sub("IN (…)", statement), (time.perf_counter() - began) * 1000)
        )

    def attach(self) -> None:
        """Start listening on the engine."""
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        self.attached = True

    def detach(self) -> None:
        """Stop listening (before the engine is disposed); nothing if not listening."""
        if not self.attached:
            return
        self.attached = False
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def take(self) -> list[tuple[str, float]]:
        """The statements since the last call, and start a new list."""
        taken, self.current = self.current, []
        return taken


# --- figures -----------------------------------------------------------------------------


@dataclass
class Measurement:
    """What the requests of one scenario on one database produced."""

    latencies_ms: list[float] = field(default_factory=list)
    query_counts: list[int] = field(default_factory=list)
    #: statement text → execution times (ms), summed per request
    statement_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: what the page says: matching requests, rows shown, (page shown, pages in all)
    total: int | None = None
    shown: int | None = None
    page: tuple[int, int] | None = None

    def add(self, latency_ms: float, statements: list[tuple[str, float]]) -> None:
        """Record one request: its time and the statements it sent."""
        self.latencies_ms.append(latency_ms)
        self.query_counts.append(len(statements))
        per_request: dict[str, float] = defaultdict(float)
        for statement, ms in statements:
            per_request[statement] += ms
        for statement, ms in per_request.items():
            self.statement_ms[statement].append(ms)

    @property
    def mean(self) -> float:
        """Mean latency in ms."""
        return sum(self.latencies_ms) / len(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def queries(self) -> int:
        """The usual statement count per request (the most common one).

        Not the maximum: about once a minute a request also writes the login session's
        ``last_seen_at`` (``auth.services.load_session``), whichever database it hits.
        """
        return Counter(self.query_counts).most_common(1)[0][0] if self.query_counts else 0

    @property
    def sql_ms(self) -> float:
        """Mean time per request spent executing statements (ms)."""
        n = len(self.latencies_ms) or 1
        return sum(sum(times) for times in self.statement_ms.values()) / n

    def dominant_statement(self) -> tuple[str, float]:
        """The statement with the largest mean time per request, and that mean (ms)."""
        n = len(self.latencies_ms) or 1
        statement, times = max(self.statement_ms.items(), key=lambda item: sum(item[1]))
        return statement, sum(times) / n

    def summary(self) -> dict[str, Any]:
        """The figures as JSON-ready values."""
        return {
            "mean_ms": round(self.mean, 2),
            "p50_ms": round(percentile(self.latencies_ms, 50), 2),
            "p95_ms": round(percentile(self.latencies_ms, 95), 2),
            "sql_ms": round(self.sql_ms, 2),
            "queries": self.queries,
            "queries_min": min(self.query_counts, default=0),
            "queries_max": max(self.query_counts, default=0),
            "requests": len(self.latencies_ms),
            "total": self.total,
            "shown": self.shown,
        }


# --- databases ---------------------------------------------------------------------------


@dataclass
class Database:
    """One throw-away database: its URL and the number of requests it is to hold."""

    label: str
    url: str
    rows: int
    #: set on PostgreSQL: the database's name, to drop at the end
    created_name: str | None = None


@contextmanager
def throwaway_databases(
    database_url: str | None, workdir: Path, rows: int, reference_rows: int
) -> Iterator[tuple[Database, Database]]:
    """The two databases (large, reference), removed again when the block ends.

    SQLite: two files in ``workdir``. PostgreSQL: two new databases on the server of
    ``database_url`` (the role needs CREATEDB); the database named in the URL is only
    used to create and drop them, never written to.
    """
    if not database_url:
        yield (
            Database("large", f"sqlite:///{workdir / 'large.db'}", rows),
            Database("reference", f"sqlite:///{workdir / 'reference.db'}", reference_rows),
        )
        return
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise BenchError(f"--database-url must be a PostgreSQL URL, not {url.drivername!r}")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:8]
    databases = (
        Database("large", "", rows, f"homeoffice_bench_{tag}_large"),
        Database("reference", "", reference_rows, f"homeoffice_bench_{tag}_reference"),
    )
    created: list[str] = []
    try:
        try:
            connection = admin.connect()
        except OperationalError as exc:
            raise BenchError(f"cannot reach {url.render_as_string()}: {exc}") from exc
        with connection:
            for database in databases:
                connection.execute(
                    text(f"CREATE DATABASE \"{database.created_name}\" "
                         "ENCODING 'UTF8' TEMPLATE template0")
                )
                created.append(database.created_name or "")
                database.url = url.set(database=database.created_name).render_as_string(
                    hide_password=False
                )
        yield databases
    finally:
        if created:
            with admin.connect() as connection:
                for name in created:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def make_app(database_url: str) -> Flask:
    """A production-like app (TESTING off) on ``database_url``, served over plain http."""
    from homeoffice import create_app

    return create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "DIRECTORY": "local",
            # the test client speaks http; a Secure cookie would not come back
            "SESSION_COOKIE_SECURE": False,
            "MAIL_BACKEND": "log",
        }
    )


def populate(app: Flask, rows: int, people: int, password: str, *, agreements: bool) -> str:
    """Schema, demo city, ``people`` extra staff and requests up to ``rows`` in all.

    The demo city brings its own requests (about 60); the generated ones fill the
    table up to exactly ``rows``, so ``rows`` is what the page's queries scan. Both
    databases get the same staff, so the number of requests is the only difference.
    Returns a one-line description of what was written.
    """
    from homeoffice.agreements.models import HomeOfficeRequest
    from homeoffice.db import session_scope
    from homeoffice.demo import load_demo_city
    from homeoffice.migrations import upgrade

    engine: Engine = app.extensions["homeoffice.engine"]
    upgrade(engine)
    with app.app_context():
        with session_scope() as session:
            load_demo_city(session, password=password, config=app.config)
        with session_scope() as session:
            person_ids = insert_people(session, people)
        with session_scope() as session:
            existing = session.execute(
                select(func.count()).select_from(HomeOfficeRequest)
            ).scalar_one()
            if existing > rows:
                raise BenchError(
                    f"the demo city alone has {existing} requests; ask for at least that many"
                )
            made = insert_requests(session, person_ids[: rows - existing], agreements=agreements)
    if engine.dialect.name == "postgresql":
        # Autovacuum would analyse the new rows at some moment during the measurement
        # and change plans half-way; a production database has statistics anyway.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return (
        f"{existing} demo requests + {made['requests']} generated = {rows} requests, "
        f"{made['agreements']} generated agreements, {people} extra people"
    )


def insert_people(session: Session, count: int) -> list[int]:
    """``count`` active employees spread over the existing units; their ids, in order.

    Direct rows instead of local-directory users plus a sync: the partial unique index
    allows one open request per person, so 10,000 requests need about as many people,
    and a sync of that many would take minutes.
    """
    from homeoffice.demo import FIRST_NAMES, LAST_NAMES
    from homeoffice.people.models import Person, Unit
    from vpn.directory import normalize_dn

    unit_ids = list(session.execute(select(Unit.id).order_by(Unit.id)).scalars())
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    people = []
    for number in range(1, count + 1):
        username = f"{USERNAME_PREFIX}{number:05d}"
        dn = f"uid={username},ou=people,dc=musterstadt,dc=de"
        people.append(
            {
                "username": username,
                "dn": dn,
                "dn_key": normalize_dn(dn),
                "display_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "mail": f"{username}@musterstadt.example",
                "employee_number": str(100_000 + number),
                "unit_id": unit_ids[number % len(unit_ids)],
                "manager_id": None,
                "manager_dn_key": None,
                "roles": "employee",
                "locale": None,
                "active": True,
                "deactivated_at": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    if people:
        session.execute(insert(Person), people)
    return list(
        session.execute(
            select(Person.id)
            .where(Person.username.startswith(USERNAME_PREFIX))
            .order_by(Person.username)
        ).scalars()
    )


def insert_requests(session: Session, person_ids: list[int], *, agreements: bool) -> dict:
    """One generated request per person (states mostly open, some decided).

    With ``agreements``, every approved request also gets its active agreement, as the
    app's decision would make one: the queue shows each unit's quota, computed from
    the unit's current agreements, so their number matters for the page.
    """
    from homeoffice.agreements.models import Agreement, HomeOfficeRequest
    from homeoffice.agreements.services import days_per_week

    rng = random.Random(SEED + len(person_ids))
    now = datetime.now(UTC)
    today = date.today()
    states = list(STATE_WEIGHTS)
    weights = list(STATE_WEIGHTS.values())
    hr_id = session.execute(
        text("SELECT id FROM person WHERE username = :name"), {"name": LOGIN_USER}
    ).scalar_one()
    requests = []
    for person_id in person_ids:
        state = rng.choices(states, weights)[0]
        reasons = rng.choice(REASON_CHOICES)
        eligible = reasons != ("other",) and rng.random() < 0.8
        submitted = now - timedelta(days=rng.uniform(0, 365), minutes=rng.randrange(0, 600))
        endorsed = submitted + timedelta(days=rng.uniform(0.5, 10))
        decided = endorsed + timedelta(days=rng.uniform(0.5, 20))
        pattern = rng.choice(("weekdays", "share"))
        weekdays = ",".join(str(d) for d in sorted(rng.sample(range(1, 6), 2)))
        start = today + timedelta(days=rng.randrange(-200, 90))
        requests.append(
            {
                "person_id": person_id,
                "kind": "new",
                "agreement_id": None,
                "state": state,
                "reasons": " ".join(reasons),
                "children_under_14": rng.randrange(1, 4) if "childcare" in reasons else 0,
                "youngest_child_age": rng.randrange(1, 14) if "childcare" in reasons else None,
                "care_level": rng.randrange(1, 6) if "care" in reasons else None,
                "commute_km": float(rng.randrange(30, 90)) if "commute" in reasons else None,
                "commute_minutes": None,
                "health_certificate": "health" in reasons,
                "other_text": "Sonstiger Grund" if "other" in reasons else None,
                "pattern": pattern,
                "share_percent": 40 if pattern == "share" else None,
                "weekdays": weekdays if pattern == "weekdays" else None,
                "start_date": start,
                "end_date": None if rng.random() < 0.6 else start + timedelta(days=365),
                "wants_laptop": rng.random() < 0.7,
                "wants_vpn": rng.random() < 0.5,
                "wants_terminal_server": rng.random() < 0.6,
                "uses_private_computer": rng.random() < 0.15,
                "verdict": {
                    "eligible": eligible,
                    "rule_set": "ordinary@1",
                    "matched": [],
                    "explanation_de": "Erzeugt für den Benchmark.",
                    "explanation_en": "Generated for the benchmark.",
                    "priority": 10 if eligible else 0,
                    "max_days_per_week": 3,
                },
                "eligible": eligible,
                "rule_set": "ordinary@1",
                "priority": 10 if eligible else 0,
                "created_at": submitted - timedelta(minutes=rng.randrange(1, 120)),
                "submitted_at": submitted,
                "endorsed_by_id": None,
                "endorsed_at": endorsed if state != "submitted" else None,
                "endorsement_note": "Vertretung ungeklärt" if state == "objected" else None,
                "decided_by_id": hr_id if state in ("approved", "rejected") else None,
                "decided_at": decided if state in ("approved", "rejected") else None,
                "decision_reason": "Präsenzpflicht" if state == "rejected" else None,
                "override_reason": None,
                "withdrawn_at": None,
            }
        )
    if requests:
        session.execute(insert(HomeOfficeRequest), requests)
    made = {"requests": len(requests), "agreements": 0}
    if not agreements or not person_ids:
        return made
    approved = session.execute(
        select(HomeOfficeRequest).where(
            HomeOfficeRequest.state == "approved",
            HomeOfficeRequest.person_id.in_(person_ids),
        )
    ).scalars()
    rows = [
        {
            "person_id": req.person_id,
            "request_id": req.id,
            "replaces_id": None,
            "state": "active",
            "kind": "ordinary",
            "start_date": req.start_date,
            "end_date": req.end_date,
            "pattern": req.pattern,
            "share_percent": req.share_percent,
            "weekdays": req.weekdays,
            "days_per_week": days_per_week(req.pattern, req.share_percent, req.weekday_set),
            "rule_set": req.rule_set,
            "conditions": None,
            "health_verified": "health" in req.reason_set,
            "created_at": req.decided_at,
            "activated_at": req.decided_at,
            "ended_at": None,
            "end_reason": None,
        }
        for req in approved
    ]
    if rows:
        session.execute(insert(Agreement), rows)
    made["agreements"] = len(rows)
    return made


# --- the measured app --------------------------------------------------------------------


class Target:
    """One database's app, logged in as HR, with its statements recorded per request."""

    def __init__(self, database: Database, app: Flask) -> None:
        self.database = database
        self.app = app
        self.client = app.test_client()
        self.log = StatementLog(app.extensions["homeoffice.engine"])

    def log_in(self, password: str) -> None:
        """Log in as HR the way a browser does: GET the form, POST it with its token.

        A failure stops the benchmark instead of retrying, because repeated failed
        logins would trip the login throttle.
        """
        response = self.client.get("/login")
        if response.status_code != 200:
            raise BenchError(f"{self.database.label}: GET /login answered {response.status_code}")
        finder = _CsrfFinder()
        finder.feed(response.get_data(as_text=True))
        if not finder.token:
            raise BenchError(f"{self.database.label}: no csrf_token input in the login form")
        response = self.client.post(
            "/login",
            data={"csrf_token": finder.token, "username": LOGIN_USER, "password": password},
        )
        location = response.headers.get("Location", "")
        if response.status_code != 302 or "/login" in location:
            raise BenchError(
                f"{self.database.label}: login as {LOGIN_USER} failed: POST /login answered "
                f"{response.status_code} (Location: {location or '-'}); expected 302 to /"
            )

    def get(self, path: str) -> tuple[float, str, list[tuple[str, float]]]:
        """One timed request: latency (ms), the page, its statements. Anything but 200 fails."""
        self.log.take()
        began = time.perf_counter()
        response = self.client.get(path)
        body = response.get_data(as_text=True)
        elapsed = (time.perf_counter() - began) * 1000
        response.close()
        statements = self.log.take()
        if response.status_code != 200:
            raise BenchError(
                f"{self.database.label} ({self.database.rows} rows): GET {path} answered "
                f"{response.status_code} (Location: {response.headers.get('Location', '-')})"
            )
        return elapsed, body, statements

    def close(self) -> None:
        """Stop listening and close the database connections."""
        self.log.detach()
        self.app.extensions["homeoffice.engine"].dispose()


_TOTAL = re.compile(r"</form>\s*<p>(\d+)\s")
_TBODY = re.compile(r"<tbody>(.*?)</tbody>", re.DOTALL)
_PAGE = re.compile(r'aria-current="page"><span class="page-link">\D*(\d+)\D+(\d+)')


def read_page(body: str) -> tuple[int | None, int, tuple[int, int]]:
    """What the queue page says: matching requests, rows shown, (page, pages in all).

    Printed next to the figures because they explain them: a filter that matches
    5 requests renders 5 rows, not 50, and a page number past the end is clamped.
    """
    total = _TOTAL.search(body)
    tbody = _TBODY.search(body)
    page = _PAGE.search(body)
    return (
        int(total.group(1)) if total else None,
        tbody.group(1).count("<tr>") if tbody else 0,
        (int(page.group(1)), int(page.group(2))) if page else (1, 1),
    )


def scenarios(app: Flask) -> list[tuple[str, str]]:
    """The variants of the page to measure, as (name, path)."""
    from homeoffice.people.models import Unit

    with app.app_context():
        from homeoffice.db import get_session

        unit_id = get_session().execute(
            select(Unit.id).where(Unit.name == FILTER_UNIT)
        ).scalar_one()
    return [
        ("queue", QUEUE_PATH),
        ("unit", f"{QUEUE_PATH}?unit={unit_id}"),
        ("reason", f"{QUEUE_PATH}?reason=childcare"),
        ("verdict", f"{QUEUE_PATH}?verdict=eligible"),
        ("state", f"{QUEUE_PATH}?state=approved"),
        ("search", f"{QUEUE_PATH}?q={SEARCH_TERM}"),
        ("page_50", f"{QUEUE_PATH}?page=50"),
    ]


def measure(
    targets: tuple[Target, Target], path: str, *, requests: int, warmup: int, budget: float
) -> tuple[Measurement, Measurement, bool]:
    """``path`` on both targets in alternation; the two measurements and "stopped early".

    Alternating request by request (and which goes first) makes a disturbance on the
    machine hit both databases alike, so the ratio stays meaningful. Stops early,
    with what it has, when ``budget`` seconds are used up.
    """
    for target in targets:
        for _ in range(warmup):
            # Unmeasured: template compilation, statement caches, SQLite's page cache.
            target.get(path)
    results = (Measurement(), Measurement())
    deadline = time.monotonic() + budget
    for number in range(requests):
        order = (0, 1) if number % 2 == 0 else (1, 0)
        for index in order:
            elapsed, body, statements = targets[index].get(path)
            results[index].add(elapsed, statements)
            if results[index].total is None:
                result = results[index]
                result.total, result.shown, result.page = read_page(body)
        if time.monotonic() > deadline and number + 1 < requests:
            return results[0], results[1], True
    return results[0], results[1], False


def short_sql(statement: str, length: int = 110) -> str:
    """A statement on one line, shortened for the report."""
    flat = " ".join(statement.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def describe(label: str, rows: int, path: str, result: Measurement) -> str:
    """One human-readable line of figures."""
    counts = result.query_counts
    spread = (
        f" (min {min(counts)}, max {max(counts)})" if counts and min(counts) != max(counts) else ""
    )
    page = f", page {result.page[0]}/{result.page[1]}" if result.page else ""
    return (
        f"  {label:<9} {rows:6d} rows  mean {result.mean:7.2f} ms  "
        f"p50 {percentile(result.latencies_ms, 50):7.2f} ms  "
        f"p95 {percentile(result.latencies_ms, 95):7.2f} ms  "
        f"{result.queries:3d} queries{spread}  [{result.total} matching, {result.shown} shown"
        f"{page}]  {path}"
    )


# --- main --------------------------------------------------------------------------------


def clean_environment(instance: Path) -> None:
    """Drop the shell's ``HOMEOFFICE_*``/``FLASK_*`` settings; use a throw-away instance.

    ``create_app`` reads them from ``os.environ`` (and ``config.py`` from the instance
    folder), so without this a shell set up for a real installation would point the
    benchmark at its database.
    """
    for key in [k for k in os.environ if k.startswith(("HOMEOFFICE_", "FLASK_"))]:
        del os.environ[key]
    os.environ["HOMEOFFICE_INSTANCE_PATH"] = str(instance)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; nonsense values end the run before any set-up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200,
                        help="measured requests per scenario and database (default 200)")
    parser.add_argument("--rows", type=int, default=10_000,
                        help="requests in the large database (default 10000)")
    parser.add_argument("--reference-rows", type=int, default=100,
                        help="requests in the reference database (default 100)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="unmeasured requests per scenario and database (default 5)")
    parser.add_argument("--max-seconds", type=float, default=1200.0,
                        help="measuring time for all scenarios together; a scenario that "
                             "uses up its share stops early (default 1200)")
    parser.add_argument("--without-agreements", action="store_true",
                        help="no agreements for the generated approved requests")
    parser.add_argument("--database-url", default=None,
                        help="postgresql+psycopg://… of a server where the role may create "
                             "databases; two throw-away ones are made there (default: SQLite)")
    args = parser.parse_args(argv)
    if min(args.requests, args.rows, args.reference_rows) < 1 or args.warmup < 0:
        parser.error("--requests, --rows and --reference-rows must be >= 1, --warmup >= 0")
    if args.reference_rows > args.rows:
        parser.error("--reference-rows must not exceed --rows")
    if args.max_seconds <= 0:
        parser.error("--max-seconds must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Set up both databases, log in, measure every scenario, report; the exit status."""
    args = parse_args(argv)
    password = secrets.token_urlsafe(12)
    # create_app would otherwise log every login and mail at INFO on stderr.
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, tuple[str, Measurement, Measurement, bool]] = {}
    with tempfile.TemporaryDirectory(prefix="homeoffice-bench-") as tmp:
        workdir = Path(tmp)
        instance = workdir / "instance"
        instance.mkdir()
        clean_environment(instance)
        try:
            with throwaway_databases(
                args.database_url, workdir, args.rows, args.reference_rows
            ) as databases:
                targets: list[Target] = []
                try:
                    run(args, databases, targets, password, workdir, results)
                finally:
                    # Before the databases go: PostgreSQL will not drop one in use.
                    for target in targets:
                        target.close()
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 2
    return finish(args, results)


def run(
    args: argparse.Namespace,
    databases: tuple[Database, Database],
    targets: list[Target],
    password: str,
    workdir: Path,
    results: dict[str, tuple[str, Measurement, Measurement, bool]],
) -> None:
    """Fill both databases, log in, measure every scenario into ``results``.

    ``targets`` is the caller's list, so that it can close every app made so far,
    also when the set-up fails half-way.
    """
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"set-up in {workdir} ({backend}) ...", flush=True)
    for database in databases:
        began = time.monotonic()
        target = Target(database, make_app(database.url))
        targets.append(target)
        what = populate(target.app, database.rows, args.rows, password,
                        agreements=not args.without_agreements)
        print(f"  {database.label}: {what} ({time.monotonic() - began:.1f} s)", flush=True)
    for target in targets:
        target.log_in(password)
        target.log.attach()
    print(f"logged in as {LOGIN_USER} on both", flush=True)

    pair = (targets[0], targets[1])
    variants = scenarios(pair[0].app)
    budget = args.max_seconds / len(variants)
    print(f"measuring {args.requests} requests per scenario and database, "
          f"alternating (after {args.warmup} warm-up requests each)", flush=True)
    for name, path in variants:
        large, reference, stopped = measure(
            pair, path, requests=args.requests, warmup=args.warmup, budget=budget
        )
        results[name] = (path, large, reference, stopped)
        report_scenario(name, path, pair, large, reference, stopped)
        unfiltered = results["queue"][1].total
        if name not in ("queue", "page_50") and large.total == unfiltered:
            # The form drops a filter it finds invalid and shows everything instead.
            raise BenchError(f"{name}: {path} matched all {unfiltered} requests on the large "
                             "database; the filter was ignored, the figures would mislead")


def report_scenario(
    name: str,
    path: str,
    pair: tuple[Target, Target],
    large: Measurement,
    reference: Measurement,
    stopped: bool,
) -> None:
    """Print one scenario: both databases' figures, the ratio, the costliest statement."""
    ratio = percentile(large.latencies_ms, 95) / (percentile(reference.latencies_ms, 95) or 1)
    note = f"  (stopped after {len(large.latencies_ms)} requests: time budget)" if stopped else ""
    print(f"{name}: p95 ratio {ratio:.2f}{note}", flush=True)
    print(describe("large", pair[0].database.rows, path, large), flush=True)
    print(describe("reference", pair[1].database.rows, path, reference), flush=True)
    statement, mean_ms = large.dominant_statement()
    share = mean_ms / large.mean if large.mean else 0.0
    reference_ms = sum(reference.statement_ms.get(statement, [])) / (
        len(reference.latencies_ms) or 1
    )
    print(f"  executing SQL: {large.sql_ms:.2f} ms of the mean on large, "
          f"{reference.sql_ms:.2f} ms on reference; the rest: fetching, ORM, page", flush=True)
    print(f"  costliest statement on large: {mean_ms:.2f} ms per request ({share:.0%} of the "
          f"mean; reference {reference_ms:.2f} ms): {short_sql(statement)}", flush=True)


def finish(
    args: argparse.Namespace, results: dict[str, tuple[str, Measurement, Measurement, bool]]
) -> int:
    """The verdict on the statement counts and the final JSON line; the exit status."""
    differing = [
        f"{name} ({path}): {large.queries} statements with {args.rows} rows, "
        f"{reference.queries} with {args.reference_rows}"
        for name, (path, large, reference, _stopped) in results.items()
        if large.queries != reference.queries
    ]
    scenario_figures: dict[str, Any] = {}
    for name, (path, large, reference, stopped) in results.items():
        big, ref = large.summary(), reference.summary()
        figures = {"path": path, **big}
        figures.update({f"reference_{key}": value for key, value in ref.items()})
        figures["ratio_p95"] = round(big["p95_ms"] / ref["p95_ms"], 3) if ref["p95_ms"] else 0.0
        figures["stopped_early"] = stopped
        scenario_figures[name] = figures
    main_figures = scenario_figures["queue"]
    summary = {
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "database": make_url(args.database_url).get_backend_name() if args.database_url
        else "sqlite",
        "agreements": not args.without_agreements,
        **{key: value for key, value in main_figures.items() if key != "path"},
        "queries_equal": not differing,
        "scenarios": {name: f for name, f in scenario_figures.items() if name != "queue"},
    }
    if differing:
        print("benchmark failed: the number of SQL statements per request depends on the "
              "number of rows:\n  " + "\n  ".join(differing), file=sys.stderr)
    else:
        print(f"statement counts equal with {args.rows} and {args.reference_rows} rows "
              f"in all {len(results)} scenarios")
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 1 if differing else 0


if __name__ == "__main__":
    run_main(main)
