"""Issuing, revoking and reconciling remote access against a real slapd."""

from datetime import date, timedelta

import pytest
from cryptography import x509
from sqlmodel import select

from homeoffice.access import services
from homeoffice.access.models import Credential, RemoteApplication
from homeoffice.agreements import services as agreements
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.jobs.runner import run_job
from homeoffice.people.models import Person
from homeoffice.tasks.models import ItTask
from policies import load_rule_book
from tests.conftest import csrf_token, make_app
from tests.servers.slapd import (
    PEOPLE,
    ROLE_GROUPS,
    TERMINAL_SERVER_GROUP,
    VPN_GROUP,
    ldap_config,
    seed_members,
)
from vpn import credentials as vpn_credentials
from vpn.directory import normalize_dn
from vpn.ldap import LdapDirectory

pytestmark = pytest.mark.ldap

END = date.today() + timedelta(days=90)


@pytest.fixture
def it_app(database_url, tmp_path, slapd, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(
        database_url,
        tmp_path,
        DIRECTORY="ldap",
        ROLE_GROUPS=ROLE_GROUPS,
        VPN_GROUP_DN=VPN_GROUP,
        TERMINAL_SERVER_GROUP_DN=TERMINAL_SERVER_GROUP,
        # The seed's own members stand for accounts managed by hand elsewhere.
        ACCESS_GROUP_KEEP=sorted(seed_members(VPN_GROUP) | seed_members(TERMINAL_SERVER_GROUP)),
        **ldap_config(slapd),
    )
    assert app.test_cli_runner().invoke(args=["sync-directory"]).exit_code == 0
    with app.app_context(), session_scope() as session:
        session.add(RemoteApplication(name="DMS", networks="10.10.2.0/24", remote_access=True))
        session.add(
            RemoteApplication(
                name="Einwohnermeldewesen", networks="10.20.0.0/24", remote_access=False
            )
        )
    yield app
    app.extensions["homeoffice.engine"].dispose()


def remote_request(person_id: int, **fields) -> HomeOfficeRequest:
    """A request for two days a week with VPN and terminal server, as HR sees it."""
    values = {
        "state": "approved",
        "reasons": "commute",
        "commute_km": 40,
        "pattern": "weekdays",
        "weekdays": "2,4",
        "start_date": date.today(),
        "end_date": END,
        "wants_vpn": True,
        "wants_terminal_server": True,
        "eligible": True,
        "rule_set": "ordinary@1",
    }
    return HomeOfficeRequest(person_id=person_id, **{**values, **fields})


def agreement_for(app, username, *, vpn=True, terminal_server=True, byod=False, end=END):
    """An active agreement as HR's approval leaves it (made directly, to keep tests short)."""
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == username)).one()
        req = remote_request(
            person.id,
            end_date=end,
            wants_vpn=vpn,
            wants_terminal_server=terminal_server,
            uses_private_computer=byod,
        )
        session.add(req)
        session.flush()
        agreement = Agreement(
            person_id=person.id,
            request_id=req.id,
            state="active",
            start_date=date.today(),
            end_date=end,
            pattern="weekdays",
            weekdays="2,4",
            days_per_week=2,
            rule_set="ordinary@1",
        )
        session.add(agreement)
        session.flush()
        for kind in ("grant_vpn", "grant_terminal_server"):
            session.add(ItTask(agreement_id=agreement.id, person_id=person.id, kind=kind))
        return agreement.id


def it_client(app):
    client = app.test_client()
    token = csrf_token(client)
    client.post(
        "/login",
        data={"username": "lfischer", "password": PEOPLE["lfischer"].password, "csrf_token": token},
    )
    return client


def issue_on_the_page(app, agreement_id: int):
    """IT issues the agreement's access on its page; returns (client, page)."""
    client = it_client(app)
    page = f"/it/agreements/{agreement_id}"
    client.post(f"{page}/issue", data={"csrf_token": csrf_token(client, page)})
    return client, page


def directory(slapd):
    return LdapDirectory.from_config(ldap_config(slapd))


def members(slapd, group):
    with directory(slapd) as d:
        return {normalize_dn(m) for m in d.members_of(group)}


def test_issue_puts_groups_expiry_and_credentials_in_place(it_app, slapd):
    agreement_id = agreement_for(it_app, "aweiss")
    client = it_client(it_app)
    page = f"/it/agreements/{agreement_id}"
    before = client.get(page).get_data(as_text=True)
    assert "Noch nicht vergeben:" in before and f'action="{page}/issue"' in before
    response = client.post(f"{page}/issue", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "nur einmal angezeigt" in html
    dn = normalize_dn(PEOPLE["aweiss"].dn)
    assert dn in members(slapd, VPN_GROUP) and dn in members(slapd, TERMINAL_SERVER_GROUP)
    with directory(slapd) as d:
        assert d.get_account_expiry(PEOPLE["aweiss"].dn) == END
    with it_app.app_context(), session_scope() as session:
        held = {c.kind: c for c in session.exec(select(Credential)).all()}
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "access.issued")).all()
        tasks = session.exec(select(ItTask)).all()
    assert set(held) == {
        "vpn_group",
        "terminal_server_group",
        "terminal_server_secret",
        "certificate",
        "wireguard",
    }
    secret = html.split('<code class="fs-4">')[1].split("</code>")[0]
    assert vpn_credentials.verify_secret(held["terminal_server_secret"].secret_hash, secret)
    assert secret not in held["terminal_server_secret"].secret_hash
    assert held["wireguard"].wireguard_address.startswith("10.66.0.")
    assert "AllowedIPs = 10.10.2.0/24" in html and "10.20.0.0" not in html  # office-only
    assert all(t.state == "done" for t in tasks)
    assert len(events) == 1 and secret not in str(events[0].after)
    assert client.get("/ca.pem").get_data().startswith(b"-----BEGIN CERTIFICATE-----")
    assert held["certificate"].certificate_fingerprint and held["certificate"].certificate_serial
    # The page no longer offers to issue; issuing anyway changes nothing.
    after = client.get(page).get_data(as_text=True)
    assert "Alles, was der Antrag vorsah, ist vergeben." in after
    assert f'action="{page}/issue"' not in after
    again = client.post(f"{page}/issue", data={"csrf_token": csrf_token(client, page)})
    assert again.status_code == 302
    with it_app.app_context(), session_scope() as session:
        assert len(session.exec(select(Credential)).all()) == 5


def test_private_computer_gets_terminal_server_only(it_app, slapd):
    agreement_id = agreement_for(it_app, "tbauer", byod=True)
    client, page = issue_on_the_page(it_app, agreement_id)
    dn = normalize_dn(PEOPLE["tbauer"].dn)
    assert dn not in members(slapd, VPN_GROUP)
    assert dn in members(slapd, TERMINAL_SERVER_GROUP)
    with it_app.app_context(), session_scope() as session:
        kinds = {c.kind for c in session.exec(select(Credential)).all()}
    assert kinds == {"terminal_server_group", "terminal_server_secret"}


def test_revoke_removes_groups_sets_expiry_and_lists_the_certificate(it_app, slapd):
    agreement_id = agreement_for(it_app, "aweiss")
    client, page = issue_on_the_page(it_app, agreement_id)
    response = client.post(
        f"{page}/revoke",
        data={"reason": "Vereinbarung beendet", "csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302
    dn = normalize_dn(PEOPLE["aweiss"].dn)
    assert dn not in members(slapd, VPN_GROUP) and dn not in members(slapd, TERMINAL_SERVER_GROUP)
    with directory(slapd) as d:
        assert d.get_account_expiry(PEOPLE["aweiss"].dn) == date.today() - timedelta(days=1)
    with it_app.app_context(), session_scope() as session:
        certificate = session.exec(select(Credential).where(Credential.kind == "certificate")).one()
        assert all(c.state == "revoked" for c in session.exec(select(Credential)).all())
    crl = x509.load_der_x509_crl(client.get("/crl.der").get_data())
    ca = x509.load_pem_x509_certificate(client.get("/ca.pem").get_data())
    assert crl.is_signature_valid(ca.public_key())
    assert crl.get_revoked_certificate_by_serial_number(int(certificate.certificate_serial, 16))


def test_directory_stopped_half_way_issues_nothing_and_keeps_a_retry(it_app, slapd):
    agreement_id = agreement_for(it_app, "aweiss")

    class StopsAfterFirstGroup(LdapDirectory):
        def add_to_group(self, group_dn, person_dn):
            super().add_to_group(group_dn, person_dn)
            slapd.stop()

    with it_app.app_context():
        with session_scope() as session:
            agreement = session.get(Agreement, agreement_id)
            owner = session.get(Person, agreement.person_id)
            it_person = session.exec(select(Person).where(Person.username == "lfischer")).one()
            with pytest.raises(services.AccessError):
                services.issue(
                    session=session,
                    directory=StopsAfterFirstGroup.from_config(ldap_config(slapd)),
                    agreement=agreement,
                    owner=owner,
                    by=it_person,
                    config=it_app.config,
                )
            session.rollback()
            services.note_failure(session, agreement, ["grant_vpn"], "directory down")
    with it_app.app_context(), session_scope() as session:
        assert session.exec(select(Credential)).all() == []
        task = session.exec(select(ItTask).where(ItTask.kind == "grant_vpn")).one()
        assert task.state == "open" and task.last_error == "directory down"
    slapd.start()
    # The undo could not reach the stopped directory: the reconciliation finds the rest.
    client = it_client(it_app)
    report = client.get("/it/reconcile").get_data(as_text=True)
    assert "Anna Weiß" in report
    client.post("/it/reconcile", data={"csrf_token": csrf_token(client, "/it/reconcile")})
    assert normalize_dn(PEOPLE["aweiss"].dn) not in members(slapd, VPN_GROUP)
    page = f"/it/agreements/{agreement_id}"
    assert (
        client.post(f"{page}/issue", data={"csrf_token": csrf_token(client, page)}).status_code
        == 200
    )
    assert normalize_dn(PEOPLE["aweiss"].dn) in members(slapd, VPN_GROUP)


def test_reconciliation_finds_and_repairs_a_member_added_by_hand(it_app, slapd):
    with directory(slapd) as d:
        d.add_to_group(VPN_GROUP, PEOPLE["fcelik"].dn)
    ended = agreement_for(it_app, "aweiss")
    client, page = issue_on_the_page(it_app, ended)
    with it_app.app_context(), session_scope() as session:
        session.get(Agreement, ended).state = "revoked"  # HR revoked; IT has not acted yet
    html = client.get("/it/reconcile").get_data(as_text=True)
    assert "Fatma Çelik" in html and "Anna Weiß" in html
    client.post("/it/reconcile", data={"csrf_token": csrf_token(client, "/it/reconcile")})
    vpn = members(slapd, VPN_GROUP)
    assert normalize_dn(PEOPLE["fcelik"].dn) not in vpn
    assert normalize_dn(PEOPLE["aweiss"].dn) not in vpn
    assert seed_members(VPN_GROUP) and all(normalize_dn(m) in vpn for m in seed_members(VPN_GROUP))
    with it_app.app_context(), session_scope() as session:
        assert (
            len(
                session.exec(
                    select(AuditEvent).where(AuditEvent.action == "access.reconciled")
                ).all()
            )
            >= 2
        )
        assert all(c.state == "revoked" for c in session.exec(select(Credential)).all())
    assert "stimmt mit dem überein" in client.get("/it/reconcile").get_data(as_text=True)


def test_issue_needs_it_and_a_fresh_login(it_app, slapd):
    agreement_id = agreement_for(it_app, "aweiss")
    client = it_app.test_client()
    token = csrf_token(client)
    client.post(
        "/login",
        data={"username": "pkoenig", "password": PEOPLE["pkoenig"].password, "csrf_token": token},
    )
    page = f"/it/agreements/{agreement_id}"
    assert client.get(page).status_code == 403
    assert client.post(f"{page}/issue", data={"csrf_token": token}).status_code in (400, 403)
    assert normalize_dn(PEOPLE["aweiss"].dn) not in members(slapd, VPN_GROUP)


def test_revocation_task_runs_from_the_command_and_retries_after_a_failure(it_app, slapd):
    agreement_id = agreement_for(it_app, "aweiss")
    client, page = issue_on_the_page(it_app, agreement_id)
    with it_app.app_context(), session_scope() as session:
        agreement = session.get(Agreement, agreement_id)
        agreement.state, agreement.end_reason = "revoked", "Stelle gewechselt"
        session.add(ItTask(agreement_id=agreement_id, person_id=agreement.person_id,
                           kind="revoke_access"))
    runner = it_app.test_cli_runner()
    slapd.stop()
    failed = runner.invoke(args=["revoke-access"])
    assert "0 revoked, 1 failed" in failed.output, failed.output
    with it_app.app_context(), session_scope() as session:
        task = session.exec(select(ItTask).where(ItTask.kind == "revoke_access")).one()
        assert task.state == "open" and task.attempts == 1 and task.last_error
        assert all(c.state == "active" for c in session.exec(select(Credential)).all())
    slapd.start()
    done = runner.invoke(args=["revoke-access"])
    assert "1 revoked, 0 failed" in done.output, done.output
    assert normalize_dn(PEOPLE["aweiss"].dn) not in members(slapd, VPN_GROUP)
    assert "0 revoked, 0 failed" in runner.invoke(args=["revoke-access"]).output
    reconcile = runner.invoke(args=["reconcile-access"])
    assert "The directory matches what the service issued." in reconcile.output


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_parallel_wireguard_issuance_never_hands_out_an_address_twice(database_url, tmp_path,
                                                                      monkeypatch):
    """Twelve IT clerks issue at once on PostgreSQL from a pool of 13 addresses."""
    import threading

    from homeoffice.directory.local import LocalDirectory
    from homeoffice.directory.models import LocalDirectoryUser
    from homeoffice.people.services import sync_people
    from tests.conftest import ROLE_GROUPS as LOCAL_ROLES
    from tests.conftest import password_hash, seed_local_directory

    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(database_url, tmp_path, ACCESS_KINDS=["wireguard"],
                   WIREGUARD_NETWORK="10.66.0.0/28")
    with app.app_context(), session_scope() as session:
        seed_local_directory(session)
        for n in range(14):
            session.add(LocalDirectoryUser(username=f"wg{n}", dn=f"uid=wg{n},ou=people,dc=x",
                                           display_name=f"WG {n}", unit="IT",
                                           password_hash=password_hash()))
        session.add(RemoteApplication(name="DMS", networks="10.10.2.0/24", remote_access=True))
        session.flush()
        sync_people(session=session, directory=LocalDirectory(session), role_groups=LOCAL_ROLES)
    agreements = [agreement_for(app, f"wg{n}", terminal_server=False) for n in range(14)]
    barrier = threading.Barrier(12)
    errors: list[Exception] = []

    def issue(agreement_id):
        with app.app_context(), session_scope() as session:
            agreement = session.get(Agreement, agreement_id)
            owner = session.get(Person, agreement.person_id)
            clerk = session.exec(select(Person).where(Person.username == "i.roth")).one()
            barrier.wait()
            try:
                services.issue(session=session, directory=LocalDirectory(session),
                               agreement=agreement, owner=owner, by=clerk, config=app.config)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=issue, args=(a,)) for a in agreements[:12]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    issue_one = threading.Barrier(1)
    barrier = issue_one
    issue(agreements[12])  # the 13th and last free address
    issue(agreements[13])  # the pool is full now
    with app.app_context(), session_scope() as session:
        addresses = [c.wireguard_address for c in session.exec(select(Credential)).all()]
    assert len(addresses) == 13 and len(set(addresses)) == 13
    assert len(errors) == 1 and isinstance(errors[0], services.AccessError)
    app.extensions["homeoffice.engine"].dispose()


def test_a_renewal_carries_its_new_end_date_into_the_directory(it_app, slapd):
    """Access taken over by a renewal must not stop on the old end date: the approval
    leaves a task, and the revoke_access job writes the new expiry (audited)."""
    agreement_id = agreement_for(it_app, "aweiss")
    client, page = issue_on_the_page(it_app, agreement_id)
    later = END + timedelta(days=365)
    with it_app.app_context(), session_scope() as session:
        old = session.get(Agreement, agreement_id)
        owner = session.get(Person, old.person_id)
        hr = session.exec(select(Person).where(Person.username == "pkoenig")).one()
        renewal = remote_request(
            owner.id,
            kind="renewal",
            agreement_id=old.id,
            state="endorsed",
            start_date=END + timedelta(days=1),
            end_date=later,
        )
        session.add(renewal)
        session.flush()
        new = agreements.decide(
            session=session,
            req=renewal,
            owner=owner,
            by=hr,
            approve=True,
            reason="",
            override_reason="Verlängerung",
            conditions="",
            rule_book=load_rule_book(),
            today=date.today(),
        )
        new_id = new.id
    with directory(slapd) as d:
        assert d.get_account_expiry(PEOPLE["aweiss"].dn) == END  # the decision alone
    label = "neues Enddatum ins Verzeichnis übertragen (geschieht automatisch)"
    assert label in client.get("/it/").get_data(as_text=True)  # IT sees it is pending
    run = run_job(it_app, "revoke_access", occurrence="renewal")
    assert run.outcome == "ok" and run.counts["expiry_adjusted"] == 1, run
    with directory(slapd) as d:
        assert d.get_account_expiry(PEOPLE["aweiss"].dn) == later
    dn = normalize_dn(PEOPLE["aweiss"].dn)
    assert dn in members(slapd, VPN_GROUP) and dn in members(slapd, TERMINAL_SERVER_GROUP)
    with it_app.app_context(), session_scope() as session:
        task = session.exec(select(ItTask).where(ItTask.kind == "adjust_expiry")).one()
        assert (task.agreement_id, task.state) == (new_id, "done")
        assert {c.agreement_id for c in session.exec(select(Credential)).all()} == {new_id}
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "access.expiry_adjusted")
        ).all()
        assert len(events) == 1 and events[0].after["last_day"] == str(later)
    assert label not in client.get("/it/").get_data(as_text=True)
    # Nothing left to do; the reconciliation agrees.
    assert run_job(it_app, "revoke_access", occurrence="again").counts["expiry_adjusted"] == 0
    reconcile = it_app.test_cli_runner().invoke(args=["reconcile-access"])
    assert "The directory matches what the service issued." in reconcile.output


def test_an_expiry_change_waits_for_a_stopped_directory(it_app, slapd):
    agreement_id = agreement_for(it_app, "aweiss")
    client, page = issue_on_the_page(it_app, agreement_id)
    later = END + timedelta(days=30)
    with it_app.app_context(), session_scope() as session:
        agreement = session.get(Agreement, agreement_id)
        agreement.end_date = later
        session.add(
            ItTask(agreement_id=agreement_id, person_id=agreement.person_id, kind="adjust_expiry")
        )
    runner = it_app.test_cli_runner()
    slapd.stop()
    try:
        failed = runner.invoke(args=["revoke-access"])
    finally:
        slapd.start()
    assert "0 expiry dates changed, 1 failed" in failed.output, failed.output
    with it_app.app_context(), session_scope() as session:
        task = session.exec(select(ItTask).where(ItTask.kind == "adjust_expiry")).one()
        assert task.state == "open" and task.attempts == 1 and task.last_error
    done = runner.invoke(args=["revoke-access"])
    assert "1 expiry dates changed, 0 failed" in done.output, done.output
    with directory(slapd) as d:
        assert d.get_account_expiry(PEOPLE["aweiss"].dn) == later
