"""The real servers the suite depends on actually start, answer and fail as we expect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page
from sqlalchemy.pool import NullPool

from tests.servers.browser import check_accessibility
from tests.servers.postgres import PostgresServer

STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"

_PAGES = {
    "/good": """<!doctype html>
<html lang="de">
<head><meta charset="utf-8"><title>Antrag auf Homeoffice</title></head>
<body>
<main>
  <h1>Antrag auf Homeoffice</h1>
  <form method="post" action="/good">
    <label for="reason">Begründung</label>
    <input id="reason" name="reason" type="text">
    <button type="submit">Absenden</button>
  </form>
  <p id="accept-language">{accept_language}</p>
</main>
<script>document.documentElement.dataset.inline = "ran";</script>
</body>
</html>""",
    "/bad": """<!doctype html>
<html lang="de">
<head><meta charset="utf-8"><title>Kaputt</title></head>
<body>
<main>
  <h1>Kaputt</h1>
  <img src="/missing.png">
  <form method="post" action="/bad"><input name="reason" type="text"></form>
</main>
</body>
</html>""",
}


class _PageHandler(BaseHTTPRequestHandler):
    """Serves the fixed pages above under the strict CSP the service will send."""

    def do_GET(self) -> None:
        template = _PAGES.get(self.path)
        status = 200 if template is not None else 404
        text = (template or "not found").format(
            accept_language=self.headers.get("Accept-Language", "")
        )
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", STRICT_CSP)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Base URL of a tiny HTTP server on 127.0.0.1 that sends a strict CSP."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _engine(server: PostgresServer, dbname: str) -> sa.Engine:
    """An engine that keeps no pooled connections, so databases can be copied or dropped."""
    return sa.create_engine(server.url(dbname), poolclass=NullPool)


@pytest.mark.postgres
def test_postgres_accepts_connections(postgres_server: PostgresServer) -> None:
    engine = _engine(postgres_server, "postgres")
    with engine.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
    assert version.startswith("PostgreSQL")
    assert (
        postgres_server.url("x")
        == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/x"
    )


@pytest.mark.postgres
def test_create_database_copies_template(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("servers_template")
    try:
        with _engine(postgres_server, "servers_template").begin() as conn:
            conn.execute(sa.text("create table agreement (id int primary key, note text)"))
            conn.execute(sa.text("insert into agreement values (1, 'Dienstvereinbarung')"))
        postgres_server.create_database("servers_copy", template="servers_template")
        with _engine(postgres_server, "servers_copy").connect() as conn:
            note = conn.execute(sa.text("select note from agreement where id = 1")).scalar_one()
        assert note == "Dienstvereinbarung"
    finally:
        postgres_server.drop_database("servers_copy")
        postgres_server.drop_database("servers_template")


@pytest.mark.postgres
def test_drop_database_ends_open_connections(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("servers_busy")
    with psycopg.connect(postgres_server.dsn("servers_busy")) as busy:
        busy.execute("select 1")
        postgres_server.drop_database("servers_busy")
        with pytest.raises(psycopg.OperationalError):
            busy.execute("select 1")
    with _engine(postgres_server, "postgres").connect() as conn:
        exists = conn.execute(
            sa.text("select count(*) from pg_database where datname = 'servers_busy'")
        ).scalar_one()
    assert exists == 0


@pytest.mark.postgres
def test_stop_and_start_keep_port_and_data(postgres_server: PostgresServer) -> None:
    port = postgres_server.port
    postgres_server.create_database("servers_restart")
    engine = _engine(postgres_server, "servers_restart")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table presence_day (day date primary key)"))
            conn.execute(sa.text("insert into presence_day values ('2024-03-04')"))
        postgres_server.stop()
        with pytest.raises(sa.exc.OperationalError):
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        postgres_server.start()
        assert postgres_server.port == port
        with engine.connect() as conn:
            count = conn.execute(sa.text("select count(*) from presence_day")).scalar_one()
        assert count == 1
    finally:
        postgres_server.start()
        postgres_server.drop_database("servers_restart")


@pytest.mark.browser
def test_chromium_reads_data_page(page: Page) -> None:
    page.goto("data:text/html,<title>Hallo</title><p>Welt</p>")
    assert page.title() == "Hallo"


@pytest.mark.browser
def test_chromium_sends_german_and_enforces_csp(page: Page, site: str) -> None:
    page.goto(f"{site}/good")
    assert page.title() == "Antrag auf Homeoffice"
    assert page.locator("#accept-language").inner_text().startswith("de-DE")
    assert page.evaluate("document.documentElement.dataset.inline") is None


@pytest.mark.browser
def test_accessibility_check_finds_violations_under_csp(page: Page, site: str) -> None:
    page.goto(f"{site}/bad")
    violations = check_accessibility(page)
    by_id = {violation["id"]: violation for violation in violations}
    assert {"image-alt", "label"} <= by_id.keys(), violations
    assert by_id["label"]["impact"] in {"serious", "critical"}
    assert by_id["image-alt"]["targets"] == ["img"]


@pytest.mark.browser
def test_accessibility_check_passes_good_page_under_csp(page: Page, site: str) -> None:
    page.goto(f"{site}/good")
    violations = check_accessibility(page)
    assert not violations, violations
    assert page.evaluate("document.documentElement.dataset.inline") is None
