"""Throughput and latency of homeoffice's web pages against the framework's ceiling.

Measures requests per second and latency percentiles of ``/health`` and of the
logged-in start page ``/`` under gunicorn (4 sync workers, otherwise gunicorn's
defaults, 127.0.0.1 only) with the demo city loaded, and in the same run the same
figures for ``bench/ceiling_app.py`` (one route returning a constant string) served
by gunicorn with the same settings. ``homeoffice rps / ceiling rps`` says how much of
what the stack could deliver is left after homeoffice's own work (database, session,
templates, security headers); absolute rps depend on the machine, the ratio far less.

Everything happens in a temporary directory (SQLite database, instance folder,
server logs), which is removed at the end; the servers are stopped in a ``finally``,
also on Ctrl-C. The last line of the output is one JSON object, for comparing runs.

Usage: ``.venv/bin/python bench/web.py [--seconds N] [--concurrency C] [--rounds R]``
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from http.client import HTTPMessage
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from _common import BenchError, GunicornServer, LoadResult, request, run_load, run_main

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORKERS = 4
SESSION_COOKIE = "homeoffice_session"
LOGIN_USER = "demo.employee"
#: generous: demo-data hashes a password for each of ~350 people
SETUP_TIMEOUT = 600


class _CsrfFinder(HTMLParser):
    """Picks the value of the hidden ``csrf_token`` input out of the login form."""

    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name") == "csrf_token" and self.token is None:
            self.token = attributes.get("value")


def homeoffice_env(instance: Path) -> dict[str, str]:
    """The environment for the CLI and gunicorn: a throw-away instance, nothing inherited.

    Any ``HOMEOFFICE_*`` or ``FLASK_*`` setting of the caller's shell is dropped, so the
    benchmark can never run ``init-db``/``demo-data`` against a real database.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HOMEOFFICE_", "FLASK_"))
    }
    env.update(
        HOMEOFFICE_INSTANCE_PATH=str(instance),
        HOMEOFFICE_SECRET_KEY=secrets.token_hex(32),
        # the benchmark speaks plain http on 127.0.0.1; a Secure cookie would not come back
        HOMEOFFICE_SESSION_COOKIE_SECURE="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_setup_command(args: list[str], env: dict[str, str], log_path: Path) -> None:
    """Run one ``flask --app homeoffice ...`` command; fail with its output if it fails."""
    command = [sys.executable, "-m", "flask", "--app", "homeoffice", *args]
    shown = " ".join(args[:1])
    try:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"set-up: `flask {shown}` took longer than {SETUP_TIMEOUT} s") from exc
    output = done.stdout + done.stderr
    with open(log_path, "a") as log:
        log.write(f"$ flask {shown}\n{output}\n")
    if done.returncode != 0:
        raise BenchError(f"set-up: `flask {shown}` failed (exit {done.returncode}):\n{output}")


def log_in(port: int, password: str) -> str:
    """Log in once as the demo employee; return the ``Cookie`` header value to send.

    Follows the browser's path: GET the form (its session cookie carries the CSRF
    secret), POST it back with the token. A failure stops the benchmark instead of
    retrying, because repeated failed logins would trip the login throttle.
    """
    status, headers, body = request(port, "GET", "/login")
    if status != 200:
        raise BenchError(f"login: GET /login answered {status}")
    finder = _CsrfFinder()
    finder.feed(body.decode("utf-8", errors="replace"))
    if not finder.token:
        raise BenchError("login: no csrf_token input in the login form")
    form_cookie = _session_cookie(headers)
    if form_cookie is None:
        raise BenchError(f"login: GET /login set no {SESSION_COOKIE} cookie")
    status, headers, _body = request(
        port,
        "POST",
        "/login",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{SESSION_COOKIE}={form_cookie}",
        },
        body=urlencode({"csrf_token": finder.token, "username": LOGIN_USER, "password": password}),
    )
    location = headers.get("Location", "")
    if status != 302 or "/login" in location:
        raise BenchError(
            f"login as {LOGIN_USER} failed: POST /login answered {status} "
            f"(Location: {location or '-'}); expected 302 to /"
        )
    session_cookie = _session_cookie(headers)
    if session_cookie is None:
        raise BenchError(f"login: the successful login set no {SESSION_COOKIE} cookie")
    cookie = f"{SESSION_COOKIE}={session_cookie}"
    # Prove the cookie opens the start page before measuring it: a 302 here would
    # otherwise show up only as a wall of errors.
    status, headers, _body = request(port, "GET", "/", headers={"Cookie": cookie})
    if status != 200:
        raise BenchError(
            f"login: GET / with the new session answered {status} "
            f"(Location: {headers.get('Location', '-')}); the session cookie does not work"
        )
    return cookie


def _session_cookie(headers: HTTPMessage) -> str | None:
    """The value of the session cookie a response sets, if it sets one."""
    for header in headers.get_all("Set-Cookie") or []:
        jar = SimpleCookie()
        jar.load(header)
        if SESSION_COOKIE in jar:
            return jar[SESSION_COOKIE].value
    return None


def describe(result: LoadResult) -> str:
    """One human-readable line of figures for a measurement."""
    line = (
        f"{result.name:<20} {result.rps:8.1f} rps   p50 {result.percentile(50):7.2f} ms   "
        f"p95 {result.percentile(95):7.2f} ms   p99 {result.percentile(99):7.2f} ms   "
        f"{result.requests:6d} requests   {result.errors} errors"
    )
    if result.error_kinds:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(result.error_kinds.items()))
        line += f" ({kinds})"
    return line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; nonsense values end the run before any set-up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measuring time per target (default 10)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="requests in flight at once (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="unmeasured load per target before measuring (default 2)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="split each target's --seconds into this many turns, taken "
                             "in rotation; steadier ratios on a busy machine (default 1)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2,
                        help="client processes the connections are spread over "
                             "(default: number of CPUs)")
    args = parser.parse_args(argv)
    if min(args.concurrency, args.processes, args.rounds) < 1:
        parser.error("--concurrency, --processes and --rounds must be at least 1")
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be > 0 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Set up, serve, log in, measure, report; the exit status for the shell."""
    args = parse_args(argv)
    password = secrets.token_urlsafe(12)
    servers: list[GunicornServer] = []
    with tempfile.TemporaryDirectory(prefix="homeoffice-bench-") as tmp:
        workdir = Path(tmp)
        instance = workdir / "instance"
        instance.mkdir()
        env = homeoffice_env(instance)
        try:
            print(f"set-up in {workdir}: init-db, demo-data ...", flush=True)
            began = time.monotonic()
            run_setup_command(["init-db"], env, workdir / "setup.log")
            run_setup_command(["demo-data", "--password", password], env, workdir / "setup.log")
            print(f"set-up done in {time.monotonic() - began:.1f} s", flush=True)

            ceiling = GunicornServer("ceiling", "ceiling_app:app", cwd=BENCH_DIR, env=env,
                                     log_path=workdir / "ceiling.log", workers=WORKERS)
            homeoffice = GunicornServer("homeoffice", "wsgi:app", cwd=REPO_ROOT, env=env,
                                        log_path=workdir / "homeoffice.log", workers=WORKERS)
            servers = [ceiling, homeoffice]
            for server in servers:
                server.start()
            ceiling.wait_ready("/")
            homeoffice.wait_ready("/health")
            print(f"gunicorn up: ceiling on port {ceiling.port}, homeoffice on port "
                  f"{homeoffice.port} ({WORKERS} sync workers each)", flush=True)
            cookie = log_in(homeoffice.port, password)
            print(f"logged in as {LOGIN_USER}", flush=True)

            # Measured one after the other, not at once: on a 2-core machine two loads
            # would compete for the CPU and each would distort the other.
            targets = [
                ("ceiling /", ceiling.port, "/", {}),
                ("homeoffice /health", homeoffice.port, "/health", {}),
                ("homeoffice /", homeoffice.port, "/", {"Cookie": cookie}),
            ]
            print(f"measuring {args.seconds:g} s per target in {args.rounds} round(s), "
                  f"concurrency {args.concurrency}, "
                  f"{min(args.processes, args.concurrency)} client processes "
                  f"(after {args.warmup:g} s warm-up each)", flush=True)
            if args.warmup:
                for name, port, path, headers in targets:
                    # Unmeasured: lets every worker import lazily loaded code, open its
                    # database connection and fill its template cache first.
                    run_load(name, port, path, headers=headers, seconds=args.warmup,
                             concurrency=args.concurrency, processes=args.processes)
            # With several rounds the targets take turns, so a burst of other work on
            # the machine hits all of them rather than one, which steadies the ratio.
            parts: dict[str, list[LoadResult]] = {name: [] for name, *_rest in targets}
            for _round in range(args.rounds):
                for name, port, path, headers in targets:
                    parts[name].append(
                        run_load(name, port, path, headers=headers,
                                 seconds=args.seconds / args.rounds,
                                 concurrency=args.concurrency, processes=args.processes)
                    )
            results = [LoadResult.merge(name, parts[name]) for name, *_rest in targets]
            for result in results:
                print(describe(result), flush=True)
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            # The temporary directory goes away with the logs; show what the service said.
            if servers and servers[-1].name == "homeoffice":
                print(servers[-1].log_tail(), file=sys.stderr)
            return 2
        finally:
            for server in servers:
                server.stop()

        ceiling_result, health_result, start_result = results
        # The load generator is plain Python and shares the 2 CPUs with the servers,
        # so it may cap the absolute figures. It caps the ceiling and homeoffice alike,
        # though, so the ratio still says how much homeoffice costs over bare Flask.
        health_ratio = health_result.rps / ceiling_result.rps if ceiling_result.rps else 0.0
        start_ratio = start_result.rps / ceiling_result.rps if ceiling_result.rps else 0.0
        errors = sum(result.errors for result in results)
        print(f"ratio to ceiling: /health {health_ratio:.3f}, start page / {start_ratio:.3f}")
        summary = {
            "ceiling_rps": round(ceiling_result.rps, 1),
            "ceiling_p50_ms": round(ceiling_result.percentile(50), 2),
            "ceiling_p95_ms": round(ceiling_result.percentile(95), 2),
            "ceiling_p99_ms": round(ceiling_result.percentile(99), 2),
            "health_rps": round(health_result.rps, 1),
            "health_p50_ms": round(health_result.percentile(50), 2),
            "health_p95_ms": round(health_result.percentile(95), 2),
            "health_p99_ms": round(health_result.percentile(99), 2),
            "start_page_rps": round(start_result.rps, 1),
            "start_page_p50_ms": round(start_result.percentile(50), 2),
            "start_page_p95_ms": round(start_result.percentile(95), 2),
            "start_page_p99_ms": round(start_result.percentile(99), 2),
            "health_ratio": round(health_ratio, 3),
            "start_page_ratio": round(start_ratio, 3),
            "errors": errors,
            "workers": WORKERS,
            "concurrency": args.concurrency,
            "seconds": int(args.seconds) if args.seconds.is_integer() else args.seconds,
            "rounds": args.rounds,
        }
        if errors:
            print(f"benchmark failed: {errors} requests did not answer 2xx (see above); "
                  "a 302 on the start page means the session cookie was lost", file=sys.stderr)
        print(json.dumps(summary), flush=True)
        return 1 if errors else 0


if __name__ == "__main__":
    run_main(main)
