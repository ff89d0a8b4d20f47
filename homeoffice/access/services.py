"""Issuing and revoking remote access against the directory, and reconciling both.

The directory cannot take part in the database transaction, so every directory step
is idempotent and comes first: when the directory fails half-way, the steps already
done are undone where possible, nothing is written to the database, and the IT task
keeps the error for a retry. Whatever an undo could not reach (the directory was
gone), the reconciliation report finds and repairs.
"""

from __future__ import annotations

import logging
import secrets as _secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from homeoffice.access.authority import certificate_authority, publish_crl
from homeoffice.access.models import (
    ACTIVE,
    CERTIFICATE,
    REVOKED,
    TERMINAL_SERVER_GROUP,
    TERMINAL_SERVER_SECRET,
    VPN_GROUP,
    WIREGUARD,
    Credential,
    RemoteApplication,
)
from homeoffice.agreements.models import CURRENT_AGREEMENT_STATES, Agreement, HomeOfficeRequest
from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.people.models import IT, Person
from homeoffice.tasks.models import (
    ADJUST_EXPIRY,
    CANCELLED,
    DONE,
    GRANT_TERMINAL_SERVER,
    GRANT_VPN,
    OPEN,
    REVOKE_ACCESS,
    ItTask,
)
from homeoffice.webhooks import services as webhooks
from homeoffice.webhooks.models import ACCESS_ISSUED, ACCESS_REVOKED
from vpn import credentials as vpn_credentials
from vpn import wireguard
from vpn.ca import client_not_after
from vpn.directory import Directory, DirectoryError, NoSuchEntry, normalize_dn

log = logging.getLogger(__name__)


class AccessError(Exception):
    """Issuing or revoking failed; ``message`` is for the user, nothing was changed."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


class NotAllowed(Exception):
    pass


@dataclass
class IssuedSecrets:
    """What IT sees once, right after issuing; none of it is stored."""

    kinds: list[str] = field(default_factory=list)
    terminal_server_secret: str | None = None
    certificate_p12: bytes | None = None
    certificate_password: str | None = None
    certificate_serial: str | None = None
    wireguard_config: str | None = None
    wireguard_qr: str | None = None


def wanted_kinds(req: HomeOfficeRequest, config: Mapping) -> list[str]:
    """The credentials an agreement's request calls for, by the settings.

    A private computer (BYOD) gets the terminal server only, never a tunnel into the
    network: the data stays on the administration's machines.
    """
    enabled = set(config["ACCESS_KINDS"])
    vpn = req.wants_vpn and not req.uses_private_computer
    terminal_server = req.wants_terminal_server or req.uses_private_computer
    kinds = []
    if "groups" in enabled and vpn:
        kinds.append(VPN_GROUP)
    if "groups" in enabled and terminal_server:
        kinds.append(TERMINAL_SERVER_GROUP)
    if "terminal_server_secret" in enabled and terminal_server:
        kinds.append(TERMINAL_SERVER_SECRET)
    if "certificate" in enabled and vpn:
        kinds.append(CERTIFICATE)
    if "wireguard" in enabled and vpn:
        kinds.append(WIREGUARD)
    return kinds


def group_of(kind: str, config: Mapping) -> str:
    return config["VPN_GROUP_DN"] if kind == VPN_GROUP else config["TERMINAL_SERVER_GROUP_DN"]


def active_credentials(session: Session, agreement: Agreement) -> list[Credential]:
    return list(
        session.exec(
            select(Credential).where(
                Credential.agreement_id == agreement.id, Credential.state == ACTIVE
            )
        ).all()
    )


def _close_tasks(session: Session, agreement: Agreement, kinds, by: Person | None) -> None:
    for task in session.exec(
        select(ItTask).where(
            ItTask.agreement_id == agreement.id,
            ItTask.state == OPEN,
            col(ItTask.kind).in_(kinds),
        )
    ).all():
        task.state, task.done_at = DONE, utcnow()
        task.done_by_id = by.id if by else None
        task.last_error = None


def note_failure(session: Session, agreement: Agreement, kinds, error: str) -> None:
    """Keep the failure on the open tasks, so IT sees what to retry and why."""
    for task in session.exec(
        select(ItTask).where(
            ItTask.agreement_id == agreement.id, ItTask.state == OPEN, col(ItTask.kind).in_(kinds)
        )
    ).all():
        task.attempts += 1
        task.last_error = error[:1000]


def applications(session: Session) -> list[wireguard.Application]:
    return [
        wireguard.Application(
            name=app.name, networks=tuple(app.networks.split()), remote_access=app.remote_access
        )
        for app in session.exec(select(RemoteApplication).order_by(RemoteApplication.name))
    ]


def issue(
    *,
    session: Session,
    directory: Directory,
    agreement: Agreement,
    owner: Person,
    by: Person,
    config: Mapping,
) -> IssuedSecrets:
    """Issue what the agreement calls for and is not issued yet; return the secrets once."""
    if IT not in by.role_set:
        raise NotAllowed()
    if agreement.state not in CURRENT_AGREEMENT_STATES or not owner.active:
        raise AccessError(_l("Access is only issued for a current agreement."))
    req = session.get(HomeOfficeRequest, agreement.request_id)
    have = {c.kind for c in active_credentials(session, agreement)}
    kinds = [k for k in wanted_kinds(req, config) if k not in have]
    result = IssuedSecrets(kinds=kinds)
    if not kinds:
        return result
    password_mode = config["TERMINAL_SERVER_SECRET"] == "password"
    secret = None
    if TERMINAL_SERVER_SECRET in kinds:
        secret = (
            vpn_credentials.new_initial_password(avoid=owner.display_name.split())
            if password_mode
            else vpn_credentials.new_enrollment_code()
        )

    # Everything that can fail without the directory is checked before it is touched.
    allowed = None
    if WIREGUARD in kinds:
        allowed = wireguard.allowed_networks(applications(session))
        if not allowed:
            raise AccessError(
                _l("No application is open for remote access yet; a tunnel would lead nowhere.")
            )
    if CERTIFICATE in kinds:
        certificate_authority(session, config)

    if WIREGUARD in kinds:
        _check_pool(session, config)

    undo = _directory_steps_for_issue(
        directory, owner, agreement, kinds, config, secret if password_mode else None
    )
    try:
        _store_credentials(session, kinds, owner, agreement, by, config, secret, allowed, result)
    except (wireguard.PoolExhausted, wireguard.AllocationFailed) as exc:
        _undo(directory, owner, undo)
        raise AccessError(_l("No VPN address is free: %(error)s", error=str(exc))) from exc
    except BaseException:
        _undo(directory, owner, undo)
        raise
    session.flush()
    _close_tasks(session, agreement, [GRANT_VPN, GRANT_TERMINAL_SERVER], by)
    record(
        session,
        action="access.issued",
        actor=by,
        object_type="agreement",
        object_id=agreement.id,
        after={
            "person": owner.username,
            "kinds": kinds,
            "expires_on": str(agreement.end_date) if agreement.end_date else None,
        },
    )
    webhooks.emit(session, ACCESS_ISSUED, webhooks.access_payload(agreement, owner, kinds))
    return result


def _store_credentials(session, kinds, owner, agreement, by, config, secret, allowed, result):
    """The credential rows, the certificate and the tunnel address (after the directory)."""
    expires = agreement.end_date
    for kind in kinds:
        credential = Credential(
            person_id=owner.id,
            agreement_id=agreement.id,
            kind=kind,
            expires_on=expires,
            issued_by_id=by.id,
        )
        if kind == TERMINAL_SERVER_SECRET:
            credential.secret_hash = vpn_credentials.hash_secret(secret)
            result.terminal_server_secret = secret
        elif kind == CERTIFICATE:
            _issue_certificate(session, credential, owner, agreement, config, result)
        if kind == WIREGUARD:
            _issue_wireguard(session, credential, config, result, allowed)
        else:
            session.add(credential)
    session.flush()


def _check_pool(session: Session, config: Mapping) -> None:
    """Fail before the directory is touched when no tunnel address is left."""
    used = session.exec(
        select(Credential.wireguard_address).where(
            Credential.state == ACTIVE, col(Credential.wireguard_address).is_not(None)
        )
    ).all()
    try:
        wireguard.AddressPool(config["WIREGUARD_NETWORK"]).next_free(used)
    except wireguard.PoolExhausted as exc:
        raise AccessError(_l("No VPN address is free: %(error)s", error=str(exc))) from exc


def _undo(directory: Directory, owner: Person, undo: list) -> None:
    """Reverse directory steps of a failed issue; what fails here, reconciliation finds."""
    for step, value in reversed(undo):
        try:
            if step == "group":
                directory.remove_from_group(value, owner.dn)
            else:
                directory.set_account_expiry(owner.dn, value)
        except DirectoryError:
            log.warning("Could not undo %s for %s; reconciliation will", step, owner.username)


def _directory_steps_for_issue(directory, owner, agreement, kinds, config, password) -> list:
    """Groups, expiry and password, all or nothing as far as the directory allows;
    returns the steps to reverse should storing the credentials fail afterwards."""
    undo = []
    try:
        for kind in (VPN_GROUP, TERMINAL_SERVER_GROUP):
            if kind in kinds:
                group = group_of(kind, config)
                # Undo only what this issue added: reading the whole group to find out
                # would cost more with every member (found by bench/access.py).
                if directory.add_to_group(group, owner.dn):
                    undo.append(("group", group))
        if VPN_GROUP in kinds or TERMINAL_SERVER_GROUP in kinds:
            previous = directory.get_account_expiry(owner.dn)
            directory.set_account_expiry(owner.dn, agreement.end_date)
            undo.append(("expiry", previous))
        if password is not None:
            directory.set_password(owner.dn, password)
    except DirectoryError as exc:
        _undo(directory, owner, undo)
        log.warning("Issuing access for agreement %s failed: %s", agreement.id, exc)
        raise AccessError(
            _l(
                "The directory did not accept the change, so no access was issued: %(error)s",
                error=str(exc),
            )
        ) from exc
    return undo


def _issue_certificate(session, credential, owner, agreement, config, result) -> None:
    ca, _record = certificate_authority(session, config)
    end = (
        datetime.combine(agreement.end_date + timedelta(days=1), time.min, tzinfo=UTC)
        if agreement.end_date
        else None
    )
    not_after = client_not_after(end, max_validity=timedelta(days=config["CERTIFICATE_MAX_DAYS"]))
    issued = ca.issue_client_certificate(
        common_name=owner.username, not_after=not_after, email=owner.mail
    )
    password = _secrets.token_urlsafe(12)
    result.certificate_p12 = issued.pkcs12(password.encode())
    result.certificate_password = password
    result.certificate_serial = format(issued.serial, "x")
    credential.certificate_serial = format(issued.serial, "x")
    credential.certificate_fingerprint = issued.fingerprint_sha256
    credential.certificate_not_after = issued.not_after


def _issue_wireguard(session: Session, credential: Credential, config, result, allowed) -> None:
    """A key pair and a tunnel address nobody else holds (unique index, retried)."""
    pool = wireguard.AddressPool(config["WIREGUARD_NETWORK"])
    private_key, public_key = wireguard.generate_keypair()
    credential.wireguard_public_key = public_key

    def taken() -> list[str]:
        return list(
            session.exec(
                select(Credential.wireguard_address).where(
                    Credential.state == ACTIVE, col(Credential.wireguard_address).is_not(None)
                )
            ).all()
        )

    used = taken()

    def try_insert(address: str) -> bool:
        credential.wireguard_address = address
        try:
            with session.begin_nested():
                session.add(credential)
                session.flush()
        except IntegrityError:
            # Someone took the address meanwhile; the savepoint dropped our row.
            return False
        return True

    address = wireguard.allocate(pool, used, try_insert, reread=taken)
    server_key = config["WIREGUARD_SERVER_PUBLIC_KEY"] or wireguard.public_key(
        wireguard.generate_keypair()[0]
    )
    text = wireguard.client_config(
        private_key=private_key,
        address=address,
        dns=list(config["WIREGUARD_DNS"]),
        server_public_key=server_key,
        endpoint=config["WIREGUARD_ENDPOINT"],
        allowed_ips=allowed,
    )
    result.wireguard_config = text
    result.wireguard_qr = wireguard.qr_data_uri(text)


def revoke(
    *,
    session: Session,
    directory: Directory,
    agreement: Agreement,
    owner: Person,
    by: Person | None,
    config: Mapping,
    reason: str,
    today: date,
    publish: bool = True,
) -> list[str]:
    """Take back every active credential of the agreement; returns the kinds revoked.

    ``publish=False`` leaves the new CRL to the caller, who signs one for a whole batch.

    Directory steps first (each idempotent, so a retry after a failure repeats nothing
    that matters), then the database; a directory failure raises ``AccessError`` and
    leaves the credentials active and the revocation task open.
    """
    if by is not None and IT not in by.role_set:
        raise NotAllowed()
    held = active_credentials(session, agreement)
    kinds = [c.kind for c in held]
    try:
        for kind in (VPN_GROUP, TERMINAL_SERVER_GROUP):
            if kind in kinds:
                directory.remove_from_group(group_of(kind, config), owner.dn)
        if VPN_GROUP in kinds or TERMINAL_SERVER_GROUP in kinds:
            # The account's remote access ends yesterday: no use from today on.
            try:
                directory.set_account_expiry(owner.dn, today - timedelta(days=1))
            except NoSuchEntry:
                # The account was deleted (the person left): it cannot log in at all,
                # so there is nothing left to expire. The group entries went above.
                pass
    except DirectoryError as exc:
        raise AccessError(
            _l(
                "The directory did not accept the change; the access is still active: %(error)s",
                error=str(exc),
            )
        ) from exc
    now = utcnow()
    for credential in held:
        credential.state, credential.revoked_at = REVOKED, now
        credential.revoked_by_id = by.id if by else None
        credential.revoke_reason = reason[:500]
    session.flush()
    if CERTIFICATE in kinds and publish:
        publish_crl(session, config)
    _close_tasks(session, agreement, [REVOKE_ACCESS], by)
    record(
        session,
        action="access.revoked",
        actor=by,
        object_type="agreement",
        object_id=agreement.id,
        after={"person": owner.username, "kinds": kinds},
        detail=reason,
    )
    if kinds:
        webhooks.emit(session, ACCESS_REVOKED, webhooks.access_payload(agreement, owner, kinds))
    return kinds


def revoke_due(*, session: Session, directory: Directory, config: Mapping, today: date) -> dict:
    """Run every open revocation task (ended, expired or revoked agreements)."""
    done = failed = 0
    certificates = False
    tasks = session.exec(
        select(ItTask).where(ItTask.kind == REVOKE_ACCESS, ItTask.state == OPEN)
    ).all()
    for task in tasks:
        if task.state != OPEN:
            # Closed by an earlier task of the same agreement in this batch (its revoke
            # closes every open revocation task of the agreement); revoking again would
            # record a second revocation, of nothing.
            continue
        agreement = session.get(Agreement, task.agreement_id)
        owner = session.get(Person, task.person_id)
        try:
            with session.begin_nested():
                kinds = revoke(
                    session=session,
                    directory=directory,
                    agreement=agreement,
                    owner=owner,
                    by=None,
                    config=config,
                    reason=agreement.end_reason or agreement.state,
                    today=today,
                    publish=False,
                )
            done += 1
            certificates = certificates or CERTIFICATE in kinds
        except AccessError as exc:
            failed += 1
            task.attempts += 1
            task.last_error = str(exc)[:1000]
    if certificates:
        # One CRL for the whole batch, not one per revoked certificate.
        publish_crl(session, config)
    return {"revoked": done, "failed": failed}


def adjust_expiry_due(*, session: Session, directory: Directory) -> dict:
    """Carry a changed end date into the directory for access that a change or renewal
    took over from the agreement before it.

    Without this a renewed person's remote access would stop on the old end date (or a
    shortened agreement's would run on) until someone repaired it by reconciliation.
    Setting the expiry is idempotent, so a run that dies after the directory step and
    before its commit is simply repeated.
    """
    adjusted = failed = 0
    tasks = session.exec(
        select(ItTask).where(ItTask.kind == ADJUST_EXPIRY, ItTask.state == OPEN)
    ).all()
    for task in tasks:
        agreement = session.get(Agreement, task.agreement_id)
        owner = session.get(Person, task.person_id)
        held = {c.kind for c in active_credentials(session, agreement)}
        if agreement.state not in CURRENT_AGREEMENT_STATES or not held & {
            VPN_GROUP,
            TERMINAL_SERVER_GROUP,
        }:
            # Revoked or replaced again meanwhile: revocation or the next task decides.
            task.state, task.done_at = CANCELLED, utcnow()
            continue
        try:
            directory.set_account_expiry(owner.dn, agreement.end_date)
        except DirectoryError as exc:
            failed += 1
            task.attempts += 1
            task.last_error = str(exc)[:1000]
            continue
        task.state, task.done_at, task.last_error = DONE, utcnow(), None
        record(
            session,
            action="access.expiry_adjusted",
            object_type="agreement",
            object_id=agreement.id,
            after={"person": owner.username, "last_day": str(agreement.end_date or "")},
        )
        adjusted += 1
    session.flush()
    return {"expiry_adjusted": adjusted, "expiry_failed": failed}


# --- reconciliation -------------------------------------------------------------------

EXTRA_MEMBER = "extra_member"
MISSING_MEMBER = "missing_member"
EXPIRED_WITH_ACCESS = "expired_with_access"
EXPIRY_MISMATCH = "expiry_mismatch"


@dataclass
class Difference:
    """One way the directory and the service disagree, and how repair resolves it."""

    kind: str
    person_dn: str
    person: Person | None = None
    group_dn: str | None = None
    agreement: Agreement | None = None
    directory_value: str | None = None
    service_value: str | None = None


def reconcile(
    *, session: Session, directory: Directory, config: Mapping, today: date
) -> list[Difference]:
    """Compare group members and account expiry in the directory with what was issued."""
    rows = session.exec(
        select(Credential, Agreement, Person)
        .join(Agreement, Agreement.id == Credential.agreement_id)
        .join(Person, Person.id == Credential.person_id)
        .where(Credential.state == ACTIVE)
    ).all()
    differences: list[Difference] = []
    expected: dict[str, dict[str, Person]] = {VPN_GROUP: {}, TERMINAL_SERVER_GROUP: {}}
    expiry: dict[int, tuple[Person, Agreement]] = {}
    stale: dict[int, tuple[Person, Agreement]] = {}
    for credential, agreement, person in rows:
        current = (
            agreement.state in CURRENT_AGREEMENT_STATES
            and person.active
            and (agreement.end_date is None or agreement.end_date >= today)
        )
        if not current:
            stale[agreement.id] = (person, agreement)
            continue
        if credential.kind in expected:
            expected[credential.kind][normalize_dn(person.dn)] = person
            expiry[person.id] = (person, agreement)
    for person, agreement in stale.values():
        differences.append(
            Difference(
                EXPIRED_WITH_ACCESS,
                person.dn,
                person,
                agreement=agreement,
                service_value=agreement.state,
            )
        )
    people = {normalize_dn(p.dn): p for p in session.exec(select(Person))}
    for kind, wanted in expected.items():
        group = group_of(kind, config)
        members = {normalize_dn(dn): dn for dn in directory.members_of(group)}
        stale_dns = {normalize_dn(p.dn) for p, _a in stale.values()}
        for key, dn in members.items():
            if key not in wanted and key not in stale_dns and _seed_member_ok(key, config):
                differences.append(Difference(EXTRA_MEMBER, dn, people.get(key), group_dn=group))
        for key, person in wanted.items():
            if key not in members:
                differences.append(Difference(MISSING_MEMBER, person.dn, person, group_dn=group))
    for person, agreement in expiry.values():
        actual = directory.get_account_expiry(person.dn)
        if actual != agreement.end_date:
            differences.append(
                Difference(
                    EXPIRY_MISMATCH,
                    person.dn,
                    person,
                    agreement=agreement,
                    directory_value=str(actual) if actual else None,
                    service_value=str(agreement.end_date) if agreement.end_date else None,
                )
            )
    return differences


def _seed_member_ok(key: str, config: Mapping) -> bool:
    """Members the service must never remove (e.g. a placeholder entry a groupOfNames
    needs, listed in ACCESS_GROUP_KEEP)."""
    return key not in {normalize_dn(dn) for dn in config.get("ACCESS_GROUP_KEEP", [])}


def repair(
    *,
    session: Session,
    directory: Directory,
    differences: list[Difference],
    by: Person | None,
    config: Mapping,
    today: date,
) -> int:
    """Make the directory match what the service issued; every fix is audited."""
    fixed = 0
    for difference in differences:
        if difference.kind == EXTRA_MEMBER:
            directory.remove_from_group(difference.group_dn, difference.person_dn)
        elif difference.kind == MISSING_MEMBER:
            directory.add_to_group(difference.group_dn, difference.person_dn)
        elif difference.kind == EXPIRY_MISMATCH:
            directory.set_account_expiry(difference.person_dn, difference.agreement.end_date)
        elif difference.kind == EXPIRED_WITH_ACCESS:
            revoke(
                session=session,
                directory=directory,
                agreement=difference.agreement,
                owner=difference.person,
                by=by,
                config=config,
                reason="reconciliation: agreement no longer current",
                today=today,
            )
        fixed += 1
        record(
            session,
            action="access.reconciled",
            actor=by,
            object_type="person",
            object_id=difference.person.id if difference.person else None,
            before={"kind": difference.kind, "directory": difference.directory_value},
            after={"group": difference.group_dn, "service": difference.service_value},
            detail=difference.person_dn,
        )
    session.flush()
    return fixed
