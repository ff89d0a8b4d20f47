"""Where the scheduler runs: its own process, or (the demo only) inside the development
server; never in gunicorn workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "homeoffice"]


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {
        **os.environ,
        "HOMEOFFICE_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "HOMEOFFICE_SECRET_KEY": "a-long-secret-key-for-this-test-only",
        "HOMEOFFICE_INSTANCE_PATH": str(tmp_path),
        "HOMEOFFICE_SESSION_COOKIE_SECURE": "false",
    }
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stored_jobs(tmp_path) -> list[str]:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        if not inspect(engine).has_table("apscheduler_jobs"):
            return []
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    finally:
        engine.dispose()


def _wait_for_jobs(tmp_path, process, expected: set[str], seconds: float = 30) -> list[str]:
    """The scheduler stores its jobs one by one, so wait until all expected ones are
    there rather than returning the first partial list."""
    deadline = time.monotonic() + seconds
    jobs: list[str] = []
    while time.monotonic() < deadline and process.poll() is None:
        jobs = _stored_jobs(tmp_path)
        if expected <= set(jobs):
            return jobs
        time.sleep(0.3)
    return jobs


def test_the_development_server_embeds_the_scheduler_when_asked(tmp_path):
    env = _env(tmp_path, HOMEOFFICE_SCHEDULER_EMBEDDED="true")
    subprocess.run([*FLASK, "init-db"], env=env, cwd=ROOT, check=True, capture_output=True)
    # Other commands never start it, even with the setting on.
    subprocess.run(
        [*FLASK, "run-job", "refresh_crl"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    assert _stored_jobs(tmp_path) == []
    server = subprocess.Popen(
        [*FLASK, "run", "--host", "127.0.0.1", "--port", str(_free_port())],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        jobs = _wait_for_jobs(tmp_path, server, {"deliver_mail", "revoke_access"})
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
    assert "deliver_mail" in jobs and "revoke_access" in jobs, errors.decode()[-2000:]


def test_the_development_server_alone_leaves_jobs_to_the_scheduler_process(tmp_path):
    env = _env(tmp_path)
    subprocess.run([*FLASK, "init-db"], env=env, cwd=ROOT, check=True, capture_output=True)
    server = subprocess.Popen(
        [*FLASK, "run", "--host", "127.0.0.1", "--port", str(_free_port())],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(4)
        assert server.poll() is None
        assert _stored_jobs(tmp_path) == []
    finally:
        server.terminate()
        server.wait(timeout=20)
    scheduler = subprocess.Popen(
        [*FLASK, "scheduler"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        jobs = _wait_for_jobs(tmp_path, scheduler, {"sync_directory"})
    finally:
        scheduler.terminate()
        output, _ = scheduler.communicate(timeout=20)
    assert "sync_directory" in jobs, output.decode()[-2000:]


def test_gunicorn_workers_refuse_the_embedded_scheduler(tmp_path):
    env = _env(tmp_path, HOMEOFFICE_SCHEDULER_EMBEDDED="true")
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "HOMEOFFICE_SCHEDULER_EMBEDDED is for the development server only" in result.stderr
    assert _stored_jobs(tmp_path) == []
    ok = subprocess.run(
        [sys.executable, "-c", "import wsgi"], env=_env(tmp_path), cwd=ROOT, capture_output=True
    )
    assert ok.returncode == 0, ok.stderr
