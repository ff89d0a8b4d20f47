"""Shared pieces of the benchmarks: gunicorn servers and a pure-Python load generator.

Kept apart from ``web.py`` so that other benchmarks can reuse them, and so that the
client processes' entry point lives in an importable module (multiprocessing can
then start them with ``fork`` or ``spawn`` alike).

Everything here talks to 127.0.0.1 only and is bounded in time.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

HOST = "127.0.0.1"

#: one fixed User-Agent for every request: homeoffice's "strong" session protection
#: ends a session whose address or User-Agent changes, so the client must not vary it
USER_AGENT = "homeoffice-bench/1"


def run_main(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s status; Ctrl-C ends quietly with 130 (every ``main()``
    stops its servers in its own ``finally``)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``, 0 if there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def finish(summary: dict, problems: list[str], checked: str) -> int:
    """Report a benchmark that checks its results: the problems (or what was checked),
    then the figures as the last line; the exit status says whether it passed."""
    if problems:
        print("benchmark failed: " + "\n  ".join(problems), file=sys.stderr)
    else:
        print(checked)
    print(json.dumps(summary), flush=True)
    return 1 if problems else 0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why, for the person running it."""


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now.

    The OS picks it; there is a small race until gunicorn binds it, which shows as a
    server that does not start (reported with its log), not as wrong figures.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout: float = 10.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One HTTP request on a fresh connection: status, headers and body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _no_control_socket() -> list[str]:
    """``--no-control-socket`` where gunicorn has a control socket (newer versions).

    Its default path (``~/.gunicorn/gunicorn.ctl``) is shared by every gunicorn of
    the user: the benchmark's two servers would fight over it and could take it over
    from a real service running as the same user. It plays no part in serving
    requests, so turning it off leaves the measured settings at gunicorn's defaults.
    """
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        return ["--no-control-socket"]
    return []


class GunicornServer:
    """A gunicorn master with its workers, started and stopped by this process.

    The server runs in its own session (process group) so that Ctrl-C in the terminal
    reaches only the benchmark, which then stops the server in order in ``stop``.
    """

    def __init__(
        self,
        name: str,
        app: str,
        *,
        cwd: Path,
        env: dict[str, str],
        log_path: Path,
        workers: int,
    ) -> None:
        self.name = name
        self.app = app
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start gunicorn: sync workers, otherwise gunicorn's defaults, loopback only."""
        command = [
            sys.executable, "-m", "gunicorn",
            "--workers", str(self.workers),
            "--worker-class", "sync",
            "--bind", f"{HOST}:{self.port}",
            *_no_control_socket(),
            self.app,
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        """Wait until ``path`` answers 200; fail early if gunicorn exits."""
        deadline = time.monotonic() + timeout
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise BenchError(
                    f"{self.name}: gunicorn exited during start-up.\n{self.log_tail()}"
                )
            try:
                status, _headers, _body = request(self.port, "GET", path, timeout=5)
            except OSError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    return
                last_problem = f"GET {path} answered {status}"
            time.sleep(0.2)
        raise BenchError(
            f"{self.name}: not ready after {timeout:.0f} s ({last_problem}).\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM to the master, which stops its workers), then SIGKILL."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Only the group we created for this server: the master and its workers.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, to put into error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"


@dataclass
class LoadResult:
    """What one measurement of one target produced."""

    name: str
    requests: int
    errors: int
    elapsed: float
    latencies_ms: list[float]
    #: e.g. {"HTTP 302": 5, "ConnectionResetError": 1}
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Successful requests per second (errors do not count as throughput)."""
        return (self.requests - self.errors) / self.elapsed if self.elapsed > 0 else 0.0

    @classmethod
    def merge(cls, name: str, parts: list[LoadResult]) -> LoadResult:
        """One result from several measurements of the same target (``--rounds``)."""
        kinds: Counter[str] = Counter()
        for part in parts:
            kinds.update(part.error_kinds)
        return cls(
            name,
            sum(part.requests for part in parts),
            sum(part.errors for part in parts),
            sum(part.elapsed for part in parts),
            sorted(value for part in parts for value in part.latencies_ms),
            dict(kinds),
        )

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile of the latencies in ms (nearest rank), 0 if none."""
        return percentile(self.latencies_ms, p)


@dataclass(frozen=True)
class _ClientJob:
    port: int
    path: str
    headers: dict[str, str]
    threads: int
    start_at: float
    seconds: float


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole foreground process group; the parent handles it and
    # terminates the pool, so the clients must not die half-way with tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _client_process(job: _ClientJob) -> tuple[list[float], int, int, dict[str, int], float]:
    """One client process: ``job.threads`` threads, each with its own connection.

    Returns latencies (ms), request count, error count, error kinds and the time the
    last request ended (``time.monotonic``, which is system-wide on Linux, so the
    parent can compare it with ``start_at``).
    """
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    kinds: Counter[str] = Counter()
    last_end = [job.start_at]
    lock = threading.Lock()
    deadline = job.start_at + job.seconds
    headers = {"User-Agent": USER_AGENT, **job.headers}

    def run() -> None:
        own: list[float] = []
        own_kinds: Counter[str] = Counter()
        errors = 0
        connection = http.client.HTTPConnection(HOST, job.port, timeout=30)
        end = job.start_at
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                # gunicorn's sync workers close the connection after every response;
                # http.client then reconnects on the next request by itself.
                connection.request("GET", job.path, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                errors += 1
                own_kinds[type(exc).__name__] += 1
                own.append((time.perf_counter() - began) * 1000)
                end = time.monotonic()
                continue
            own.append((time.perf_counter() - began) * 1000)
            end = time.monotonic()
            if not 200 <= status < 300:
                errors += 1
                own_kinds[f"HTTP {status}"] += 1
        connection.close()
        with lock:
            latencies.extend(own)
            counts["requests"] += len(own)
            counts["errors"] += errors
            kinds.update(own_kinds)
            last_end[0] = max(last_end[0], end)

    pause = job.start_at - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    threads = [threading.Thread(target=run, daemon=True) for _ in range(job.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, counts["requests"], counts["errors"], dict(kinds), last_end[0]


def run_load(
    name: str,
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    seconds: float,
    concurrency: int,
    processes: int,
) -> LoadResult:
    """Keep ``concurrency`` requests in flight against ``path`` for ``seconds``.

    The connections are spread over ``processes`` client processes with threads
    each, because one Python process (one GIL) cannot keep a web server busy on its
    own. All processes start at the same moment and stop at the same deadline.
    """
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (1 if i < concurrency % processes else 0)
              for i in range(processes)]
    with multiprocessing.Pool(processes, initializer=_ignore_sigint) as pool:
        # Leave the pool's processes time to come up (spawn imports this module)
        # so that all of them begin together.
        start_at = time.monotonic() + 0.5
        jobs = [_ClientJob(port, path, dict(headers or {}), threads, start_at, seconds)
                for threads in shares]
        pending = pool.map_async(_client_process, jobs)
        # A hung server cannot hold the benchmark: every request times out after 30 s.
        parts = pending.get(timeout=seconds + 60)
    latencies: list[float] = []
    requests = errors = 0
    kinds: Counter[str] = Counter()
    last_end = start_at
    for part_latencies, part_requests, part_errors, part_kinds, part_end in parts:
        latencies.extend(part_latencies)
        requests += part_requests
        errors += part_errors
        kinds.update(part_kinds)
        last_end = max(last_end, part_end)
    latencies.sort()
    # Requests still in flight at the deadline finish after it and count, so the
    # elapsed time runs to the end of the last one, not to the deadline.
    elapsed = max(last_end - start_at, seconds)
    return LoadResult(name, requests, errors, elapsed, latencies, dict(kinds))
