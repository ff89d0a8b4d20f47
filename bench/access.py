"""Issuing and revoking remote access for 1,000 agreements against a real slapd.

Measures ``homeoffice.access.services.issue`` and ``revoke`` with ``ACCESS_KINDS``
``["groups"]`` (membership of the VPN and terminal-server groups plus the account's
expiry: the part bound to the directory), agreement by agreement and committed one by
one as the web's requests do, once with a new ``LdapDirectory`` per agreement (what a
request does) and once with one directory reused for all. In the same run, against the
same slapd, it times the very same directory changes made by ``ldapmodify`` in one
process run per phase, and by one reused ldap3 connection in a tight loop (the client
library's ceiling), and prints the ratios. slapd's own operation counters
(``cn=Monitor``) say how many LDAP operations each agreement cost.

A second scenario issues and revokes for the first ``--extra`` agreements with and
without ``certificate`` and ``wireguard``: the same directory work, so the difference
is the cost of the CA and the address pool.

Everything happens in a temporary directory (slapd started by this script from
``tests.servers.slapd``, listening on 127.0.0.1 only, and a SQLite database), removed
at the end; slapd is stopped in a ``finally``. Any ``HOMEOFFICE_*``/``FLASK_*`` setting
of the caller's shell is ignored. After every phase the groups' members and the
accounts' expiry are read back and checked. The last line of the output is one JSON
object, for comparing runs. Exit status 1 if an issue or revoke failed or the directory
was not as it should be afterwards.

Usage: ``.venv/bin/python bench/access.py [--agreements N] [--extra N] [--max-seconds S]``
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import BenchError, finish, percentile, run_main

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# ``python bench/access.py`` puts bench/ first on the path, not the checkout; the root
# must come before bench/, whose policies.py would otherwise hide the ``policies`` package.
sys.path.insert(0, str(REPO_ROOT))

import ldap3  # noqa: E402
from flask import Flask  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from tests.servers.slapd import (  # noqa: E402
    PEOPLE_BASE,
    ROLE_GROUPS,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SLAPD,
    TERMINAL_SERVER_GROUP,
    VPN_GROUP,
    SeedPerson,
    SlapdServer,
    generate_people,
    ldap_config,
    seed_members,
)
from vpn.directory import DirectoryError, normalize_dn  # noqa: E402
from vpn.ldap import LdapDirectory, shadow_expire_value  # noqa: E402

#: the IT clerk of the seed who issues and revokes (member of the homeoffice-it group)
IT_USERNAME = "lfischer"
REVOKE_REASON = "Benchmark: Vereinbarung beendet"
GROUPS = (VPN_GROUP, TERMINAL_SERVER_GROUP)
#: the kinds of the second scenario besides "groups"
EXTRA_KINDS = ["groups", "certificate", "wireguard"]
#: addresses of the default WIREGUARD_NETWORK (10.66.0.0/24) that may be handed out
WIREGUARD_CAPACITY = 253
#: a phase stops after this many failed agreements: the cause is then not one agreement
MAX_FAILURES = 10
#: calls of ``members_of`` timed to show what reading a whole group costs
MEMBERS_OF_PROBES = 20
OPERATION_KINDS = ("Bind", "Unbind", "Search", "Modify", "Add", "Delete", "Modrdn",
                   "Compare", "Extended", "Abandon")


class Stop(Exception):
    """Measuring cannot go on (too many failures, wrong directory state, time is up).

    Unlike ``BenchError`` (set-up failed, exit 2), the figures so far are still printed
    and the exit status is 1.
    """


# --- figures -----------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    """The arithmetic mean, 0 if there are no values."""
    return sum(values) / len(values) if values else 0.0


@dataclass
class Phase:
    """One timed pass over the agreements: one action (issue or revoke) by one method."""

    name: str
    action: str
    count: int
    elapsed_s: float = 0.0
    #: per agreement in order; empty for ``ldapmodify``, which is one process for all
    latencies_ms: list[float] = field(default_factory=list)
    #: LDAP operations slapd completed during the phase, by kind
    operations: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    #: seconds in ``session.commit()`` (app phases only)
    commit_s: float = 0.0
    #: seconds inside the directory's calls (app phases with one reused directory only)
    directory_s: float | None = None

    @property
    def mean_ms(self) -> float:
        """Mean per agreement: of the latencies, or of the total where there are none."""
        if self.latencies_ms:
            return mean(self.latencies_ms)
        return self.elapsed_s * 1000 / self.count if self.count else 0.0

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.latencies_ms, 95) if self.latencies_ms else None

    def tenth_ms(self, which: str) -> float | None:
        """Mean of the first or last tenth of the agreements: does the cost grow?"""
        if not self.latencies_ms:
            return None
        size = max(1, len(self.latencies_ms) // 10)
        part = self.latencies_ms[:size] if which == "first" else self.latencies_ms[-size:]
        return mean(part)

    def ops_per_agreement(self) -> float:
        return sum(self.operations.values()) / self.count if self.count else 0.0

    def describe(self) -> str:
        """One human-readable line of figures."""
        line = (f"  {self.name:<34} {self.action:<6} {self.count:5d} in {self.elapsed_s:7.2f} s"
                f"  mean {self.mean_ms:7.2f} ms")
        if self.latencies_ms:
            line += (f"  p95 {self.p95_ms:7.2f} ms  first/last tenth "
                     f"{self.tenth_ms('first'):6.2f}/{self.tenth_ms('last'):6.2f} ms")
        kinds = ", ".join(
            f"{kind} {self.operations[kind] / self.count:g}"
            for kind in OPERATION_KINDS if self.operations.get(kind)
        )
        line += f"  LDAP ops/agreement {self.ops_per_agreement():.2f} ({kinds or 'none'})"
        if self.commit_s:
            line += f"  commit {self.commit_s * 1000 / self.count:.2f} ms"
        if self.directory_s is not None:
            line += f"  in LdapDirectory calls {self.directory_s * 1000 / self.count:.2f} ms"
        if self.failures:
            line += f"  {len(self.failures)} FAILED"
        return line

    def summary(self) -> dict[str, Any]:
        """The phase's figures for the JSON line."""
        figures: dict[str, Any] = {
            "s": round(self.elapsed_s, 3),
            "mean_ms": round(self.mean_ms, 3),
            "ldap_ops": round(self.ops_per_agreement(), 3),
        }
        if self.latencies_ms:
            figures.update(
                p95_ms=round(self.p95_ms or 0.0, 3),
                first_tenth_ms=round(self.tenth_ms("first") or 0.0, 3),
                last_tenth_ms=round(self.tenth_ms("last") or 0.0, 3),
            )
        if self.commit_s:
            figures["commit_ms"] = round(self.commit_s * 1000 / self.count, 3)
        if self.directory_s is not None:
            figures["directory_ms"] = round(self.directory_s * 1000 / self.count, 3)
        return figures


class Deadline:
    """The run's time budget, checked between agreements so the run stays bounded."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise Stop(f"{what}: the time budget of {self.seconds:g} s is used up")


class OperationCounter:
    """slapd's count of completed operations by kind (``cn=Operations,cn=Monitor``).

    Counted on the server, so the code under test runs unchanged. Reading the counters
    is itself an operation (a search on this admin connection, kept open for the whole
    run); ``calibrate`` measures what one reading adds, and ``since`` takes it off.
    """

    def __init__(self, server: SlapdServer) -> None:
        self.connection = server.admin_connection()
        self.overhead: Counter[str] = Counter()

    def snapshot(self) -> Counter[str]:
        self.connection.search("cn=Operations,cn=Monitor", "(objectClass=*)", ldap3.LEVEL,
                               attributes=["cn", "monitorOpCompleted"])
        return Counter({
            str(entry.cn.value): int(entry.monitorOpCompleted.value or 0)
            for entry in self.connection.entries
        })

    def calibrate(self) -> None:
        first = self.snapshot()
        self.overhead = self.snapshot() - first

    def since(self, before: Counter[str]) -> Counter[str]:
        """Operations completed since ``before``, without those of the readings."""
        return self.snapshot() - before - self.overhead

    def close(self) -> None:
        try:
            self.connection.unbind()
        except (ldap3.core.exceptions.LDAPException, OSError):
            pass


@contextmanager
def counted(counter: OperationCounter, phase: Phase) -> Iterator[None]:
    """Time the block into ``phase.elapsed_s`` and count slapd's operations in it."""
    before = counter.snapshot()
    began = time.perf_counter()
    try:
        yield
    finally:
        phase.elapsed_s = time.perf_counter() - began
        phase.operations = counter.since(before)


# --- set-up ------------------------------------------------------------------------------


def clean_environment(instance: Path) -> None:
    """Drop the shell's ``HOMEOFFICE_*``/``FLASK_*`` settings; use a throw-away instance.

    ``create_app`` reads them from ``os.environ`` (and ``config.py`` from the instance
    folder), so without this a shell set up for a real installation would point the
    benchmark at its database or directory.
    """
    for key in [k for k in os.environ if k.startswith(("HOMEOFFICE_", "FLASK_"))]:
        del os.environ[key]
    os.environ["HOMEOFFICE_INSTANCE_PATH"] = str(instance)


def require_tools() -> None:
    """slapd and the ldap-utils must be installed; say how to get them otherwise."""
    missing = [tool for tool in (SLAPD, "slapadd", "ldapmodify", "ldapsearch")
               if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"{', '.join(missing)} missing: apt-get install slapd ldap-utils")


def make_app(database_url: str, server: SlapdServer) -> Flask:
    """A production-like app (TESTING off) on ``database_url``, with slapd as directory.

    Configured like the ``it_app`` fixture of ``tests/test_remote_access.py``, with
    ``ACCESS_KINDS`` ``["groups"]``: only what the directory holds is issued.
    """
    from homeoffice import create_app

    return create_app({
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "DIRECTORY": "ldap",
        "ROLE_GROUPS": ROLE_GROUPS,
        "VPN_GROUP_DN": VPN_GROUP,
        "TERMINAL_SERVER_GROUP_DN": TERMINAL_SERVER_GROUP,
        # The seed's own members stand for accounts managed by hand elsewhere.
        "ACCESS_GROUP_KEEP": sorted(seed_members(VPN_GROUP) | seed_members(TERMINAL_SERVER_GROUP)),
        "ACCESS_KINDS": ["groups"],
        "MAIL_BACKEND": "log",
        # the production default; the tests' 2 s could fail a busy machine for no reason
        **ldap_config(server, LDAP_TIMEOUT=5),
    })


def populate(app: Flask, people: list[SeedPerson]) -> tuple[list[int], int]:
    """Schema, ``sync-directory``, an office application, one active agreement per person.

    The agreements are made directly (as ``agreement_for`` in the tests does), in bulk:
    approved request, active agreement ending in 90 days, VPN and terminal server
    wanted, the two open IT tasks. Returns the agreement ids in the order of ``people``
    and the id of the IT clerk.
    """
    from homeoffice.access.models import RemoteApplication
    from homeoffice.agreements.models import Agreement, HomeOfficeRequest
    from homeoffice.db import session_scope
    from homeoffice.migrations import upgrade
    from homeoffice.people.models import Person
    from homeoffice.tasks.models import ItTask

    upgrade(app.extensions["homeoffice.engine"])
    result = app.test_cli_runner().invoke(args=["sync-directory"])
    if result.exit_code != 0:
        raise BenchError(f"sync-directory failed: {result.output}{result.exception or ''}")
    print(f"  {result.output.strip()}", flush=True)
    today = date.today()
    end = today + timedelta(days=90)
    with app.app_context(), session_scope() as session:
        session.add(RemoteApplication(name="DMS", networks="10.10.2.0/24", remote_access=True))
        ids = dict(session.exec(
            select(Person.username, Person.id).where(
                col(Person.username).in_([p.username for p in people])
            )
        ).all())
        missing = [p.username for p in people if p.username not in ids]
        if missing:
            raise BenchError(f"sync-directory did not import {len(missing)} generated people, "
                             f"e.g. {missing[:3]}")
        it_person = session.exec(select(Person).where(Person.username == IT_USERNAME)).one()
        if "it" not in it_person.role_set:
            raise BenchError(f"{IT_USERNAME} has no IT role after the sync: {it_person.roles!r}")
        requests = [
            HomeOfficeRequest(
                person_id=ids[p.username], state="approved", reasons="commute", commute_km=40,
                pattern="weekdays", weekdays="2,4", start_date=today, end_date=end,
                wants_vpn=True, wants_terminal_server=True, uses_private_computer=False,
                eligible=True, rule_set="ordinary@1",
            )
            for p in people
        ]
        session.add_all(requests)
        session.flush()
        agreements = [
            Agreement(
                person_id=req.person_id, request_id=req.id, state="active", start_date=today,
                end_date=end, pattern="weekdays", weekdays="2,4", days_per_week=2,
                rule_set="ordinary@1",
            )
            for req in requests
        ]
        session.add_all(agreements)
        session.flush()
        session.add_all(
            ItTask(agreement_id=a.id, person_id=a.person_id, kind=kind)
            for a in agreements for kind in ("grant_vpn", "grant_terminal_server")
        )
        session.flush()
        return [a.id for a in agreements if a.id is not None], it_person.id or 0


# --- the app -----------------------------------------------------------------------------


class TimedLdapDirectory(LdapDirectory):
    """An ``LdapDirectory`` that adds up the time spent in its public calls.

    Used only as the one reused directory, to split an agreement's time into the
    directory's part (network, slapd, ldap3) and the rest (database, ORM, commit).
    A call made from inside another timed call is not counted twice.
    """

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.seconds = 0.0
        self._depth = 0


def _timed(name: str) -> Callable[..., Any]:
    """``LdapDirectory.<name>``, adding its time to the instance's ``seconds``.

    Wraps the inherited method instead of copying it, so what is timed is the
    directory code under test, unchanged.
    """
    original = getattr(LdapDirectory, name)

    def call(self: TimedLdapDirectory, *args: Any, **kwargs: Any) -> Any:
        self._depth += 1
        began = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.seconds += time.perf_counter() - began

    call.__name__, call.__doc__ = name, original.__doc__
    return call


for _name in ("members_of", "add_to_group", "remove_from_group", "get_account_expiry",
              "set_account_expiry", "set_password", "close"):
    setattr(TimedLdapDirectory, _name, _timed(_name))


def run_app(
    app: Flask,
    phase: Phase,
    agreement_ids: list[int],
    it_id: int,
    config: Mapping[str, Any],
    *,
    today: date,
    shared: LdapDirectory | None,
    deadline: Deadline,
) -> None:
    """``services.issue`` or ``revoke`` for each agreement, committed one by one.

    Each agreement gets what a request gets: its own app context, the request's
    session (``get_session``) committed at the end, and, unless ``shared`` is given,
    the request's directory (``get_directory``: a new ``LdapDirectory``, which connects
    and binds on first use and is closed when the context ends).
    """
    from homeoffice.access import services
    from homeoffice.agreements.models import Agreement
    from homeoffice.db import get_session
    from homeoffice.directory import get_directory
    from homeoffice.people.models import Person

    for agreement_id in agreement_ids:
        deadline.check(phase.name)
        began = time.perf_counter()
        try:
            with app.app_context():
                session = get_session()
                directory = shared or get_directory()
                agreement = session.get(Agreement, agreement_id)
                owner = session.get(Person, agreement.person_id)
                by = session.get(Person, it_id)
                if phase.action == "issue":
                    issued = services.issue(session=session, directory=directory,
                                            agreement=agreement, owner=owner, by=by,
                                            config=config)
                    done = issued.kinds
                else:
                    done = services.revoke(session=session, directory=directory,
                                           agreement=agreement, owner=owner, by=by,
                                           config=config, reason=REVOKE_REASON, today=today)
                if not done:
                    raise services.AccessError(f"nothing to {phase.action}")
                committing = time.perf_counter()
                session.commit()
                phase.commit_s += time.perf_counter() - committing
        except (services.AccessError, services.NotAllowed, DirectoryError) as exc:
            phase.failures.append(f"agreement {agreement_id}: {type(exc).__name__}: {exc}")
            if len(phase.failures) >= MAX_FAILURES:
                raise Stop(f"{phase.name} {phase.action}: {MAX_FAILURES} agreements failed, "
                           f"the first: {phase.failures[0]}") from exc
        phase.latencies_ms.append((time.perf_counter() - began) * 1000)


def app_phase(
    app: Flask,
    counter: OperationCounter,
    name: str,
    action: str,
    agreement_ids: list[int],
    it_id: int,
    config: Mapping[str, Any],
    *,
    today: date,
    reuse: bool,
    deadline: Deadline,
) -> Phase:
    """One timed, counted pass of the app over the agreements."""
    phase = Phase(name, action, len(agreement_ids))
    shared = TimedLdapDirectory.from_config(config) if reuse else None
    try:
        with counted(counter, phase):
            run_app(app, phase, agreement_ids, it_id, config, today=today, shared=shared,
                    deadline=deadline)
            if shared is not None:
                shared.close()  # its unbind belongs to the phase, as per request
    finally:
        if shared is not None:
            shared.close()
            phase.directory_s = shared.seconds
    return phase


def active_credentials(app: Flask, agreement_ids: list[int]) -> int:
    """How many credentials of these agreements the database holds as active."""
    from homeoffice.access.models import ACTIVE, Credential
    from homeoffice.db import session_scope

    with app.app_context(), session_scope() as session:
        return session.exec(
            select(func.count()).select_from(Credential).where(
                Credential.state == ACTIVE, col(Credential.agreement_id).in_(agreement_ids)
            )
        ).one()


def probe_members_of(config: Mapping[str, Any]) -> float:
    """Mean ms of ``LdapDirectory.members_of`` on the VPN group as it is now.

    ``issue`` reads both groups whole before adding to them, so this is the part of
    its cost that grows with the number of members.
    """
    with LdapDirectory.from_config(config) as directory:
        directory.members_of(VPN_GROUP)  # connect and bind outside the timing
        began = time.perf_counter()
        for _ in range(MEMBERS_OF_PROBES):
            directory.members_of(VPN_GROUP)
        return (time.perf_counter() - began) * 1000 / MEMBERS_OF_PROBES


# --- the references ----------------------------------------------------------------------


Change = tuple[str, dict[str, list[tuple[str, list[str]]]]]


def changes_for(people: list[SeedPerson], action: str, expiry: str) -> list[list[Change]]:
    """Per person, the modifications ``issue`` (or ``revoke``) makes, in its order.

    Issue: add to the VPN group, add to the terminal-server group, replace the expiry.
    Revoke: delete from both groups, replace the expiry (with yesterday's last day).
    """
    operation = ldap3.MODIFY_ADD if action == "issue" else ldap3.MODIFY_DELETE
    return [
        [
            (VPN_GROUP, {"member": [(operation, [person.dn])]}),
            (TERMINAL_SERVER_GROUP, {"member": [(operation, [person.dn])]}),
            (person.dn, {"shadowExpire": [(ldap3.MODIFY_REPLACE, [expiry])]}),
        ]
        for person in people
    ]


def ldif_for(changes: list[list[Change]]) -> str:
    """The same modifications as LDIF change records, one record per modify operation."""
    names = {ldap3.MODIFY_ADD: "add", ldap3.MODIFY_DELETE: "delete",
             ldap3.MODIFY_REPLACE: "replace"}
    records = []
    for person in changes:
        for dn, modification in person:
            ((attribute, [(operation, values)]),) = modification.items()
            lines = [f"dn: {dn}", "changetype: modify", f"{names[operation]}: {attribute}"]
            lines += [f"{attribute}: {value}" for value in values]
            records.append("\n".join([*lines, "-"]) + "\n")
    return "\n".join(records)


def ldapmodify_phase(
    server: SlapdServer,
    counter: OperationCounter,
    action: str,
    changes: list[list[Change]],
    workdir: Path,
    deadline: Deadline,
) -> Phase:
    """All modifications of one phase in one ``ldapmodify`` run, as the service account.

    The LDIF is written before the clock starts; the time includes starting the
    process, binding and unbinding once (under a millisecond each on loopback).
    """
    phase = Phase("ldapmodify, one process", action, len(changes))
    ldif = workdir / f"{action}.ldif"
    ldif.write_text(ldif_for(changes))
    password_file = workdir / "service.pw"
    password_file.write_text(SERVICE_PASSWORD)  # no newline: -y sends the file as it is
    password_file.chmod(0o600)
    command = ["ldapmodify", "-x", "-H", server.url, "-D", SERVICE_DN,
               "-y", str(password_file), "-f", str(ldif)]
    timeout = max(1.0, min(600.0, deadline.remaining()))
    with counted(counter, phase):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env={**os.environ, "LDAPNOINIT": "1"})
        except subprocess.TimeoutExpired as exc:
            raise Stop(f"ldapmodify {action}: no end after {timeout:.0f} s") from exc
    if done.returncode != 0:
        phase.failures.append(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return phase


def ldap3_phase(
    server: SlapdServer,
    counter: OperationCounter,
    action: str,
    changes: list[list[Change]],
    *,
    reads: bool,
    deadline: Deadline,
) -> Phase:
    """The same modifications over one ldap3 connection, bound once, in a tight loop.

    With ``reads`` also the searches ``issue`` makes before them (each group read whole
    with its ``member`` values, then the person's expiry), over the same connection:
    the ceiling for issue's sequence of operations, without its Python around them.
    """
    name = "ldap3, one connection" + (", issue's reads" if reads else "")
    phase = Phase(name, action, len(changes))
    with counted(counter, phase):
        connection = ldap3.Connection(
            ldap3.Server(server.url, get_info=ldap3.NONE, connect_timeout=5),
            SERVICE_DN, SERVICE_PASSWORD, auto_bind=True, receive_timeout=10,
            raise_exceptions=True,
        )
        try:
            for person in changes:
                deadline.check(name)
                began = time.perf_counter()
                try:
                    for dn, modification in person:
                        if reads:
                            attribute = "member" if dn in GROUPS else "shadowExpire"
                            connection.search(dn, "(objectClass=*)", ldap3.BASE,
                                              attributes=[attribute])
                        connection.modify(dn, modification)
                except ldap3.core.exceptions.LDAPException as exc:
                    phase.failures.append(f"{person[-1][0]}: {type(exc).__name__}: {exc}")
                    if len(phase.failures) >= MAX_FAILURES:
                        raise Stop(f"{name} {action}: {MAX_FAILURES} people failed, the "
                                   f"first: {phase.failures[0]}") from exc
                phase.latencies_ms.append((time.perf_counter() - began) * 1000)
        finally:
            connection.unbind()
    return phase


# --- checking ----------------------------------------------------------------------------


def check_directory(
    counter: OperationCounter, people: list[SeedPerson], *, issued: bool, expiry: str
) -> list[str]:
    """What is wrong with the groups and the expiry of ``people``; empty when all is right.

    After issuing both groups hold exactly the seed's members and ``people``, after
    revoking the seed's members alone; every one of ``people`` has ``expiry``. Read as
    the admin on the counter's connection (between phases, never counted).
    """
    connection = counter.connection
    problems = []
    wanted = {normalize_dn(person.dn) for person in people}
    for group in GROUPS:
        connection.search(group, "(objectClass=*)", ldap3.BASE, attributes=["member"])
        members = {normalize_dn(m) for m in connection.entries[0].member.values}
        expected = {normalize_dn(m) for m in seed_members(group)} | (wanted if issued else set())
        missing, extra = expected - members, members - expected
        if missing or extra:
            problems.append(f"{group}: {len(missing)} members missing (e.g. "
                            f"{sorted(missing)[:2]}), {len(extra)} too many (e.g. "
                            f"{sorted(extra)[:2]})")
    found: dict[str, str | None] = {}
    for entry in connection.extend.standard.paged_search(
        PEOPLE_BASE, "(uid=gen*)", attributes=["uid", "shadowExpire"], paged_size=500,
        generator=True,
    ):
        if entry.get("type") != "searchResEntry":
            continue
        attributes = entry["attributes"]
        uid = attributes["uid"][0] if isinstance(attributes["uid"], list) else attributes["uid"]
        value = attributes.get("shadowExpire")
        if isinstance(value, list):
            value = value[0] if value else None
        found[str(uid)] = None if value is None else str(value)
    wrong = [p.username for p in people if found.get(p.username) != expiry]
    if wrong:
        problems.append(f"shadowExpire is not {expiry} for {len(wrong)} people, e.g. "
                        f"{wrong[0]}: {found.get(wrong[0])}")
    return problems


def verify(
    counter: OperationCounter,
    people: list[SeedPerson],
    phase: Phase,
    *,
    expiry: str,
    credentials: Callable[[], int] | None = None,
    wanted_credentials: int = 0,
) -> None:
    """Stop the run when the phase failed or left the directory (or database) wrong."""
    problems = check_directory(counter, people, issued=phase.action == "issue", expiry=expiry)
    if credentials is not None:
        held = credentials()
        if held != wanted_credentials:
            problems.append(f"{held} active credentials in the database, {wanted_credentials} "
                            "expected")
    if phase.failures:
        problems.insert(0, f"{len(phase.failures)} failed, the first: {phase.failures[0]}")
    if problems:
        raise Stop(f"{phase.name} {phase.action}: " + "; ".join(problems))


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; nonsense values end the run before any set-up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agreements", type=int, default=1000,
                        help="agreements (and generated people) to issue for (default 1000)")
    parser.add_argument("--extra", type=int, default=200,
                        help="agreements of the scenario with certificate and wireguard "
                             "(default 200, 0 leaves it out)")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="time budget for the whole run (default 1800)")
    args = parser.parse_args(argv)
    if args.agreements < 1 or args.extra < 0:
        parser.error("--agreements must be >= 1 and --extra >= 0")
    if args.extra > min(args.agreements, WIREGUARD_CAPACITY):
        parser.error(f"--extra must not exceed --agreements nor {WIREGUARD_CAPACITY} "
                     "(the addresses of the WireGuard pool)")
    if args.max_seconds <= 0:
        parser.error("--max-seconds must be > 0")
    return args


@dataclass
class Run:
    """What the run has measured so far, and what went wrong."""

    phases: dict[str, Phase] = field(default_factory=dict)
    probes: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Phase] = field(default_factory=dict)
    ca_create_ms: float | None = None
    problems: list[str] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    """Start slapd, set up the app, measure, check, report; the exit status."""
    args = parse_args(argv)
    # create_app would otherwise log at INFO on stderr (every directory change included)
    logging.basicConfig(level=logging.WARNING)
    # the plain ldap:// warning is meant for production; here slapd is on loopback
    logging.getLogger("homeoffice.config").setLevel(logging.ERROR)
    run = Run()
    try:
        require_tools()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="homeoffice-bench-") as tmp:
        workdir = Path(tmp)
        instance = workdir / "instance"
        instance.mkdir()
        clean_environment(instance)
        server = SlapdServer(workdir / "slapd")
        app: Flask | None = None
        counter: OperationCounter | None = None
        try:
            print(f"set-up in {workdir} ...", flush=True)
            began = time.monotonic()
            server.start()
            people = generate_people(server, args.agreements)
            print(f"  slapd on {server.url} with {len(people)} generated people "
                  f"({time.monotonic() - began:.1f} s)", flush=True)
            app = make_app(f"sqlite:///{workdir / 'homeoffice.db'}", server)
            began = time.monotonic()
            agreement_ids, it_id = populate(app, people)
            print(f"  {len(agreement_ids)} active agreements on SQLite "
                  f"({time.monotonic() - began:.1f} s)", flush=True)
            counter = OperationCounter(server)
            counter.calibrate()
            deadline = Deadline(args.max_seconds)
            try:
                measure(args, run, app, server, counter, people, agreement_ids, it_id,
                        workdir, deadline)
            except Stop as exc:
                run.problems.append(str(exc))
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
    return report(args, run)


def failed(exc: Exception, server: Any = None) -> int:
    """Say why the benchmark stopped (with the end of slapd's log when the directory
    was involved) and return the exit status."""
    if isinstance(exc, BenchError):
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    tail = "\n".join(server.log_text().splitlines()[-20:]) if server is not None else ""
    if tail:
        print(f"--- end of the slapd log ---\n{tail}", file=sys.stderr)
    return 2


def measure(
    args: argparse.Namespace,
    run: Run,
    app: Flask,
    server: SlapdServer,
    counter: OperationCounter,
    people: list[SeedPerson],
    agreement_ids: list[int],
    it_id: int,
    workdir: Path,
    deadline: Deadline,
) -> None:
    """Every phase in turn, each checked before the next; figures go into ``run``.

    Each issue phase starts from the seed's groups and each revoke phase brings them
    back, so all methods see the same group sizes.
    """
    today = date.today()
    end = today + timedelta(days=90)
    issued_expiry = shadow_expire_value(end)
    revoked_expiry = shadow_expire_value(today - timedelta(days=1))
    expiry = {"issue": issued_expiry, "revoke": revoked_expiry}
    n = len(agreement_ids)

    def credentials() -> int:
        return active_credentials(app, agreement_ids)

    print(f"measuring {n} agreements (issue, then revoke, per method) ...", flush=True)
    for reuse, name in ((False, "app, directory per request"),
                        (True, "app, one directory reused")):
        for action in ("issue", "revoke"):
            phase = app_phase(app, counter, name, action, agreement_ids, it_id, app.config,
                              today=today, reuse=reuse, deadline=deadline)
            run.phases[f"{'reused' if reuse else 'app'}_{action}"] = phase
            print(phase.describe(), flush=True)
            verify(counter, people, phase, expiry=expiry[action], credentials=credentials,
                   wanted_credentials=2 * n if action == "issue" else 0)
            if not reuse:
                size = "full" if action == "issue" else "seed"
                run.probes[f"members_of_{size}_ms"] = probe_members_of(app.config)

    for action in ("issue", "revoke"):
        changes = changes_for(people, action, expiry[action])
        phase = ldapmodify_phase(server, counter, action, changes, workdir, deadline)
        run.phases[f"ldapmodify_{action}"] = phase
        print(phase.describe(), flush=True)
        verify(counter, people, phase, expiry=expiry[action])
    for reads in (False, True):
        for action in ("issue", "revoke"):
            changes = changes_for(people, action, expiry[action])
            phase = ldap3_phase(server, counter, action, changes, reads=reads and
                                action == "issue", deadline=deadline)
            key = f"ldap3{'_reads' if reads else ''}_{action}"
            run.phases[key] = phase
            if not (reads and action == "revoke"):  # the same as without reads: not shown
                print(phase.describe(), flush=True)
            verify(counter, people, phase, expiry=expiry[action])
    print(f"  members_of(VPN group) on one connection: {run.probes['members_of_full_ms']:.2f} ms "
          f"with {n} members more than the seed, {run.probes['members_of_seed_ms']:.2f} ms "
          f"with the seed's", flush=True)

    if args.extra:
        measure_extra(args, run, app, counter, people[: args.extra],
                      agreement_ids[: args.extra], it_id, today, expiry, deadline)


def measure_extra(
    args: argparse.Namespace,
    run: Run,
    app: Flask,
    counter: OperationCounter,
    people: list[SeedPerson],
    agreement_ids: list[int],
    it_id: int,
    today: date,
    expiry: dict[str, str],
    deadline: Deadline,
) -> None:
    """The first agreements again, groups only and then with certificate and wireguard.

    Both passes per request, on the same agreements and group sizes, back to back, so
    the difference is what the CA (signing, the PKCS#12 file, a CRL per revocation)
    and the address pool add. The CA is made before, and timed on its own.
    """
    from homeoffice.access.authority import certificate_authority
    from homeoffice.db import session_scope

    with_kinds = {**app.config, "ACCESS_KINDS": EXTRA_KINDS}
    began = time.perf_counter()
    with app.app_context(), session_scope() as session:
        certificate_authority(session, with_kinds)
    run.ca_create_ms = (time.perf_counter() - began) * 1000
    n = len(agreement_ids)

    def credentials() -> int:
        return active_credentials(app, agreement_ids)

    print(f"second scenario: {n} agreements per request, groups only, then "
          f"{' + '.join(EXTRA_KINDS)} (CA made beforehand in {run.ca_create_ms:.0f} ms) ...",
          flush=True)
    for label, config, per_agreement in (("groups", app.config, 2),
                                         ("with_ca_pool", with_kinds, 4)):
        for action in ("issue", "revoke"):
            phase = app_phase(app, counter, f"app, {label}", action, agreement_ids, it_id,
                              config, today=today, reuse=False, deadline=deadline)
            run.extra[f"{label}_{action}"] = phase
            print(phase.describe(), flush=True)
            verify(counter, people, phase, expiry=expiry[action], credentials=credentials,
                   wanted_credentials=per_agreement * n if action == "issue" else 0)


def ratio(numerator: Phase | None, denominator: Phase | None) -> float | None:
    """``numerator`` seconds over ``denominator`` seconds, None if either is missing."""
    if numerator is None or denominator is None or denominator.elapsed_s <= 0:
        return None
    return round(numerator.elapsed_s / denominator.elapsed_s, 2)


def report(args: argparse.Namespace, run: Run) -> int:
    """The ratios and the JSON line; the exit status (1 when anything went wrong)."""
    phases = run.phases
    # ratio_issue_vs_ldapmodify etc. for the app per request, reused_ratio_… for one
    # directory reused; each the app's seconds over the reference's for the same changes
    ratios: dict[str, float | None] = {}
    for app_key, prefix in (("app", ""), ("reused", "reused_")):
        for action in ("issue", "revoke"):
            for reference in ("ldapmodify", "ldap3"):
                ratios[f"{prefix}ratio_{action}_vs_{reference}"] = ratio(
                    phases.get(f"{app_key}_{action}"), phases.get(f"{reference}_{action}")
                )
    ratios["ratio_issue_vs_ldap3_with_reads"] = ratio(phases.get("app_issue"),
                                                      phases.get("ldap3_reads_issue"))
    shown = [f"{key.replace('ratio_', '')} {value}" for key, value in ratios.items()
             if value is not None]
    if shown:
        print("ratios (app seconds / reference seconds): " + ", ".join(shown))

    summary: dict[str, Any] = {"agreements": args.agreements}
    for key, prefix in (("app", ""), ("reused", "reused_"), ("ldapmodify", "ldapmodify_"),
                        ("ldap3", "ldap3_"), ("ldap3_reads", "ldap3_reads_")):
        for action in ("issue", "revoke"):
            if key == "ldap3_reads" and action == "revoke":
                continue  # the plain ldap3 revoke again, only to reset the groups
            phase = phases.get(f"{key}_{action}")
            for name, value in (phase.summary() if phase else {"s": None}).items():
                summary[f"{prefix}{action}_{name}"] = value
    summary.update(ratios)
    summary.update({key: round(value, 3) for key, value in run.probes.items()})
    if run.extra:
        extra: dict[str, Any] = {"agreements": args.extra, "kinds": EXTRA_KINDS,
                                 "ca_create_ms": round(run.ca_create_ms or 0.0, 1)}
        for key, phase in run.extra.items():
            extra.update({f"{key}_{name}": value for name, value in phase.summary().items()})
        summary["extra"] = extra
        for action in ("issue", "revoke"):
            groups = run.extra.get(f"groups_{action}")
            full = run.extra.get(f"with_ca_pool_{action}")
            if groups and full:
                added = full.mean_ms - groups.mean_ms
                extra[f"{action}_added_ms"] = round(added, 3)
                print(f"certificate + wireguard add {added:.2f} ms per {action} "
                      f"({groups.mean_ms:.2f} -> {full.mean_ms:.2f} ms)")
    summary["failures"] = sum(len(p.failures) for p in [*phases.values(), *run.extra.values()])
    summary["directory_ok"] = not run.problems
    return finish(
        summary,
        run.problems,
        "directory checked after every phase: groups and expiry as they should be",
    )


if __name__ == "__main__":
    run_main(main)
