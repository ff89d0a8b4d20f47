"""The JSON API listing 10,000 agreements page by page, and the status report for
10,000 people, beside the floor of one raw SQL query.

Builds a database with the demo city topped up to ``--people`` people (default 10,000)
and ``--agreements`` agreements (default 10,000), and a personal API token of
``demo.hr``. Then, served by gunicorn (``--workers`` sync workers, default 4, 127.0.0.1
only) like ``bench/web.py``:

- one client walks ``/api/v1/agreements?per_page=100`` from page 1 to the last page,
  ``--walks`` times: time of a whole walk, requests per second, p50/p95 per page;
- ``--concurrency`` client processes walk the pages at the same time for
  ``--seconds``: throughput and p50/p95 under load;
- ``GET /reports/status`` (the committee report page, logged in as ``demo.hr``) and
  ``GET /api/v1/report`` ``--report-requests`` times each: p50/p95.

In this process, with Flask's test client on the same database, it counts the SQL
statements of each kind of request (first, middle and last page, report page, report
API), and it times the floor: the same listing as one raw SQL query through the DBAPI
(and as the same pages of raw ``LIMIT``/``OFFSET`` queries), with no Flask, no ORM and
no JSON.

Everything lives in a temporary directory (SQLite by default; ``--postgres`` starts a
throw-away PostgreSQL from ``tests/servers/postgres.py`` instead) and is removed at the
end; any ``HOMEOFFICE_*``/``FLASK_*`` setting of the caller's shell is ignored. The last
line of the output is one JSON object with all figures.

Usage: ``.venv/bin/python bench/api.py [--agreements N] [--people N] [--walks W]
[--concurrency C] [--seconds S] [--report-requests R] [--workers W] [--postgres]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# ``python bench/api.py`` puts bench/ first on the path; the checkout must come first,
# or bench/policies.py would hide the ``policies`` package. homeoffice is imported
# inside the functions, after this line.
sys.path.insert(0, str(REPO_ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.append(str(BENCH_DIR))

from _common import BenchError, GunicornServer, percentile, request, run_main  # noqa: E402
from hr_queue import clean_environment, insert_people, make_app  # noqa: E402
from web import homeoffice_env  # noqa: E402

LOGIN_USER = "demo.hr"
LIST_PATH = "/api/v1/agreements"
REPORT_PAGE = "/reports/status"
REPORT_API = "/api/v1/report"
PER_PAGE = 100
SEED = 4712
#: agreement states of the generated agreements and their weights
STATE_WEIGHTS = {"active": 60, "ended": 20, "expired": 12, "revoked": 5, "approved": 3}


# --- the database ------------------------------------------------------------------------


def populate(app, *, people: int, agreements: int, password: str) -> dict[str, int]:
    """Demo city, extra people up to ``people``, agreements (with their requests) up to
    ``agreements``; returns the counts written."""
    from sqlalchemy import func, select, text

    from homeoffice.agreements.models import Agreement
    from homeoffice.db import session_scope
    from homeoffice.demo import load_demo_city
    from homeoffice.migrations import upgrade
    from homeoffice.people.models import Person

    engine = app.extensions["homeoffice.engine"]
    upgrade(engine)
    with app.app_context():
        with session_scope() as session:
            load_demo_city(session, password=password, config=app.config)
        with session_scope() as session:
            existing = session.execute(select(func.count()).select_from(Person)).scalar_one()
            extra = max(0, people - existing)
            person_ids = insert_people(session, extra) if extra else []
        with session_scope() as session:
            have = session.execute(select(func.count()).select_from(Agreement)).scalar_one()
            if have > agreements:
                raise BenchError(f"the demo city alone has {have} agreements")
            insert_agreements(session, person_ids, agreements - have)
        with session_scope() as session:
            counts = {
                "people": session.execute(select(func.count()).select_from(Person)).scalar_one(),
                "agreements": session.execute(
                    select(func.count()).select_from(Agreement)
                ).scalar_one(),
            }
    if engine.dialect.name == "postgresql":
        # Statistics for the planner, as a production database would have them.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return counts


def insert_agreements(session, person_ids: list[int], count: int) -> None:
    """``count`` agreements with their approved requests, spread over ``person_ids``:
    at most one active agreement each (the database allows no more), the rest ended,
    expired, revoked or still to start. Direct rows: 10,000 decisions through the
    service would take minutes and allocate rooms each time."""
    from sqlalchemy import func, insert, select

    from homeoffice.agreements.models import Agreement, HomeOfficeRequest

    if count <= 0:
        return
    if not person_ids:
        raise BenchError("no generated people to give agreements to; raise --people")
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    today = date.today()
    next_request = (session.execute(select(func.max(HomeOfficeRequest.id))).scalar() or 0) + 1
    next_agreement = (session.execute(select(func.max(Agreement.id))).scalar() or 0) + 1
    states, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
    has_active: set[int] = set()
    requests, agreements = [], []
    for number in range(count):
        person_id = person_ids[number % len(person_ids)]
        state = rng.choices(states, weights)[0]
        if state == "active" and person_id in has_active:
            state = "ended"
        if state == "active":
            has_active.add(person_id)
        start = today - timedelta(days=rng.randrange(0, 900))
        if state == "approved":
            start = today + timedelta(days=rng.randrange(1, 60))
        end = None if state in ("active", "approved") else start + timedelta(days=180)
        weekdays = ",".join(str(d) for d in sorted(rng.sample(range(1, 6), 2)))
        decided = now - timedelta(days=rng.uniform(1, 900))
        requests.append(
            {
                "id": next_request + number,
                "person_id": person_id,
                "kind": "new",
                "state": "approved",
                "reasons": rng.choice(("commute", "childcare", "care", "health", "other")),
                "children_under_14": 0,
                "health_certificate": False,
                "pattern": "weekdays",
                "weekdays": weekdays,
                "start_date": start,
                "end_date": end,
                "wants_laptop": False,
                "wants_vpn": False,
                "wants_terminal_server": False,
                "uses_private_computer": False,
                "eligible": True,
                "rule_set": "ordinary@1",
                "priority": 0,
                "created_at": decided - timedelta(days=5),
                "submitted_at": decided - timedelta(days=5),
                "decided_at": decided,
            }
        )
        agreements.append(
            {
                "id": next_agreement + number,
                "person_id": person_id,
                "request_id": next_request + number,
                "state": state,
                "kind": "ordinary",
                "start_date": start,
                "end_date": end,
                "pattern": "weekdays",
                "weekdays": weekdays,
                "days_per_week": 2.0,
                "rule_set": "ordinary@1",
                "health_verified": False,
                "created_at": decided,
            }
        )
    session.execute(insert(HomeOfficeRequest), requests)
    session.execute(insert(Agreement), agreements)


def make_token(app) -> str:
    """A personal token of demo.hr with all of their roles (shown once, as on the page)."""
    from sqlalchemy import select

    from homeoffice.api import services
    from homeoffice.db import session_scope
    from homeoffice.people.models import Person

    with app.app_context(), session_scope() as session:
        owner = session.execute(select(Person).where(Person.username == LOGIN_USER)).scalar_one()
        _row, clear = services.create_personal(
            session=session,
            owner=owner,
            name="bench",
            roles=owner.role_set,
            expires_on=date.today() + timedelta(days=1),
            today=date.today(),
            config=app.config,
        )
    return clear


# --- in-process figures: statements per request and the raw floor -----------------------


def count_statements(app, token: str, password: str, pages: int) -> dict[str, int]:
    """SQL statements per request, by kind, with Flask's test client on the same database."""
    from sqlalchemy import event

    engine = app.extensions["homeoffice.engine"]
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    statements: list[str] = []

    def counted(path: str, **kwargs) -> int:
        statements.clear()
        response = client.get(path, **kwargs)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}")
        return len(statements)

    listener = lambda *args: statements.append(args[2])  # noqa: E731
    # Every token's last_used_at is written once a minute: use it once unmeasured.
    client.get(f"{LIST_PATH}?per_page={PER_PAGE}", headers=bearer)
    log_in_client(client, password)
    client.get(REPORT_PAGE)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        return {
            "first_page": counted(f"{LIST_PATH}?per_page={PER_PAGE}&page=1", headers=bearer),
            "middle_page": counted(
                f"{LIST_PATH}?per_page={PER_PAGE}&page={max(1, pages // 2)}", headers=bearer
            ),
            "last_page": counted(f"{LIST_PATH}?per_page={PER_PAGE}&page={pages}", headers=bearer),
            "report_api": counted(REPORT_API, headers=bearer),
            "report_page": counted(REPORT_PAGE),
        }
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def log_in_client(client, password: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(
        "/login", data={"username": LOGIN_USER, "password": password, "csrf_token": token}
    )
    if response.status_code != 302 or "/login" in (response.location or ""):
        raise BenchError(f"test client: login as {LOGIN_USER} failed ({response.status_code})")


#: the listing's own columns and the two of the person, in the API's order
RAW_LISTING = (
    "SELECT agreement.id, agreement.person_id, person.display_name, person.unit_id, "
    "agreement.request_id, agreement.replaces_id, agreement.state, agreement.kind, "
    "agreement.start_date, agreement.end_date, agreement.pattern, agreement.share_percent, "
    "agreement.weekdays, agreement.days_per_week, agreement.rule_set, agreement.created_at, "
    "agreement.activated_at, agreement.ended_at "
    "FROM agreement JOIN person ON person.id = agreement.person_id ORDER BY agreement.id"
)


def raw_floor(app, pages: int, repeats: int = 3) -> dict[str, float]:
    """The listing as one raw query and as raw pages, through the DBAPI (best of
    ``repeats``, in seconds): what the database alone needs."""
    engine = app.extensions["homeoffice.engine"]
    one, paged = [], []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for _ in range(repeats):
            began = time.perf_counter()
            cursor.execute(RAW_LISTING)
            rows = cursor.fetchall()
            one.append(time.perf_counter() - began)
            began = time.perf_counter()
            paged_rows = 0
            for page in range(pages):
                cursor.execute(f"{RAW_LISTING} LIMIT {PER_PAGE} OFFSET {page * PER_PAGE}")
                paged_rows += len(cursor.fetchall())
            paged.append(time.perf_counter() - began)
        cursor.close()
    finally:
        raw.close()
    if paged_rows != len(rows):
        raise BenchError(f"raw pages gave {paged_rows} rows, the one query {len(rows)}")
    return {"one_query_s": min(one), "raw_pages_s": min(paged), "rows": len(rows)}


# --- over HTTP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _WalkJob:
    port: int
    token: str
    pages: int
    deadline: float


def walk(port: int, token: str, pages: int) -> tuple[list[float], int, int]:
    """One client pages through the whole list: latencies (ms), items seen, errors."""
    latencies: list[float] = []
    items = errors = 0
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    for page in range(1, pages + 1):
        query = urlencode({"per_page": PER_PAGE, "page": page})
        began = time.perf_counter()
        try:
            status, _headers, body = request(port, "GET", f"{LIST_PATH}?{query}", headers=headers)
        except OSError:
            errors += 1
            continue
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 200:
            errors += 1
            continue
        items += len(json.loads(body)["items"])
    return latencies, items, errors


def _walker(job: _WalkJob) -> tuple[list[float], int, int]:
    """A client process: whole walks, one after the other, until the deadline."""
    latencies: list[float] = []
    requests = errors = 0
    while time.monotonic() < job.deadline:
        own, _items, own_errors = walk(job.port, job.token, job.pages)
        latencies.extend(own)
        requests += len(own) + own_errors
        errors += own_errors
    return latencies, requests, errors


def concurrent_walks(port: int, token: str, pages: int, *, clients: int, seconds: float):
    """``clients`` processes walking at once: (rps, latencies, requests, errors)."""
    began = time.monotonic()
    deadline = began + 0.5 + seconds
    with multiprocessing.Pool(clients) as pool:
        parts = pool.map(_walker, [_WalkJob(port, token, pages, deadline)] * clients)
    elapsed = time.monotonic() - began - 0.5
    latencies = sorted(value for part in parts for value in part[0])
    requests = sum(part[1] for part in parts)
    errors = sum(part[2] for part in parts)
    return (requests - errors) / elapsed, latencies, requests, errors


def http_login(port: int, password: str) -> str:
    """Log in as demo.hr over HTTP; the Cookie header value of the session."""
    status, headers, body = request(port, "GET", "/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    form_cookie = _cookie(headers)
    if status != 200 or not token or not form_cookie:
        raise BenchError(f"login form: status {status}, token or cookie missing")
    status, headers, _body = request(
        port,
        "POST",
        "/login",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": form_cookie,
        },
        body=urlencode(
            {"csrf_token": token.group(1).decode(), "username": LOGIN_USER, "password": password}
        ),
    )
    cookie = _cookie(headers)
    if status != 302 or "/login" in headers.get("Location", "") or not cookie:
        raise BenchError(f"login as {LOGIN_USER} failed: {status}")
    return cookie


def _cookie(headers) -> str | None:
    for header in headers.get_all("Set-Cookie") or []:
        if header.startswith("homeoffice_session="):
            return header.split(";", 1)[0]
    return None


def timed_gets(port: int, path: str, headers: dict[str, str], count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        status, _headers, _body = request(port, "GET", path, headers=headers, timeout=120)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}")
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


# --- the run -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agreements", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--walks", type=int, default=3, help="sequential whole walks (3)")
    parser.add_argument("--concurrency", type=int, default=4, help="walking clients (4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="concurrent load (10)")
    parser.add_argument("--report-requests", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a throw-away PostgreSQL (tests/servers/postgres.py) instead of SQLite",
    )
    args = parser.parse_args(argv)
    if min(args.agreements, args.people, args.walks, args.concurrency, args.workers) < 1:
        parser.error("counts must be at least 1")
    if args.seconds <= 0 or args.report_requests < 1:
        parser.error("--seconds must be > 0 and --report-requests at least 1")
    return args


def _postgres(workdir: Path):
    from tests.servers.postgres import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise BenchError("--postgres: PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bindir)
    server.start()
    server.create_database("homeoffice_bench")
    return server, server.url("homeoffice_bench")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    password = secrets.token_urlsafe(12)
    server = postgres = None
    with tempfile.TemporaryDirectory(prefix="homeoffice-bench-api-") as tmp:
        workdir = Path(tmp)
        instance = workdir / "instance"
        instance.mkdir()
        # The in-process app must not pick up the shell's HOMEOFFICE_* settings either.
        clean_environment(instance)
        try:
            if args.postgres:
                postgres, url = _postgres(workdir)
            else:
                url = f"sqlite:///{workdir / 'bench.db'}"
            app = make_app(url)
            print(f"building {args.people} people, {args.agreements} agreements ...", flush=True)
            began = time.monotonic()
            counts = populate(
                app, people=args.people, agreements=args.agreements, password=password
            )
            token = make_token(app)
            pages = -(-counts["agreements"] // PER_PAGE)
            print(f"built in {time.monotonic() - began:.1f} s: {counts}", flush=True)

            statements = count_statements(app, token, password, pages)
            print(f"SQL statements per request: {statements}", flush=True)
            floor = raw_floor(app, pages)
            print(
                f"raw floor: one query {floor['one_query_s'] * 1000:.1f} ms, "
                f"{pages} raw pages {floor['raw_pages_s'] * 1000:.1f} ms",
                flush=True,
            )
            app.extensions["homeoffice.engine"].dispose()

            env = homeoffice_env(instance)
            env["HOMEOFFICE_DATABASE_URL"] = url
            server = GunicornServer(
                "homeoffice",
                "wsgi:app",
                cwd=REPO_ROOT,
                env=env,
                log_path=workdir / "gunicorn.log",
                workers=args.workers,
            )
            server.start()
            server.wait_ready("/health")
            # Warm-up: every worker loads its code and opens its connection.
            walk(server.port, token, min(pages, 2 * args.workers))

            walks = []
            for _ in range(args.walks):
                began = time.perf_counter()
                latencies, items, errors = walk(server.port, token, pages)
                walks.append((time.perf_counter() - began, latencies, items, errors))
            if any(w[2] != counts["agreements"] or w[3] for w in walks):
                raise BenchError(f"a walk saw {[w[2] for w in walks]} items, errors {walks[0][3]}")
            walk_s = min(w[0] for w in walks)
            walk_latencies = sorted(v for w in walks for v in w[1])
            print(
                f"one client, whole list: {walk_s:.2f} s for {pages} pages "
                f"({pages / walk_s:.1f} pages/s), p50 {percentile(walk_latencies, 50):.1f} ms, "
                f"p95 {percentile(walk_latencies, 95):.1f} ms",
                flush=True,
            )
            rps, load_latencies, load_requests, load_errors = concurrent_walks(
                server.port, token, pages, clients=args.concurrency, seconds=args.seconds
            )
            print(
                f"{args.concurrency} clients walking for {args.seconds:g} s: {rps:.1f} rps, "
                f"p50 {percentile(load_latencies, 50):.1f} ms, "
                f"p95 {percentile(load_latencies, 95):.1f} ms, {load_errors} errors",
                flush=True,
            )
            cookie = http_login(server.port, password)
            report_page = timed_gets(
                server.port, REPORT_PAGE, {"Cookie": cookie}, args.report_requests
            )
            report_api = timed_gets(
                server.port,
                REPORT_API,
                {"Authorization": f"Bearer {token}"},
                args.report_requests,
            )
            print(
                f"report for {counts['people']} people: page p50 "
                f"{percentile(report_page, 50):.0f} ms, API p50 "
                f"{percentile(report_api, 50):.0f} ms",
                flush=True,
            )
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            if server is not None:
                print(server.log_tail(), file=sys.stderr)
            return 2
        finally:
            if server is not None:
                server.stop()
            if postgres is not None:
                postgres.close()

    summary = {
        "database": "postgresql" if args.postgres else "sqlite",
        "people": counts["people"],
        "agreements": counts["agreements"],
        "per_page": PER_PAGE,
        "pages": pages,
        "walk_seconds": round(walk_s, 3),
        "walk_pages_per_s": round(pages / walk_s, 1),
        "walk_p50_ms": round(percentile(walk_latencies, 50), 2),
        "walk_p95_ms": round(percentile(walk_latencies, 95), 2),
        "load_clients": args.concurrency,
        "load_rps": round(rps, 1),
        "load_p50_ms": round(percentile(load_latencies, 50), 2),
        "load_p95_ms": round(percentile(load_latencies, 95), 2),
        "load_requests": load_requests,
        "load_errors": load_errors,
        "queries_first_page": statements["first_page"],
        "queries_middle_page": statements["middle_page"],
        "queries_last_page": statements["last_page"],
        "raw_one_query_ms": round(floor["one_query_s"] * 1000, 2),
        "raw_pages_ms": round(floor["raw_pages_s"] * 1000, 2),
        "walk_over_raw_one_query": round(walk_s / floor["one_query_s"], 1),
        "walk_over_raw_pages": round(walk_s / floor["raw_pages_s"], 1),
        "report_page_p50_ms": round(percentile(report_page, 50), 1),
        "report_page_p95_ms": round(percentile(report_page, 95), 1),
        "report_page_queries": statements["report_page"],
        "report_api_p50_ms": round(percentile(report_api, 50), 1),
        "report_api_p95_ms": round(percentile(report_api, 95), 1),
        "report_api_queries": statements["report_api"],
        "workers": args.workers,
    }
    print(json.dumps(summary), flush=True)
    return 1 if load_errors else 0


if __name__ == "__main__":
    run_main(main)
