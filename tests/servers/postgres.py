"""A throwaway PostgreSQL cluster that the test suite starts itself.

The cluster lives in a temporary directory, listens only on 127.0.0.1 at a free port, trusts
every local connection (nothing outside this machine can reach it) and trades durability for
speed (``fsync=off``). Tests may ``stop()`` it to simulate "database down" and ``start()`` it
again on the same port with the same data.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.servers import free_port, unavailable

#: Seconds to wait for the server to accept connections before giving up.
READY_TIMEOUT = 20.0

#: The system user PostgreSQL runs as when the tests run as root (it refuses to run as root).
SERVICE_USER = "postgres"

#: The cluster's superuser; trust authentication means no password.
SUPERUSER = "postgres"

_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
"""

_HBA = """
local all all trust
host  all all 127.0.0.1/32 trust
"""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is missing.

    Debian keeps the server binaries out of PATH under /usr/lib/postgresql/<version>/bin, so
    those come first (newest version first); PATH is the fallback for other installations.
    """
    candidates: list[Path] = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, on 127.0.0.1 at a fixed free port."""

    def __init__(self, bindir: Path, *, port: int | None = None) -> None:
        self.bindir = bindir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._as_service_user = os.geteuid() == 0
        self.base_dir = Path(tempfile.mkdtemp(prefix="homeoffice-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "socket"
        self.log_path = self.base_dir / "server.log"
        self._closed = False
        if self._as_service_user:
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.base_dir, entry.pw_uid, entry.pw_gid)
        atexit.register(self.close)

    def start(self) -> None:
        """Start the server (initialising the cluster on first use) and wait until it is ready.

        Does nothing when the server already runs, so a test that stopped it can always call
        ``start()`` in its clean-up.
        """
        if self._closed:
            raise RuntimeError("PostgresServer was closed; create a new one")
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self.is_running():
            return
        result = self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(int(READY_TIMEOUT)),
        )
        if result.returncode != 0:
            raise RuntimeError(self._failure("pg_ctl start failed", result))
        self._wait_until_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data and port, so a test can see the database go down.

        ``mode`` is pg_ctl's shutdown mode: "smart", "fast" or "immediate".
        """
        if not self.is_running():
            return
        result = self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w")
        if result.returncode != 0:
            raise RuntimeError(self._failure("pg_ctl stop failed", result))

    def is_running(self) -> bool:
        """Whether a postmaster for this cluster is alive."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir)).returncode == 0

    def close(self) -> None:
        """Stop the server at once and delete its directory; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with contextlib.suppress(Exception):
            self.stop(mode="immediate")
        if self.is_running():
            self._kill_postmaster()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of one database in this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """The libpq connection string of one database, for psycopg directly."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create a database, optionally as a copy of ``template``.

        PostgreSQL refuses to copy a template that has open connections, so those (for
        instance an engine's pool left over from migrating the template) are ended first.
        """
        statement = sql.SQL("CREATE DATABASE {} ENCODING 'UTF8'").format(sql.Identifier(name))
        with self._admin_connection() as conn:
            if template is not None:
                self._terminate_connections(conn, template)
                statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
            conn.execute(statement)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, ending every connection to it first."""
        with self._admin_connection() as conn:
            self._terminate_connections(conn, name)
            statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
            if conn.info.server_version >= 130000:
                statement = sql.SQL("{} WITH (FORCE)").format(statement)
            conn.execute(statement)

    def _admin_connection(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=5)

    @staticmethod
    def _terminate_connections(conn: psycopg.Connection, dbname: str) -> None:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )

    def _initdb(self) -> None:
        result = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        )
        if result.returncode != 0:
            raise RuntimeError(self._failure("initdb failed", result))
        self._as_owner(["mkdir", "-p", str(self.socket_dir)])
        self._append(
            self.data_dir / "postgresql.conf",
            _SETTINGS.format(port=self.port, socket_dir=self.socket_dir),
        )
        self._write(self.data_dir / "pg_hba.conf", _HBA)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
        raise RuntimeError(
            f"PostgreSQL did not accept connections on {self.host}:{self.port} within "
            f"{READY_TIMEOUT:.0f} s ({last_error})\n{self._log_tail()}"
        )

    def _kill_postmaster(self) -> None:
        """Kill the postmaster named in its pid file, if ``pg_ctl stop`` could not end it."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self._as_owner([str(self.bindir / program), *args])

    def _as_owner(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run a command as the cluster's owner: the service user when we are root."""
        if self._as_service_user:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(
            list(command),
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=READY_TIMEOUT + 10,
            check=False,
        )

    def _append(self, path: Path, text: str) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")

    def _failure(self, what: str, result: subprocess.CompletedProcess[str]) -> str:
        return f"{what} ({result.returncode}):\n{result.stdout}{result.stderr}\n{self._log_tail()}"

    def _log_tail(self, lines: int = 40) -> str:
        try:
            log = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "server log:\n" + "\n".join(log.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"<PostgresServer {self.host}:{self.port} {self.data_dir}>"


def _service_user_missing() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return True
    return shutil.which("runuser") is None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL cluster for the whole session, removed at its end."""
    bindir = find_bindir()
    if bindir is None:
        unavailable("PostgreSQL not installed: apt-get install postgresql")
    if _service_user_missing():
        unavailable(
            f"PostgreSQL refuses to run as root and there is no {SERVICE_USER!r} user "
            "(or no runuser): apt-get install postgresql"
        )
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.close()
