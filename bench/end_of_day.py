"""The end-of-day run: 5,000 agreements ending on one day, revoked against a real slapd.

Sets up ``--agreements`` people in slapd, each with an active agreement that ends today
and VPN plus terminal-server access issued (``ACCESS_KINDS`` ``["groups"]``: both group
memberships and the account's expiry, really in slapd, and the credentials in the
database). Then it times the first run after midnight, ``run_job("revoke_access")`` with
the clock at 00:05 the next day: it expires every agreement, opens a revocation task for
each and runs them all (groups removed, expiry set) in one transaction. slapd's own
operation counters (``cn=Monitor``) give the directory operations, so the job runs
unchanged; the time spent inside the directory's calls is measured by handing the job
``TimedLdapDirectory`` (from ``bench/access.py``) instead of a plain ``LdapDirectory``.

In the same run, against the same slapd, the memberships and expiry are put back and the
very same removals and expiry changes are made by one ``ldapmodify`` process, and by one
reused ldap3 connection in a tight loop: the reference for what the directory alone costs.

Everything happens in a temporary directory (slapd from ``tests.servers.slapd`` on
127.0.0.1, a SQLite database) that is removed at the end unless ``--keep`` is given;
slapd is stopped in a ``finally``. Any ``HOMEOFFICE_*``/``FLASK_*`` setting of the
caller's shell is ignored. The last line of the output is one JSON object.

Usage: ``.venv/bin/python bench/end_of_day.py [--agreements N] [--keep] [--max-seconds S]``
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from _common import BenchError, finish, run_main

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# ``python bench/end_of_day.py`` puts bench/ first on the path, not the checkout; the root
# must come before bench/, whose policies.py would otherwise hide the ``policies`` package.
sys.path.insert(0, str(REPO_ROOT))

import ldap3  # noqa: E402

# The slapd set-up, the operation counter, the references and the directory check are
# those of bench/access.py, so both benchmarks measure the same way.
from access import (  # noqa: E402
    OPERATION_KINDS,
    Deadline,
    OperationCounter,
    Phase,
    Stop,
    TimedLdapDirectory,
    changes_for,
    check_directory,
    clean_environment,
    counted,
    failed,
    ldap3_phase,
    ldapmodify_phase,
    make_app,
    require_tools,
)
from flask import Flask  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from tests.servers.slapd import SeedPerson, SlapdServer, generate_people  # noqa: E402
from vpn.ldap import shadow_expire_value  # noqa: E402

#: the IT clerk of the seed recorded as having issued the access
IT_USERNAME = "lfischer"
#: the first slot of the revoke_access job on a day (minute 5 of every quarter hour)
RUN_AT = clock_time(0, 5)


@dataclass
class Figures:
    """What the run measured, and what went wrong."""

    setup_s: dict[str, float] = field(default_factory=dict)
    job: Phase | None = None
    #: seconds of the job's two halves: expiring the agreements, running the revocations
    expire_s: float | None = None
    revoke_s: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    references: dict[str, Phase] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# --- set-up ------------------------------------------------------------------------------


def populate(app: Flask, people: list[SeedPerson], end: date) -> list[int]:
    """Schema, ``sync-directory``, and per person an active agreement ending on ``end``
    with its VPN and terminal-server credentials issued.

    Written in bulk, as the state ``services.issue`` leaves behind (credential rows, the
    grant tasks done); the directory's side is applied afterwards by ``ldapmodify``.
    Returns the agreement ids.
    """
    from homeoffice.access.models import TERMINAL_SERVER_GROUP, VPN_GROUP, Credential
    from homeoffice.agreements.models import Agreement, HomeOfficeRequest
    from homeoffice.db import session_scope
    from homeoffice.migrations import upgrade
    from homeoffice.people.models import Person

    upgrade(app.extensions["homeoffice.engine"])
    result = app.test_cli_runner().invoke(args=["sync-directory"])
    if result.exit_code != 0:
        raise BenchError(f"sync-directory failed: {result.output}{result.exception or ''}")
    print(f"  {result.output.strip()}", flush=True)
    start = end - timedelta(days=180)
    with app.app_context(), session_scope() as session:
        ids = dict(
            session.exec(
                select(Person.username, Person.id).where(
                    col(Person.username).in_([p.username for p in people])
                )
            ).all()
        )
        missing = [p.username for p in people if p.username not in ids]
        if missing:
            raise BenchError(
                f"sync-directory did not import {len(missing)} generated people, e.g. {missing[:3]}"
            )
        clerk = session.exec(select(Person).where(Person.username == IT_USERNAME)).one()
        requests = [
            HomeOfficeRequest(
                person_id=ids[p.username], state="approved", reasons="commute", commute_km=40,
                pattern="weekdays", weekdays="2,4", start_date=start, end_date=end,
                wants_vpn=True, wants_terminal_server=True, uses_private_computer=False,
                eligible=True, rule_set="ordinary@1",
            )
            for p in people
        ]  # fmt: skip
        session.add_all(requests)
        session.flush()
        agreements = [
            Agreement(
                person_id=req.person_id, request_id=req.id, state="active", start_date=start,
                end_date=end, pattern="weekdays", weekdays="2,4", days_per_week=2,
                rule_set="ordinary@1",
            )
            for req in requests
        ]  # fmt: skip
        session.add_all(agreements)
        session.flush()
        session.add_all(
            Credential(
                person_id=a.person_id,
                agreement_id=a.id,
                kind=kind,
                expires_on=end,
                issued_by_id=clerk.id,
            )
            for a in agreements
            for kind in (VPN_GROUP, TERMINAL_SERVER_GROUP)
        )
        session.flush()
        return [a.id for a in agreements if a.id is not None]


# --- the measured run --------------------------------------------------------------------


class SettableClock:
    """The runner's clock, fixed at the moment of the end-of-day run."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@contextmanager
def replaced(module: Any, name: str, replacement: Any) -> Iterator[None]:
    """Put ``replacement`` in place of ``module.name`` for the block.

    The job imports its helpers when it runs, so this reaches it without any change to
    the code under test; only the benchmark's own process is affected.
    """
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def timed(function: Callable[..., Any], seconds: list[float]) -> Callable[..., Any]:
    """``function``, appending the time of each call to ``seconds``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - began)

    return call


def run_end_of_day(
    app: Flask, counter: OperationCounter, count: int, moment: datetime, figures: Figures
) -> None:
    """``run_job("revoke_access")`` at ``moment``, timed and counted.

    The directory the job opens is a ``TimedLdapDirectory`` (the same ``LdapDirectory``
    code, adding up the time spent in its calls); ``apply_dates`` and ``revoke_due`` are
    timed on their own, to split the run into expiring and revoking.
    """
    import homeoffice.access.services as access_services
    import homeoffice.agreements.services as agreement_services
    import homeoffice.directory as directory_module
    from homeoffice.jobs.runner import run_job

    opened: list[TimedLdapDirectory] = []

    def open_timed(config: Any, session: Any) -> TimedLdapDirectory:
        directory = TimedLdapDirectory.from_config(config)
        opened.append(directory)
        return directory

    expire_s: list[float] = []
    revoke_s: list[float] = []
    phase = Phase("app, run_job(revoke_access)", "revoke", count)
    occurrence = moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%MZ")
    with (
        replaced(directory_module, "open_directory", open_timed),
        replaced(
            agreement_services, "apply_dates", timed(agreement_services.apply_dates, expire_s)
        ),
        replaced(access_services, "revoke_due", timed(access_services.revoke_due, revoke_s)),
        counted(counter, phase),
    ):
        run = run_job(app, "revoke_access", occurrence=occurrence, clock=SettableClock(moment))
    figures.job = phase
    figures.expire_s = sum(expire_s) if expire_s else None
    figures.revoke_s = sum(revoke_s) if revoke_s else None
    phase.directory_s = sum(directory.seconds for directory in opened)
    if run is None:
        raise Stop("run_job was skipped: another process holds the lease or the run exists")
    figures.counts = dict(run.counts or {})
    if run.outcome != "ok":
        raise Stop(f"the end-of-day run failed: {run.error}")
    wanted = {"expired": count, "revoked": count, "failed": 0}
    got = {key: figures.counts.get(key) for key in wanted}
    if got != wanted:
        raise Stop(f"the end-of-day run did {got}, not {wanted}")


def check_database(app: Flask, agreement_ids: list[int]) -> list[str]:
    """What is wrong in the database after the run; empty when every agreement is expired,
    every credential revoked and every revocation task done."""
    from homeoffice.access.models import ACTIVE, Credential
    from homeoffice.agreements.models import Agreement
    from homeoffice.db import session_scope
    from homeoffice.tasks.models import DONE, REVOKE_ACCESS, ItTask

    problems = []
    with app.app_context(), session_scope() as session:
        active = session.exec(
            select(func.count()).select_from(Credential).where(Credential.state == ACTIVE)
        ).one()
        states = Counter(session.exec(select(Agreement.state)).all())
        tasks = Counter(
            session.exec(select(ItTask.state).where(ItTask.kind == REVOKE_ACCESS)).all()
        )
    if active:
        problems.append(f"{active} credentials still active")
    if states != Counter({"expired": len(agreement_ids)}):
        problems.append(f"agreement states {dict(states)}")
    if tasks != Counter({DONE: len(agreement_ids)}):
        problems.append(f"revocation tasks {dict(tasks)}")
    return problems


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; nonsense values end the run before any set-up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--agreements", type=int, default=5000,
        help="agreements ending on one day (and generated people) (default 5000)",
    )  # fmt: skip
    parser.add_argument(
        "--keep", action="store_true",
        help="keep the working directory (slapd's data and log, the database, the LDIF)",
    )  # fmt: skip
    parser.add_argument(
        "--max-seconds", type=float, default=1800.0,
        help="time budget for the reference loops (default 1800)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.agreements < 1:
        parser.error("--agreements must be >= 1")
    if args.max_seconds <= 0:
        parser.error("--max-seconds must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Start slapd, set up, run the end of day and the references, check, report."""
    args = parse_args(argv)
    # create_app would otherwise log at INFO on stderr (every directory change included)
    logging.basicConfig(level=logging.WARNING)
    # the plain ldap:// warning is meant for production; here slapd is on loopback
    logging.getLogger("homeoffice.config").setLevel(logging.ERROR)
    try:
        require_tools()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="homeoffice-bench-"))
    figures = Figures()
    server = SlapdServer(workdir / "slapd")
    app: Flask | None = None
    counter: OperationCounter | None = None
    try:
        instance = workdir / "instance"
        instance.mkdir()
        clean_environment(instance)
        print(f"set-up in {workdir} ...", flush=True)
        began = time.monotonic()
        server.start()
        people = generate_people(server, args.agreements)
        figures.setup_s["slapd"] = time.monotonic() - began
        print(
            f"  slapd on {server.url} with {len(people)} generated people "
            f"({figures.setup_s['slapd']:.1f} s)",
            flush=True,
        )
        zone = ZoneInfo("Europe/Berlin")
        end = datetime.now(zone).date()
        moment = datetime.combine(end + timedelta(days=1), RUN_AT, tzinfo=zone)
        app = make_app(f"sqlite:///{workdir / 'homeoffice.db'}", server)
        if app.config["BABEL_DEFAULT_TIMEZONE"] != "Europe/Berlin":
            raise BenchError("the benchmark assumes BABEL_DEFAULT_TIMEZONE Europe/Berlin")
        began = time.monotonic()
        agreement_ids = populate(app, people, end)
        figures.setup_s["database"] = time.monotonic() - began
        print(
            f"  {len(agreement_ids)} active agreements ending {end} with VPN and terminal "
            f"server issued, on SQLite ({figures.setup_s['database']:.1f} s)",
            flush=True,
        )
        counter = OperationCounter(server)
        counter.calibrate()
        measure(args, figures, app, server, counter, people, agreement_ids, end, moment, workdir)
    except Stop as exc:
        figures.problems.append(str(exc))
    except BenchError as exc:
        return failed(exc)
    except (ldap3.core.exceptions.LDAPException, RuntimeError, OSError) as exc:
        return failed(exc, server)
    finally:
        if counter is not None:
            counter.close()
        if app is not None:
            app.extensions["homeoffice.engine"].dispose()
        server.stop()
        if args.keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(args, figures)


def measure(
    args: argparse.Namespace,
    figures: Figures,
    app: Flask,
    server: SlapdServer,
    counter: OperationCounter,
    people: list[SeedPerson],
    agreement_ids: list[int],
    end: date,
    moment: datetime,
    workdir: Path,
) -> None:
    """Issue in slapd, run the end of day, check; then the references, each checked."""
    n = len(agreement_ids)
    issued = shadow_expire_value(end)
    # revoke sets "yesterday" of the run's day: the agreement's last day
    revoked = shadow_expire_value(moment.date() - timedelta(days=1))
    deadline = Deadline(args.max_seconds)

    def put_back(label: str) -> None:
        """The memberships and expiry as issued, by ldapmodify (not part of any figure)."""
        phase = ldapmodify_phase(
            server, counter, "issue", changes_for(people, "issue", issued), workdir, deadline
        )
        problems = phase.failures + check_directory(counter, people, issued=True, expiry=issued)
        if problems:
            raise Stop(f"{label}: the access is not in slapd as issued: {'; '.join(problems)}")
        figures.setup_s.setdefault("ldapmodify_issue", phase.elapsed_s)

    put_back("before the run")
    print(
        f"  both groups and shadowExpire of {n} people written by ldapmodify "
        f"({figures.setup_s['ldapmodify_issue']:.1f} s), checked",
        flush=True,
    )

    print(f"end-of-day run at {moment:%Y-%m-%d %H:%M %Z} for {n} agreements ...", flush=True)
    run_end_of_day(app, counter, n, moment, figures)
    print(figures.job.describe(), flush=True)
    problems = check_directory(counter, people, issued=False, expiry=revoked)
    problems += check_database(app, agreement_ids)
    if problems:
        raise Stop("after the end-of-day run: " + "; ".join(problems))

    print("references: the same removals and expiry changes ...", flush=True)
    for name, run in (
        ("ldapmodify", lambda changes: ldapmodify_phase(
            server, counter, "revoke", changes, workdir, deadline)),
        ("ldap3", lambda changes: ldap3_phase(
            server, counter, "revoke", changes, reads=False, deadline=deadline)),
    ):  # fmt: skip
        put_back(f"before {name}")
        phase = run(changes_for(people, "revoke", revoked))
        figures.references[name] = phase
        print(phase.describe(), flush=True)
        problems = phase.failures + check_directory(counter, people, issued=False, expiry=revoked)
        if problems:
            raise Stop(f"{name}: " + "; ".join(problems))


def per_second(count: float, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds else None


def report(args: argparse.Namespace, figures: Figures) -> int:
    """The summary lines and the JSON line; the exit status (1 when anything went wrong)."""
    n = args.agreements
    summary: dict[str, Any] = {"agreements": n}
    summary.update({f"setup_{key}_s": round(value, 2) for key, value in figures.setup_s.items()})
    job = figures.job
    if job is not None:
        operations = sum(job.operations.values())
        rest = job.elapsed_s - (job.directory_s or 0.0)
        summary.update(
            seconds=round(job.elapsed_s, 3),
            revocations_per_s=per_second(n, job.elapsed_s),
            directory_ops=operations,
            directory_ops_per_s=per_second(operations, job.elapsed_s),
            directory_ops_per_agreement=round(operations / n, 3),
            directory_ops_by_kind={
                kind: job.operations[kind] for kind in OPERATION_KINDS if job.operations[kind]
            },
            directory_s=round(job.directory_s or 0.0, 3),
            outside_directory_s=round(rest, 3),
            expire_s=round(figures.expire_s, 3) if figures.expire_s is not None else None,
            revoke_s=round(figures.revoke_s, 3) if figures.revoke_s is not None else None,
            counts=figures.counts,
        )
        print(
            f"end of day: {n} agreements in {job.elapsed_s:.2f} s = "
            f"{summary['revocations_per_s']} revocations/s; {operations} directory operations "
            f"= {summary['directory_ops_per_s']} ops/s; {job.directory_s or 0.0:.2f} s inside "
            f"the directory's calls, {rest:.2f} s outside (expiring "
            f"{summary['expire_s']} s, revoking {summary['revoke_s']} s)"
        )
    for name, phase in figures.references.items():
        operations = sum(phase.operations.values())
        summary.update({
            f"{name}_seconds": round(phase.elapsed_s, 3),
            f"{name}_revocations_per_s": per_second(n, phase.elapsed_s),
            f"{name}_ops": operations,
            f"{name}_ops_per_s": per_second(operations, phase.elapsed_s),
        })  # fmt: skip
        if job is not None and phase.elapsed_s > 0:
            summary[f"ratio_vs_{name}"] = round(job.elapsed_s / phase.elapsed_s, 2)
    shown = [f"{k.removeprefix('ratio_vs_')} {v}" for k, v in summary.items() if "ratio_vs_" in k]
    if shown:
        print("ratios (end-of-day seconds / reference seconds): " + ", ".join(shown))
    summary["checked"] = not figures.problems
    return finish(
        summary,
        figures.problems,
        "checked: groups, expiry, agreements, credentials and tasks as they should be",
    )


if __name__ == "__main__":
    run_main(main)
