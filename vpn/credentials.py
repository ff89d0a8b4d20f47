"""One-time secrets: initial passwords, enrollment codes, and their argon2id hashes.

IT hands each secret out once (on screen or in a sealed letter) and the service keeps
only the hash (SECURITY.md item 7). Nothing here logs a secret value, and callers must
not either: pass secrets on, never into a log line, an audit event or an exception text.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: upper case letters without the look-alikes O and I, and without Y and Z, which swap
#: places between the German (QWERTZ) and the US (QWERTY) keyboard layout
UPPER = "".join(c for c in string.ascii_uppercase if c not in "OIYZ")
#: lower case letters without l and o (read as 1 and 0), and without y and z (see UPPER)
LOWER = "".join(c for c in string.ascii_lowercase if c not in "loyz")
#: digits without 0 and 1
DIGITS = "23456789"
#: symbols that sit on the same key on German and US keyboards, need no quoting in a
#: shell, an LDAP filter or a CSV cell, and count as "special" for Active Directory
SYMBOLS = "!$%."
#: every character an initial password may contain
PASSWORD_ALPHABET = UPPER + LOWER + DIGITS + SYMBOLS
#: the shortest initial password we generate; AD's own minimum is usually 8 to 12
MIN_PASSWORD_LENGTH = 12

#: characters of an enrollment code: upper case letters and digits without 0/O, 1/I/L
#: and Y/Z, so a code read aloud on the phone or typed from paper cannot be mistaken
ENROLLMENT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWX"
ENROLLMENT_GROUPS = 4
ENROLLMENT_GROUP_LENGTH = 4

#: where AD splits names into the parts a password must not contain
_NAME_DELIMITERS = re.compile(r"[,.\-_#\s]+")

#: argon2id with the library's defaults (RFC 9106 low-memory profile); the same
#: parameters as the local directory's password hashes
_hasher = PasswordHasher()
_random = secrets.SystemRandom()


def new_initial_password(length: int = 16, *, avoid: Iterable[str] = ()) -> str:
    """A random initial password that meets Active Directory's complexity rules.

    It always contains an upper case letter, a lower case letter, a digit and a symbol,
    and no character that is easily misread or mistyped. ``avoid`` takes the person's
    login name and display name: AD refuses a password that contains either (see
    ``contains_name_part``), so such a draw is thrown away and drawn again.
    """
    if length < MIN_PASSWORD_LENGTH:
        raise ValueError(f"An initial password needs at least {MIN_PASSWORD_LENGTH} characters.")
    avoid = list(avoid)
    while True:
        chars = [secrets.choice(group) for group in (UPPER, LOWER, DIGITS, SYMBOLS)]
        chars += [secrets.choice(PASSWORD_ALPHABET) for _ in range(length - len(chars))]
        _random.shuffle(chars)
        password = "".join(chars)
        if not contains_name_part(password, avoid):
            return password


def contains_name_part(password: str, names: Iterable[str]) -> bool:
    """True if ``password`` contains a part of ``names`` that AD would refuse.

    AD splits the account and display name at commas, periods, dashes, underscores,
    number signs and white space, and refuses a password containing any part of three
    or more characters, ignoring case.
    """
    folded = password.casefold()
    for name in names:
        for part in _NAME_DELIMITERS.split(name):
            if len(part) >= 3 and part.casefold() in folded:
                return True
    return False


def is_complex(password: str) -> bool:
    """True if ``password`` has a character of each class: upper, lower, digit, symbol.

    This is the stricter form of AD's rule (three of five classes), so a password we
    generate is never refused by a directory that enforces complexity.
    """
    return (
        any(c.isupper() for c in password)
        and any(c.islower() for c in password)
        and any(c.isdigit() for c in password)
        and any(not c.isalnum() for c in password)
    )


def new_enrollment_code() -> str:
    """A random one-time enrollment code such as ``7KQP-M3XA-9TRC-HW2E`` (about 78 bits)."""
    groups = (
        "".join(secrets.choice(ENROLLMENT_ALPHABET) for _ in range(ENROLLMENT_GROUP_LENGTH))
        for _ in range(ENROLLMENT_GROUPS)
    )
    return "-".join(groups)


def normalize_enrollment_code(code: str) -> str:
    """An enrollment code as typed (any case, spaces, dashes or none) in canonical form.

    Hash and verify the canonical form, so ``7kqp m3xa 9trc hw2e`` matches the code that
    was handed out. Raises ``ValueError`` for text that cannot be a code.
    """
    compact = "".join(c for c in code.upper() if c not in " -\t")
    length = ENROLLMENT_GROUPS * ENROLLMENT_GROUP_LENGTH
    if len(compact) != length or any(c not in ENROLLMENT_ALPHABET for c in compact):
        raise ValueError("This is not an enrollment code.")
    step = ENROLLMENT_GROUP_LENGTH
    return "-".join(compact[i : i + step] for i in range(0, length, step))


def hash_secret(secret: str) -> str:
    """An argon2id hash of ``secret``, the only form in which a secret is stored."""
    if not secret:
        raise ValueError("An empty secret cannot be stored.")
    return _hasher.hash(secret)


def verify_secret(stored: str, secret: str) -> bool:
    """True if ``secret`` matches the ``stored`` argon2 hash.

    A wrong or empty secret is ``False``. A ``stored`` value that is not an argon2 hash
    raises ``ValueError``: that is damaged data, not a wrong secret, and must not look
    like one.
    """
    if not secret:
        return False
    try:
        return _hasher.verify(stored, secret)
    except InvalidHashError as exc:
        raise ValueError("The stored value is not an argon2 hash.") from exc
    except VerificationError:
        return False


def needs_rehash(stored: str) -> bool:
    """True if ``stored`` was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(stored)
