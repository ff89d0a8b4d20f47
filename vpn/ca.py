"""The internal certificate authority for VPN client certificates, and its CRL.

Each person with VPN access gets a key pair and a certificate valid until their
agreement ends (Dienstvereinbarung); when access is taken back early the serial goes
onto the certificate revocation list (SECURITY.md item 30). The CA key is stored only
encrypted; a person's private key lives only in memory until it is handed out once as a
password-protected PKCS#12 file, and the service keeps just the serial and fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: "ec" is NIST P-256 (small and fast); "rsa" is RSA 3072 for clients that lack ECDSA
KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

RSA_KEY_SIZE = 3072
#: certificates start a little in the past, so a client whose clock runs slow accepts them
BACKDATE = timedelta(minutes=5)
#: the largest serial RFC 5280 allows (20 octets, positive)
MAX_SERIAL = 2**159 - 1
#: PBKDF2 rounds for the PKCS#12 file; its one-time password is long and random anyway
PKCS12_KDF_ROUNDS = 50_000


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    raise ValueError(f"Unknown key type {key_type!r}; use 'ec' or 'rsa'.")


def _utc(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC to the second, as X.509 stores it; a naive time is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} needs a time zone (an aware datetime).")
    return moment.astimezone(UTC).replace(microsecond=0)


def _now(now: datetime | None) -> datetime:
    return _utc(now, "now") if now is not None else datetime.now(UTC).replace(microsecond=0)


def _check_serial(serial: int, what: str) -> int:
    if not 0 < serial <= MAX_SERIAL:
        raise ValueError(f"{what} must be a positive number of at most 159 bits.")
    return serial


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def _spki(key: PrivateKey | x509.Certificate) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class IssuedCertificate:
    """A freshly issued client certificate together with its private key, in memory only.

    Hand the key out once with ``pkcs12()`` and store only ``serial``,
    ``fingerprint_sha256`` and ``not_after``. The object refuses to be pickled so the
    key cannot slip into a cache, a session or a job store by accident.
    """

    __slots__ = (
        "serial",
        "not_after",
        "fingerprint_sha256",
        "certificate",
        "certificate_pem",
        "_key",
        "_ca_chain",
    )

    def __init__(
        self,
        *,
        certificate: x509.Certificate,
        key: PrivateKey,
        ca_chain: tuple[x509.Certificate, ...],
    ) -> None:
        self.certificate = certificate
        self.serial: int = certificate.serial_number
        self.not_after: datetime = certificate.not_valid_after_utc
        self.fingerprint_sha256: str = _fingerprint(certificate)
        self.certificate_pem: bytes = certificate.public_bytes(serialization.Encoding.PEM)
        self._key = key
        self._ca_chain = ca_chain

    def __repr__(self) -> str:
        return f"<IssuedCertificate serial={self.serial:x} not_after={self.not_after:%Y-%m-%d}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("An issued certificate holds a private key and is never stored.")

    @property
    def common_name(self) -> str:
        """The certificate subject's common name."""
        return str(self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def pkcs12(self, password: bytes, *, legacy: bool = False) -> bytes:
        """The key, the certificate and the CA chain as a PKCS#12 (.p12) file.

        Encrypted with ``password``, the one-time password shown to the person (AES-256
        with PBKDF2-SHA256). ``legacy=True`` uses 3DES/SHA-1 instead, for old clients
        (Windows before 10 1709, older macOS keychains) that cannot read the modern form.
        """
        if not password:
            raise ValueError("A PKCS#12 file is only handed out with a password.")
        if legacy:
            algorithm, mac = pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1()
        else:
            algorithm, mac = pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .key_cert_algorithm(algorithm)
            .hmac_hash(mac)
            .kdf_rounds(PKCS12_KDF_ROUNDS)
            .build(password)
        )
        return pkcs12.serialize_key_and_certificates(
            name=self.common_name.encode(),
            key=self._key,
            cert=self.certificate,
            cas=self._ca_chain,
            encryption_algorithm=encryption,
        )


class CertificateAuthority:
    """The CA's key and self-signed certificate: issues client certificates and CRLs.

    Build it with ``create`` once, store ``key_pem(password)`` and ``cert_pem()``, and
    ``load`` it for each issuance or CRL job. Instances hold the key in memory only.
    """

    def __init__(self, key: PrivateKey, certificate: x509.Certificate) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("The CA key must be an EC or RSA key.")
        if _spki(key) != _spki(certificate):
            raise ValueError("The CA key does not belong to the CA certificate.")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.value.ca:
            raise ValueError("The CA certificate is not marked as a CA (basicConstraints).")
        self._key = key
        self.certificate = certificate

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self.certificate.subject.rfc4514_string()}>"

    @classmethod
    def load(
        cls, key_pem: bytes, cert_pem: bytes, key_password: bytes | None
    ) -> CertificateAuthority:
        """The CA from its stored PEM key (normally encrypted) and PEM certificate.

        A wrong or missing password, or a key that does not match the certificate,
        raises ``ValueError`` with a plain message.
        """
        try:
            key = serialization.load_pem_private_key(key_pem, password=key_password or None)
        except TypeError as exc:
            problem = (
                "The CA key is not encrypted; load it without a password."
                if key_password
                else "The CA key is encrypted; its password is needed."
            )
            raise ValueError(problem) from exc
        except ValueError as exc:
            raise ValueError("The CA key could not be read: wrong password or damaged.") from exc
        certificate = x509.load_pem_x509_certificate(cert_pem)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("The CA key must be an EC or RSA key.")
        return cls(key, certificate)

    @classmethod
    def create(
        cls,
        common_name: str,
        valid_days: int = 3650,
        *,
        organization: str | None = None,
        key_type: KeyType = "ec",
        now: datetime | None = None,
    ) -> CertificateAuthority:
        """A new CA with a self-signed certificate valid for ``valid_days``."""
        if not common_name.strip():
            raise ValueError("The CA needs a name.")
        if valid_days < 1:
            raise ValueError("The CA must be valid for at least one day.")
        start = _now(now)
        key = _new_key(key_type)
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        name = x509.Name(attributes)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - BACKDATE)
            .not_valid_after(start + timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def fingerprint_sha256(self) -> str:
        """SHA-256 fingerprint of the CA certificate, lower-case hex."""
        return _fingerprint(self.certificate)

    def key_pem(self, password: bytes) -> bytes:
        """The CA key as encrypted PKCS#8 PEM; a CA key is never written out in clear."""
        if not password:
            raise ValueError("The CA key is only written out encrypted; a password is needed.")
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )

    def cert_pem(self) -> bytes:
        """The CA certificate as PEM, for VPN gateways and for the clients' trust store."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)

    def issue_client_certificate(
        self,
        *,
        common_name: str,
        not_after: datetime,
        serial: int | None = None,
        email: str | None = None,
        key_type: KeyType = "ec",
        now: datetime | None = None,
    ) -> IssuedCertificate:
        """A new key pair and a client certificate for one person, valid until ``not_after``.

        ``not_after`` is the end of the person's agreement, or, for an agreement without
        end, ``now`` plus the configured maximum (see ``client_not_after``); it must be
        timezone-aware and is kept to the second. The certificate is usable only for
        client authentication (extendedKeyUsage clientAuth, keyUsage digitalSignature).
        """
        if not common_name.strip():
            raise ValueError("A client certificate needs a name.")
        start = _now(now)
        end = _utc(not_after, "not_after")
        if end <= start:
            raise ValueError("not_after is already past; the certificate would never be valid.")
        if end > self.certificate.not_valid_after_utc:
            raise ValueError(
                "not_after is later than the CA certificate's own end; renew the CA first."
            )
        serial = x509.random_serial_number() if serial is None else _check_serial(serial, "serial")
        key = _new_key(key_type)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start - BACKDATE)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        if email:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        return IssuedCertificate(certificate=certificate, key=key, ca_chain=(self.certificate,))

    def _crl(
        self,
        revoked: Iterable[tuple[int, datetime]],
        *,
        crl_number: int,
        next_update: timedelta,
        now: datetime | None,
    ) -> x509.CertificateRevocationList:
        if crl_number < 0 or crl_number > MAX_SERIAL:
            raise ValueError("crl_number must be zero or a positive number of at most 159 bits.")
        if next_update <= timedelta(0):
            raise ValueError("next_update must be a positive time span.")
        this_update = _now(now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(this_update + next_update)
            .add_extension(x509.CRLNumber(crl_number), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        seen: set[int] = set()
        for serial, revoked_at in revoked:
            _check_serial(serial, "A revoked serial")
            if serial in seen:
                raise ValueError(f"Serial {serial:x} is listed twice for the CRL.")
            seen.add(serial)
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(_utc(revoked_at, "A revocation date"))
                .build()
            )
        return builder.sign(self._key, hashes.SHA256())

    def build_crl(
        self,
        revoked: Iterable[tuple[int, datetime]],
        *,
        crl_number: int,
        next_update: timedelta = timedelta(days=7),
        now: datetime | None = None,
    ) -> bytes:
        """The CRL (DER) listing ``revoked`` as (serial, revocation time) pairs.

        ``crl_number`` must grow with every CRL the CA publishes (keep it in the
        database); gateways refuse every client once ``next_update`` has passed, so the
        CRL job must run well within that span.
        """
        crl = self._crl(revoked, crl_number=crl_number, next_update=next_update, now=now)
        return crl.public_bytes(serialization.Encoding.DER)

    def crl_pem(
        self,
        revoked: Iterable[tuple[int, datetime]],
        *,
        crl_number: int,
        next_update: timedelta = timedelta(days=7),
        now: datetime | None = None,
    ) -> bytes:
        """The same CRL as ``build_crl``, as PEM (what OpenVPN's ``crl-verify`` reads)."""
        crl = self._crl(revoked, crl_number=crl_number, next_update=next_update, now=now)
        return crl.public_bytes(serialization.Encoding.PEM)

    def verify(self, certificate_pem: bytes | str) -> bool:
        """True if the certificate names this CA as issuer and carries its valid signature.

        Only the signature is checked, not validity dates or the CRL. Text that is not a
        PEM certificate raises ``ValueError`` rather than answering ``False``.
        """
        if isinstance(certificate_pem, str):
            certificate_pem = certificate_pem.encode("ascii")
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def client_not_after(
    agreement_end: datetime | None,
    *,
    max_validity: timedelta = timedelta(days=365),
    now: datetime | None = None,
) -> datetime:
    """When a client certificate ends: the agreement's end, or ``now + max_validity``.

    An agreement without an end still gets a certificate that runs out, so a forgotten
    revocation cannot leave access open forever; the renewal job issues a new one.
    """
    if agreement_end is not None:
        return _utc(agreement_end, "agreement_end")
    if max_validity <= timedelta(0):
        raise ValueError("max_validity must be a positive time span.")
    return _now(now) + max_validity
