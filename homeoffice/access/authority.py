"""The internal CA kept in the database, and its certificate revocation list."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import timedelta

from sqlmodel import Session, col, select

from homeoffice.access.models import CERTIFICATE, REVOKED, CertificateAuthorityRecord, Credential
from homeoffice.db import utcnow
from vpn.ca import CertificateAuthority


def _key_password(config: Mapping) -> bytes:
    """The CA key's password: configured, or derived from SECRET_KEY so that a database
    copy alone never holds a usable CA key."""
    if config["CA_KEY_PASSWORD"]:
        return config["CA_KEY_PASSWORD"].encode()
    return hmac.new(config["SECRET_KEY"].encode(), b"homeoffice-ca-key", hashlib.sha256).digest()


def certificate_authority(session: Session, config: Mapping, *, lock: bool = False):
    """The CA and its record, created on first use."""
    statement = select(CertificateAuthorityRecord).order_by(CertificateAuthorityRecord.id)
    if lock:
        statement = statement.with_for_update()
    record = session.exec(statement).first()
    if record is None:
        ca = CertificateAuthority.create(config["CA_NAME"], organization="Stadtverwaltung")
        record = CertificateAuthorityRecord(
            certificate_pem=ca.cert_pem().decode(),
            key_pem_encrypted=ca.key_pem(_key_password(config)).decode(),
        )
        session.add(record)
        session.flush()
        return ca, record
    ca = CertificateAuthority.load(
        record.key_pem_encrypted.encode(), record.certificate_pem.encode(), _key_password(config)
    )
    return ca, record


def publish_crl(session: Session, config: Mapping) -> CertificateAuthorityRecord:
    """Sign a new CRL with every revoked certificate and store it for /crl.der."""
    ca, record = certificate_authority(session, config, lock=True)
    revoked = session.exec(
        select(Credential.certificate_serial, Credential.revoked_at).where(
            Credential.kind == CERTIFICATE,
            Credential.state == REVOKED,
            col(Credential.certificate_serial).is_not(None),
        )
    ).all()
    record.crl_number += 1
    validity = timedelta(days=config["CRL_VALID_DAYS"])
    record.crl_der = ca.build_crl(
        [(int(serial, 16), revoked_at) for serial, revoked_at in revoked],
        crl_number=record.crl_number,
        next_update=validity,
    )
    record.crl_next_update = utcnow() + validity
    session.flush()
    return record
