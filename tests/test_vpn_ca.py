"""The internal CA: client certificates, PKCS#12 hand-out, CRL, encrypted CA key.

SECURITY.md items 7 (the one-time PKCS#12 password protects the key; the CA key is only
stored encrypted) and 30 (a revoked certificate appears on the signed CRL). Where the
``openssl`` command is installed, it checks our output as an independent implementation.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpn.ca import BACKDATE, CertificateAuthority, client_not_after
from vpn.credentials import new_initial_password

KEY_PASSWORD = b"ca-key-password-for-tests"


@pytest.fixture
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Musterstadt VPN CA", organization="Stadt Musterstadt")


@pytest.fixture
def agreement_end() -> datetime:
    """An agreement end with microseconds and a non-UTC offset, as callers may pass it."""
    berlin_winter = timezone(timedelta(hours=1))
    moment = datetime.now(berlin_winter) + timedelta(days=120)
    return moment.replace(hour=23, minute=59, second=59, microsecond=654321)


def _load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_ca_certificate_is_a_ca(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3650) + BACKDATE
    cert.verify_directly_issued_by(cert)


def test_issued_certificate_verifies_against_its_ca(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    issued = ca.issue_client_certificate(
        common_name="Erika Mustermann", not_after=agreement_end, email="erika@musterstadt.de"
    )
    cert = _load(issued.certificate_pem)
    cert.verify_directly_issued_by(ca.certificate)
    assert ca.verify(issued.certificate_pem)
    assert ca.verify(issued.certificate_pem.decode())
    assert cert.issuer == ca.certificate.subject


def test_certificate_of_another_ca_does_not_verify(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    stranger = CertificateAuthority.create("Other CA")
    impostor = CertificateAuthority.create("Musterstadt VPN CA", organization="Stadt Musterstadt")
    assert impostor.certificate.subject == ca.certificate.subject
    for other in (stranger, impostor):
        issued = other.issue_client_certificate(common_name="Mallory", not_after=agreement_end)
        assert other.verify(issued.certificate_pem)
        assert not ca.verify(issued.certificate_pem)


def test_verify_refuses_text_that_is_no_certificate(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError):
        ca.verify(b"not a certificate")


def test_not_after_is_the_agreement_end_to_the_second(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    issued = ca.issue_client_certificate(common_name="Erika Mustermann", not_after=agreement_end)
    cert = _load(issued.certificate_pem)
    expected = agreement_end.replace(microsecond=0)
    assert cert.not_valid_after_utc == expected
    assert issued.not_after == expected
    assert (
        before - BACKDATE <= cert.not_valid_before_utc <= before - BACKDATE + timedelta(seconds=5)
    )


def test_client_certificate_is_for_client_authentication_only(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    issued = ca.issue_client_certificate(
        common_name="Erika Mustermann", not_after=agreement_end, email="erika@musterstadt.de"
    )
    cert = issued.certificate
    ext = cert.extensions
    constraints = ext.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign and not usage.crl_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["erika@musterstadt.de"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Erika Mustermann"
    assert issued.common_name == "Erika Mustermann"


def test_serials_are_random_159_bit_unless_given(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    serials = {
        ca.issue_client_certificate(common_name=f"P{i}", not_after=agreement_end).serial
        for i in range(20)
    }
    assert len(serials) == 20
    assert all(0 < s < 2**159 for s in serials)
    assert max(serials).bit_length() > 140
    given = ca.issue_client_certificate(common_name="P", not_after=agreement_end, serial=4711)
    assert given.serial == 4711 == given.certificate.serial_number
    for bad in (0, -1, 2**159):
        with pytest.raises(ValueError, match="159 bits"):
            ca.issue_client_certificate(common_name="P", not_after=agreement_end, serial=bad)


def test_issued_certificate_record_matches_the_certificate(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    issued = ca.issue_client_certificate(common_name="Erika Mustermann", not_after=agreement_end)
    cert = _load(issued.certificate_pem)
    assert issued.serial == cert.serial_number
    assert issued.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert len(issued.fingerprint_sha256) == 64
    assert b"PRIVATE KEY" not in issued.certificate_pem
    assert "PRIVATE" not in repr(issued)


def test_bad_validity_is_refused(ca: CertificateAuthority) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="time zone"):
        ca.issue_client_certificate(common_name="P", not_after=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="already past"):
        ca.issue_client_certificate(common_name="P", not_after=now - timedelta(days=1))
    with pytest.raises(ValueError, match="CA certificate's own end"):
        ca.issue_client_certificate(common_name="P", not_after=now + timedelta(days=4000))
    with pytest.raises(ValueError, match="needs a name"):
        ca.issue_client_certificate(common_name=" ", not_after=now + timedelta(days=1))


def test_client_not_after_uses_the_end_or_the_configured_maximum() -> None:
    now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    end = datetime(2026, 9, 30, 23, 59, 59, 500, tzinfo=UTC)
    assert client_not_after(end, now=now) == end.replace(microsecond=0)
    assert client_not_after(None, now=now) == now + timedelta(days=365)
    assert client_not_after(None, max_validity=timedelta(days=90), now=now) == now + timedelta(
        days=90
    )
    with pytest.raises(ValueError):
        client_not_after(datetime(2026, 9, 30))


def test_pkcs12_loads_back_with_the_one_time_password(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    password = new_initial_password().encode()
    issued = ca.issue_client_certificate(common_name="Erika Mustermann", not_after=agreement_end)
    for legacy in (False, True):
        bundle = issued.pkcs12(password, legacy=legacy)
        key, cert, chain = pkcs12.load_key_and_certificates(bundle, password)
        assert cert is not None and key is not None
        assert cert.serial_number == issued.serial
        assert key.public_key() == cert.public_key()
        assert [c.subject for c in chain] == [ca.certificate.subject]
        parsed = pkcs12.load_pkcs12(bundle, password)
        assert parsed.cert is not None and parsed.cert.friendly_name == b"Erika Mustermann"


def test_pkcs12_refuses_a_wrong_or_missing_password(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    issued = ca.issue_client_certificate(common_name="Erika Mustermann", not_after=agreement_end)
    bundle = issued.pkcs12(b"Right-Password-9!")
    for wrong in (b"wrong-password", None):
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(bundle, wrong)
    with pytest.raises(ValueError):
        issued.pkcs12(b"")


def test_issued_key_cannot_be_pickled(ca: CertificateAuthority, agreement_end: datetime) -> None:
    issued = ca.issue_client_certificate(common_name="Erika Mustermann", not_after=agreement_end)
    with pytest.raises(TypeError, match="never stored"):
        pickle.dumps(issued)


def test_crl_lists_revoked_serials_signed_by_the_ca(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    revoked = ca.issue_client_certificate(common_name="Ausgeschieden", not_after=agreement_end)
    kept = ca.issue_client_certificate(common_name="Aktiv", not_after=agreement_end)
    revoked_at = datetime(2026, 2, 28, 17, 30, 5, 999, tzinfo=UTC)
    now = datetime.now(UTC).replace(microsecond=0)
    crl = x509.load_der_x509_crl(
        ca.build_crl([(revoked.serial, revoked_at)], crl_number=7, now=now)
    )
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial)
    assert entry is not None
    assert entry.revocation_date_utc == revoked_at.replace(microsecond=0)
    assert crl.get_revoked_certificate_by_serial_number(kept.serial) is None
    assert len(crl) == 1
    assert crl.is_signature_valid(ca.certificate.public_key())
    assert crl.issuer == ca.certificate.subject
    assert crl.last_update_utc == now
    assert crl.next_update_utc == now + timedelta(days=7)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7


def test_crl_of_another_ca_does_not_verify(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create("Musterstadt VPN CA", organization="Stadt Musterstadt")
    crl = x509.load_der_x509_crl(other.build_crl([], crl_number=1))
    assert not crl.is_signature_valid(ca.certificate.public_key())


def test_crl_pem_has_the_same_content(ca: CertificateAuthority) -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    crl = x509.load_pem_x509_crl(
        ca.crl_pem([(1, when), (2, when)], crl_number=3, next_update=timedelta(hours=36))
    )
    assert {r.serial_number for r in crl} == {1, 2}
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=36)
    assert crl.is_signature_valid(ca.certificate.public_key())


def test_crl_refuses_bad_input(ca: CertificateAuthority) -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="twice"):
        ca.build_crl([(5, when), (5, when)], crl_number=1)
    with pytest.raises(ValueError, match="time zone"):
        ca.build_crl([(5, datetime(2026, 1, 2))], crl_number=1)
    with pytest.raises(ValueError):
        ca.build_crl([], crl_number=-1)
    with pytest.raises(ValueError):
        ca.build_crl([], crl_number=1, next_update=timedelta(0))


def test_ca_key_is_stored_encrypted(ca: CertificateAuthority) -> None:
    pem = ca.key_pem(KEY_PASSWORD)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    with pytest.raises(ValueError):
        ca.key_pem(b"")


def test_ca_round_trips_through_its_stored_form(
    ca: CertificateAuthority, agreement_end: datetime
) -> None:
    loaded = CertificateAuthority.load(ca.key_pem(KEY_PASSWORD), ca.cert_pem(), KEY_PASSWORD)
    assert loaded.fingerprint_sha256 == ca.fingerprint_sha256
    issued = loaded.issue_client_certificate(common_name="Erika", not_after=agreement_end)
    assert ca.verify(issued.certificate_pem)


def test_loading_the_ca_needs_the_right_password_and_matching_parts(
    ca: CertificateAuthority,
) -> None:
    key_pem = ca.key_pem(KEY_PASSWORD)
    with pytest.raises(ValueError, match="password is needed"):
        CertificateAuthority.load(key_pem, ca.cert_pem(), None)
    with pytest.raises(ValueError, match="wrong password"):
        CertificateAuthority.load(key_pem, ca.cert_pem(), b"wrong")
    other = CertificateAuthority.create("Other CA")
    with pytest.raises(ValueError, match="does not belong"):
        CertificateAuthority.load(key_pem, other.cert_pem(), KEY_PASSWORD)


def test_rsa_ca_and_rsa_client_keys(agreement_end: datetime) -> None:
    ca = CertificateAuthority.create("RSA CA", key_type="rsa")
    issued = ca.issue_client_certificate(
        common_name="Erika", not_after=agreement_end, key_type="rsa"
    )
    public = issued.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    assert ca.verify(issued.certificate_pem)
    with pytest.raises(ValueError, match="Unknown key type"):
        CertificateAuthority.create("X", key_type="dsa")  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_openssl_accepts_the_chain_and_honours_the_crl(
    ca: CertificateAuthority, agreement_end: datetime, tmp_path: Path
) -> None:
    active = ca.issue_client_certificate(common_name="Aktiv", not_after=agreement_end)
    gone = ca.issue_client_certificate(common_name="Ausgeschieden", not_after=agreement_end)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    (tmp_path / "crl.pem").write_bytes(ca.crl_pem([(gone.serial, datetime.now(UTC))], crl_number=1))
    (tmp_path / "active.pem").write_bytes(active.certificate_pem)
    (tmp_path / "gone.pem").write_bytes(gone.certificate_pem)

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-purpose",
                "sslclient",
                "-crl_check",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "crl.pem",
                name,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = verify("active.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = verify("gone.pem")
    assert refused.returncode != 0
    assert "revoked" in (refused.stdout + refused.stderr)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
@pytest.mark.parametrize("legacy", [False, True])
def test_openssl_reads_the_pkcs12_file(
    ca: CertificateAuthority, agreement_end: datetime, tmp_path: Path, legacy: bool
) -> None:
    password = new_initial_password()
    issued = ca.issue_client_certificate(common_name="Erika", not_after=agreement_end)
    (tmp_path / "erika.p12").write_bytes(issued.pkcs12(password.encode(), legacy=legacy))
    result = subprocess.run(
        ["openssl", "pkcs12", "-in", "erika.p12", "-passin", "stdin", "-nokeys", "-clcerts"],
        cwd=tmp_path,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert issued.certificate_pem.decode().strip() in result.stdout
