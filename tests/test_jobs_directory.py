"""The revoke_access job against a real slapd: an agreement ending today loses its
directory access in the first run after midnight, and a run killed with SIGKILL in the
middle of a revocation is completed by the next run without doing anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import ldap3
import pytest
from cryptography import x509
from sqlalchemy import update
from sqlmodel import func, select

from homeoffice.access import services
from homeoffice.access.models import (
    CERTIFICATE,
    CertificateAuthorityRecord,
    Credential,
    RemoteApplication,
)
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope, utcnow
from homeoffice.jobs.models import JobLease, JobRun
from homeoffice.jobs.runner import LEASE, local_today, run_job
from homeoffice.people.models import Person
from homeoffice.tasks.models import ItTask
from tests.conftest import make_app
from tests.servers.slapd import (
    PEOPLE,
    PEOPLE_BASE,
    ROLE_GROUPS,
    TERMINAL_SERVER_GROUP,
    VPN_GROUP,
    generate_people,
    ldap_config,
    ldif_entry,
    seed_members,
    ssha,
)
from tests.test_remote_access import agreement_for
from vpn.directory import normalize_dn
from vpn.ldap import LdapDirectory, shadow_expire_value

pytestmark = pytest.mark.ldap

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
GROUPS = (VPN_GROUP, TERMINAL_SERVER_GROUP)
#: the IT clerk of the slapd seed (member of homeoffice-it) who issues the access
IT_CLERK = "lfischer"
#: every kind the default ACCESS_KINDS issues for an agreement with VPN and terminal server
ALL_KINDS = {
    "vpn_group",
    "terminal_server_group",
    "terminal_server_secret",
    "certificate",
    "wireguard",
}
#: agreements of the SIGKILL test: enough that "the middle" of the batch lasts a while
BATCH = 40
#: what the SIGKILL test issues: the terminal-server secret is left out, as it never
#: reaches the directory and hashing it (argon2) would double the set-up time
BATCH_KINDS = ["groups", "certificate", "wireguard"]


def directory_settings(slapd) -> dict:
    """What points the app at slapd, as the ``it_app`` fixture of test_remote_access."""
    return {
        "DIRECTORY": "ldap",
        "ROLE_GROUPS": ROLE_GROUPS,
        "VPN_GROUP_DN": VPN_GROUP,
        "TERMINAL_SERVER_GROUP_DN": TERMINAL_SERVER_GROUP,
        # The seed's own members stand for accounts managed by hand elsewhere.
        "ACCESS_GROUP_KEEP": sorted(seed_members(VPN_GROUP) | seed_members(TERMINAL_SERVER_GROUP)),
        # The SIGKILL test freezes slapd for a moment: the job must wait, not time out.
        **ldap_config(slapd, LDAP_TIMEOUT=30),
    }


@pytest.fixture
def ldap_app(database_url, tmp_path, slapd, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(database_url, tmp_path, **directory_settings(slapd))
    with app.app_context(), session_scope() as session:
        session.add(RemoteApplication(name="DMS", networks="10.10.2.0/24", remote_access=True))
    yield app
    app.extensions["homeoffice.engine"].dispose()


def sync(app) -> None:
    result = app.test_cli_runner().invoke(args=["sync-directory"])
    assert result.exit_code == 0, result.output


def issue_access(app, agreement_ids: list[int], kinds: set[str] = ALL_KINDS) -> None:
    """Issue what each agreement calls for, as IT does, over one directory connection."""
    with (
        app.app_context(),
        session_scope() as session,
        LdapDirectory.from_config(app.config) as directory,
    ):
        clerk = session.exec(select(Person).where(Person.username == IT_CLERK)).one()
        for agreement_id in agreement_ids:
            agreement = session.get(Agreement, agreement_id)
            issued = services.issue(
                session=session,
                directory=directory,
                agreement=agreement,
                owner=session.get(Person, agreement.person_id),
                by=clerk,
                config=app.config,
            )
            assert set(issued.kinds) == kinds


def members(connection: ldap3.Connection, group: str) -> set[str]:
    """The group's members as slapd holds them, read directly (normalised DNs)."""
    connection.search(group, "(objectClass=*)", ldap3.BASE, attributes=["member"])
    return {normalize_dn(dn) for dn in connection.response[0]["attributes"].get("member", [])}


def shadow_expire(connection: ldap3.Connection, dn: str) -> str | None:
    connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["shadowExpire"])
    value = connection.response[0]["attributes"].get("shadowExpire")
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def at(day: date, hour: int, minute: int) -> datetime:
    """A local (Berlin) time on ``day``."""
    return datetime.combine(day, clock_time(hour, minute), tzinfo=BERLIN)


def slot(moment: datetime) -> str:
    """An occurrence key for a run at ``moment``, in the scheduler's UTC spelling."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def done(run) -> tuple[int, int, int]:
    """Agreements expired, revocations done and revocations failed by a recorded run."""
    return run.counts["expired"], run.counts["revoked"], run.counts["failed"]


class SettableClock:
    """The runner's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


# --- an agreement ending today ------------------------------------------------------------


def add_emre_kaya(slapd) -> str:
    """Emre Kaya of the Bürgerbüro, whom the slapd seed does not have; returns his DN."""
    dn = f"uid=e.kaya,{PEOPLE_BASE}"
    slapd.add_ldif(
        ldif_entry(
            dn,
            {
                "objectClass": ["inetOrgPerson", "shadowAccount"],
                "uid": "e.kaya",
                "cn": "Emre Kaya",
                "givenName": "Emre",
                "sn": "Kaya",
                "mail": "e.kaya@musterstadt.de",
                "departmentNumber": "Bürgerbüro",
                "employeeNumber": "10004",
                "manager": PEOPLE["mschmidt"].dn,
                "userPassword": ssha("Kennwort-e.kaya-1"),
            },
        )
    )
    return dn


def test_an_agreement_ending_today_loses_its_access_in_the_first_run_after_midnight(
    ldap_app, slapd
):
    """The schedule's first revoke_access slot of a day is 00:05: access never outlives
    the agreement by more than one job interval."""
    dn = add_emre_kaya(slapd)
    sync(ldap_app)
    end = date.today() + timedelta(days=30)
    agreement_id = agreement_for(ldap_app, "e.kaya", end=end)
    issue_access(ldap_app, [agreement_id])
    key = normalize_dn(dn)
    with slapd.admin_connection() as connection:
        assert all(key in members(connection, group) for group in GROUPS)
        assert shadow_expire(connection, dn) == shadow_expire_value(end)

    clock = SettableClock(at(end, 23, 50))
    last_evening = run_job(ldap_app, "revoke_access", occurrence=slot(clock.now()), clock=clock)

    assert last_evening.outcome == "ok" and done(last_evening) == (0, 0, 0)
    with slapd.admin_connection() as connection:
        assert all(key in members(connection, group) for group in GROUPS)
    with ldap_app.app_context(), session_scope() as session:
        assert session.get(Agreement, agreement_id).state == "active"

    clock.current = at(end + timedelta(days=1), 0, 5)
    after_midnight = run_job(ldap_app, "revoke_access", occurrence=slot(clock.now()), clock=clock)

    assert after_midnight.outcome == "ok" and done(after_midnight) == (1, 1, 0)
    with slapd.admin_connection() as connection:
        assert not any(key in members(connection, group) for group in GROUPS)
        # the account's remote access ends with the agreement's last day
        assert shadow_expire(connection, dn) == shadow_expire_value(end)
        # the seed's own members are left alone
        assert members(connection, VPN_GROUP) == {normalize_dn(m) for m in seed_members(VPN_GROUP)}
    with ldap_app.app_context(), session_scope() as session:
        agreement = session.get(Agreement, agreement_id)
        assert (agreement.state, agreement.end_reason) == ("expired", "end date passed")
        tasks = session.exec(
            select(ItTask).where(
                ItTask.agreement_id == agreement_id, ItTask.kind == "revoke_access"
            )
        ).all()
        assert [(task.state, task.last_error) for task in tasks] == [("done", None)]
        held = session.exec(select(Credential).where(Credential.agreement_id == agreement_id))
        assert {(c.kind, c.state) for c in held} == {(kind, "revoked") for kind in ALL_KINDS}
        certificate = session.exec(select(Credential).where(Credential.kind == CERTIFICATE)).one()
        authority = session.exec(select(CertificateAuthorityRecord)).one()
    crl = x509.load_der_x509_crl(authority.crl_der)
    assert [r.serial_number for r in crl] == [int(certificate.certificate_serial, 16)]


# --- a person who left the directory --------------------------------------------------------


def test_the_nightly_sync_revokes_the_agreement_of_someone_removed_from_the_directory(
    ldap_app, slapd
):
    """Deleted from slapd → the 02:00 sync deactivates them and revokes the agreement; the
    next revocation run takes the group memberships, though the account itself is gone."""
    dn = add_emre_kaya(slapd)
    sync(ldap_app)
    agreement_id = agreement_for(ldap_app, "e.kaya", end=date.today() + timedelta(days=90))
    issue_access(ldap_app, [agreement_id])
    key = normalize_dn(dn)
    with slapd.admin_connection() as connection:
        assert connection.delete(dn), connection.result
        # no referential-integrity overlay: the groups still name the deleted account
        assert all(key in members(connection, group) for group in GROUPS)

    night = SettableClock(at(date.today() + timedelta(days=1), 2, 0))
    synced = run_job(ldap_app, "sync_directory", occurrence="night", clock=night)

    assert synced.outcome == "ok", synced.error
    assert (synced.counts["deactivated"], synced.counts["agreements_ended"]) == (1, 1)
    with ldap_app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == "e.kaya")).one()
        agreement = session.get(Agreement, agreement_id)
        assert person.active is False
        assert agreement.state == "revoked" and "left" in agreement.end_reason

    night.current += timedelta(minutes=5)
    revoked = run_job(ldap_app, "revoke_access", occurrence=slot(night.now()), clock=night)

    assert revoked.outcome == "ok", revoked.error
    assert (revoked.counts["revoked"], revoked.counts["failed"]) == (1, 0)
    with slapd.admin_connection() as connection:
        assert not any(key in members(connection, group) for group in GROUPS)
    with ldap_app.app_context(), session_scope() as session:
        held = session.exec(select(Credential).where(Credential.agreement_id == agreement_id))
        assert {c.state for c in held} == {"revoked"}


# --- SIGKILL in the middle of a revocation -------------------------------------------------


def subprocess_env(app, slapd, tmp_path) -> dict[str, str]:
    """The test app's settings as HOMEOFFICE_* variables (JSON), for ``flask run-job``."""
    keys = ["TESTING", "SECRET_KEY", "DATABASE_URL", "ACCESS_KINDS", *directory_settings(slapd)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEOFFICE_", "FLASK_"))}
    env.update({f"HOMEOFFICE_{key}": json.dumps(app.config[key]) for key in keys})
    env.update(HOMEOFFICE_INSTANCE_PATH=str(tmp_path), PYTHONPATH=str(ROOT))
    return env


def people_touched(connection, people) -> list[str]:
    """Usernames whose revocation has begun in slapd: out of at least one group (revoke
    removes the groups first, then sets the expiry)."""
    vpn, terminal_server = (members(connection, group) for group in GROUPS)
    return [
        p.username
        for p in people
        if normalize_dn(p.dn) not in vpn or normalize_dn(p.dn) not in terminal_server
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_run_killed_mid_revocation_is_completed_by_the_next_without_doing_anything_twice(
    ldap_app, slapd, tmp_path
):
    ldap_app.config["ACCESS_KINDS"] = BATCH_KINDS
    kinds = {"vpn_group", "terminal_server_group", "certificate", "wireguard"}
    people = generate_people(slapd, BATCH)
    sync(ldap_app)
    agreement_ids = [
        agreement_for(ldap_app, p.username, end=date.today() + timedelta(days=30)) for p in people
    ]
    issue_access(ldap_app, agreement_ids, kinds)
    # HR shortened them all: they ended yesterday, and the job has not run since.
    yesterday = local_today(ldap_app, utcnow()) - timedelta(days=1)
    with ldap_app.app_context(), session_scope() as session:
        session.execute(update(Agreement).values(end_date=yesterday))
        session.execute(update(HomeOfficeRequest).values(end_date=yesterday))
        serials = set(
            session.exec(
                select(Credential.certificate_serial).where(Credential.kind == CERTIFICATE)
            )
        )
        crl_number = session.exec(select(CertificateAuthorityRecord.crl_number)).one()
    assert len(serials) == BATCH

    occurrence = slot(utcnow())
    # Output to a file, not a pipe nobody reads while the job runs: a full pipe would
    # stall the job.
    output = (tmp_path / "run-job.log").open("w")
    job = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "homeoffice", "run-job", "revoke_access",
         "--occurrence", occurrence],
        cwd=ROOT,
        env=subprocess_env(ldap_app, slapd, tmp_path),
        stdout=output,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Watch slapd until the first membership is gone, then freeze slapd (SIGSTOP): the
        # job waits for its next answer, so it is certainly in the middle of the batch
        # when it is killed. No hook in the job itself is needed for that.
        touched: list[str] = []
        deadline = time.monotonic() + 120
        with slapd.admin_connection() as connection:
            while not touched and job.poll() is None and time.monotonic() < deadline:
                touched = people_touched(connection, people)
                if not touched:
                    time.sleep(0.002)
        if job.poll() is None:
            if touched:
                slapd.pause()
            os.kill(job.pid, signal.SIGKILL)
            job.wait(timeout=30)
    finally:
        slapd.resume()
        if job.poll() is None:
            job.kill()
            job.wait(timeout=30)
    output.close()
    log = (tmp_path / "run-job.log").read_text()
    assert job.returncode == -signal.SIGKILL, log
    assert touched, f"the job never began to revoke:\n{log}"

    # The directory is ahead of the database: slapd lost some memberships, while the
    # job's single transaction (one savepoint per agreement inside it) never committed.
    with slapd.admin_connection() as connection:
        begun = people_touched(connection, people)
    assert 0 < len(begun) < BATCH
    with ldap_app.app_context(), session_scope() as session:
        assert set(session.exec(select(Agreement.state))) == {"active"}
        assert set(session.exec(select(Credential.state))) == {"active"}
        assert session.exec(select(JobRun).where(JobRun.job == "revoke_access")).all() == []
        assert session.exec(select(ItTask).where(ItTask.kind == "revoke_access")).all() == []
        assert (
            session.exec(select(func.count()).where(AuditEvent.action == "access.revoked")).one()
            == 0
        )
        lease = session.get(JobLease, "revoke_access")
        assert lease is not None and f":{job.pid}:" in lease.holder

    # The dead process still holds the lease. It ran on this host and its process is gone,
    # so the next run need not wait the lease out: it takes the claim over at once and
    # finishes the work (access must not outlive the agreement by the lease's 30 minutes).
    clock = SettableClock(utcnow() + timedelta(minutes=1))
    assert clock.now() + LEASE > lease.expires_at  # still valid by its time
    today = local_today(ldap_app, clock.now())
    run = run_job(ldap_app, "revoke_access", occurrence=occurrence, clock=clock)

    assert run is not None and run.outcome == "ok", run and run.error
    assert done(run) == (BATCH, BATCH, 0)
    with slapd.admin_connection() as connection:
        for group in GROUPS:
            assert members(connection, group) == {normalize_dn(m) for m in seed_members(group)}
        expiries = {shadow_expire(connection, p.dn) for p in people}
    assert expiries == {shadow_expire_value(today - timedelta(days=1))}
    with ldap_app.app_context(), session_scope() as session:
        assert set(session.exec(select(Agreement.state))) == {"expired"}
        assert set(session.exec(select(Credential.state))) == {"revoked"}
        tasks = session.exec(select(ItTask).where(ItTask.kind == "revoke_access")).all()
        assert Counter(task.agreement_id for task in tasks) == Counter(agreement_ids)
        assert {(task.state, task.last_error) for task in tasks} == {("done", None)}
        revoked = session.exec(select(AuditEvent).where(AuditEvent.action == "access.revoked"))
        events = Counter()
        for event in revoked:
            events[int(event.object_id)] += 1
            assert set(event.after["kinds"]) == kinds
        assert events == Counter(agreement_ids)
        expired = session.exec(
            select(func.count()).where(AuditEvent.action == "agreement.expired")
        ).one()
        assert expired == BATCH
        authority = session.exec(select(CertificateAuthorityRecord)).one()
        runs = session.exec(select(JobRun).where(JobRun.job == "revoke_access")).all()
        assert [(r.occurrence, r.outcome) for r in runs] == [(occurrence, "ok")]
        assert session.exec(select(func.count()).select_from(JobLease)).one() == 0
    # One CRL for the batch (the killed run's never committed), every serial on it once.
    assert authority.crl_number == crl_number + 1
    listed = Counter(
        format(r.serial_number, "x") for r in x509.load_der_x509_crl(authority.crl_der)
    )
    assert set(listed) == serials and set(listed.values()) == {1}

    # The next occurrence finds nothing left to do.
    clock.current += timedelta(minutes=15)
    again = run_job(ldap_app, "revoke_access", occurrence=slot(clock.now()), clock=clock)
    assert again.outcome == "ok" and done(again) == (0, 0, 0)
    with ldap_app.app_context(), session_scope() as session:
        revocations = select(func.count()).where(AuditEvent.action == "access.revoked")
        assert session.exec(revocations).one() == BATCH


# --- two revocation tasks for one agreement ------------------------------------------------


def test_two_open_revocation_tasks_of_one_agreement_revoke_it_once(ldap_app, slapd):
    """Two tasks arise when two runs expire the same agreement at once: the apply_dates
    job and revoke_access (which expires first) have leases of their own, and on
    PostgreSQL the later UPDATE waits for the first and then ends the agreement again.
    The first task's revocation closes both; the second must not revoke a second time."""
    sync(ldap_app)
    agreement_id = agreement_for(ldap_app, "aweiss", end=date.today() + timedelta(days=30))
    issue_access(ldap_app, [agreement_id])
    with ldap_app.app_context(), session_scope() as session:
        agreement = session.get(Agreement, agreement_id)
        agreement.state, agreement.end_reason = "expired", "end date passed"
        for _ in range(2):
            session.add(
                ItTask(agreement_id=agreement_id, person_id=agreement.person_id,
                       kind="revoke_access")
            )  # fmt: skip

    clock = SettableClock(utcnow())
    run = run_job(ldap_app, "revoke_access", occurrence=slot(clock.now()), clock=clock)

    assert run.outcome == "ok" and done(run) == (0, 1, 0)
    key = normalize_dn(PEOPLE["aweiss"].dn)
    with slapd.admin_connection() as connection:
        assert not any(key in members(connection, group) for group in GROUPS)
    with ldap_app.app_context(), session_scope() as session:
        tasks = session.exec(select(ItTask).where(ItTask.kind == "revoke_access")).all()
        assert [task.state for task in tasks] == ["done", "done"]
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "access.revoked"))
        assert [set(event.after["kinds"]) for event in events] == [ALL_KINDS]
