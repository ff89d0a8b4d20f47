"""Remote access the service issued: directory groups, terminal-server credentials,
VPN certificates and WireGuard peers, plus the CA and the per-application rules."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary, text
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: kinds of credential
VPN_GROUP = "vpn_group"
TERMINAL_SERVER_GROUP = "terminal_server_group"
TERMINAL_SERVER_SECRET = "terminal_server_secret"
CERTIFICATE = "certificate"
WIREGUARD = "wireguard"
CREDENTIAL_KINDS = (
    VPN_GROUP,
    TERMINAL_SERVER_GROUP,
    TERMINAL_SERVER_SECRET,
    CERTIFICATE,
    WIREGUARD,
)

ACTIVE = "active"
REVOKED = "revoked"


class Credential(SQLModel, table=True):
    """One piece of remote access held by one person for one agreement.

    Secrets are never stored: a terminal-server secret only as its hash, a certificate
    as serial and fingerprint, a WireGuard peer as its public key and address.
    """

    __table_args__ = (
        Index(
            "uq_credential_active_kind_per_person",
            "person_id",
            "kind",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        # No tunnel address is handed out twice, however many IT clerks issue at once.
        Index(
            "uq_credential_active_wireguard_address",
            "wireguard_address",
            unique=True,
            sqlite_where=text("state = 'active' AND wireguard_address IS NOT NULL"),
            postgresql_where=text("state = 'active' AND wireguard_address IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    #: one of CREDENTIAL_KINDS
    kind: str = Field(max_length=30, index=True)
    state: str = Field(default=ACTIVE, max_length=20, index=True)
    #: the last day the access may be used (the agreement's end)
    expires_on: date | None = None
    issued_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    issued_by_id: int | None = Field(default=None, foreign_key="person.id")
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revoked_by_id: int | None = Field(default=None, foreign_key="person.id")
    revoke_reason: str | None = Field(default=None, max_length=500)
    #: argon2 hash of a terminal-server secret; the secret itself was shown once
    secret_hash: str | None = Field(default=None, max_length=200)
    #: hex serial of a VPN client certificate
    certificate_serial: str | None = Field(default=None, max_length=64, index=True)
    certificate_fingerprint: str | None = Field(default=None, max_length=100)
    certificate_not_after: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )
    wireguard_public_key: str | None = Field(default=None, max_length=60)
    wireguard_address: str | None = Field(default=None, max_length=45)

    def __repr__(self) -> str:
        return f"<Credential {self.id} {self.kind} {self.state}>"


class CertificateAuthorityRecord(SQLModel, table=True):
    """The internal CA: its certificate, its key (encrypted) and the current CRL."""

    __tablename__ = "certificate_authority"

    id: int | None = Field(default=None, primary_key=True)
    certificate_pem: str
    #: PEM of the private key, encrypted with CA_KEY_PASSWORD
    key_pem_encrypted: str
    crl_number: int = 0
    crl_der: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    crl_next_update: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class RemoteApplication(SQLModel, table=True):
    """A specialised application and whether it may be reached from outside.

    Office-only applications (the resident registry, Einwohnermeldewesen) are never
    part of any remote access: their networks are left out of every tunnel.
    """

    __tablename__ = "remote_application"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    #: space-separated networks (CIDR) the application lives in
    networks: str = Field(max_length=1000)
    remote_access: bool = False

    def __repr__(self) -> str:
        return f"<RemoteApplication {self.name!r} remote={self.remote_access}>"
