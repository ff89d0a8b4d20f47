"""The webhook secret at rest (encrypted) and on the wire (an HMAC signature).

Signature scheme, for receivers: every delivery carries

    X-Homeoffice-Timestamp: <unix seconds when it was sent>
    X-Homeoffice-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

where ``body`` is the raw request body (UTF-8 JSON, exactly as received). A receiver
computes the same HMAC with its copy of the secret, compares in constant time, and
refuses timestamps too far from its clock (a replayed old delivery).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "decrypt_secret", "encrypt_secret", "sign", "verify"]

#: the HKDF "info": a key for this purpose only, unrelated to the session or CA keys
_KEY_PURPOSE = b"homeoffice webhook secrets v1"


def _fernet(config: Mapping) -> Fernet:
    """A Fernet key derived from SECRET_KEY, so that a copy of the database alone
    holds no usable secret. Changing SECRET_KEY makes the stored secrets unreadable:
    each webhook then needs a new secret (the delivery log says so)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(
        config["SECRET_KEY"].encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(config: Mapping, secret: str) -> str:
    return _fernet(config).encrypt(secret.encode()).decode("ascii")


def decrypt_secret(config: Mapping, encrypted: str) -> str:
    """The secret in clear; ``InvalidToken`` when SECRET_KEY changed since it was stored."""
    return _fernet(config).decrypt(encrypted.encode("ascii")).decode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The value of ``X-Homeoffice-Signature`` for this body and timestamp."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (the README shows the same in a few lines)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
