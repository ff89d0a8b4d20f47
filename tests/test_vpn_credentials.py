"""One-time secrets: initial passwords, enrollment codes, argon2id hashes.

SECURITY.md item 7: secrets come from ``secrets``, meet AD's complexity rules, are
stored only as hashes and never reach a log. Also checks that ``vpn`` stays a plain
library (no Flask, no database, nothing from ``homeoffice``).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from vpn.credentials import (
    DIGITS,
    ENROLLMENT_ALPHABET,
    LOWER,
    PASSWORD_ALPHABET,
    SYMBOLS,
    UPPER,
    contains_name_part,
    hash_secret,
    is_complex,
    needs_rehash,
    new_enrollment_code,
    new_initial_password,
    normalize_enrollment_code,
    verify_secret,
)

LOOK_ALIKES = set("0O1lI")


def test_initial_password_has_every_character_class_and_no_look_alikes() -> None:
    for _ in range(500):
        password = new_initial_password()
        assert len(password) == 16
        assert is_complex(password)
        assert any(c in UPPER for c in password)
        assert any(c in LOWER for c in password)
        assert any(c in DIGITS for c in password)
        assert any(c in SYMBOLS for c in password)
        assert set(password) <= set(PASSWORD_ALPHABET)
        assert not set(password) & LOOK_ALIKES


def test_initial_password_length_is_configurable_with_a_floor() -> None:
    assert len(new_initial_password(24)) == 24
    assert is_complex(new_initial_password(12))
    with pytest.raises(ValueError, match="at least 12"):
        new_initial_password(8)


def test_initial_passwords_do_not_repeat() -> None:
    draws = [new_initial_password() for _ in range(10_000)]
    assert len(set(draws)) == len(draws)


def test_is_complex_needs_all_four_classes() -> None:
    assert is_complex("Ab3!")
    assert not is_complex("Abcdefg3")
    assert not is_complex("abc3!xyz")
    assert not is_complex("ABC!DEFG")


def test_name_parts_follow_active_directory_rules() -> None:
    assert contains_name_part("xxMuSTERmannyy", ["Max Mustermann"])
    assert contains_name_part("k9mAx!", ["m.max"])
    assert not contains_name_part("Xx!9ab", ["Li, Bo"])  # parts shorter than 3 count not
    assert not contains_name_part("Ab3!Ab3!Ab3!", [])


def test_initial_password_avoids_name_parts() -> None:
    # 300 three-letter parts make roughly one draw in ten collide, so the redraw runs.
    parts = [new_initial_password()[:3] for _ in range(300)]
    for _ in range(100):
        assert not contains_name_part(new_initial_password(avoid=parts), parts)


def test_enrollment_code_format_and_uniqueness() -> None:
    pattern = re.compile(rf"[{ENROLLMENT_ALPHABET}]{{4}}(-[{ENROLLMENT_ALPHABET}]{{4}}){{3}}")
    codes = [new_enrollment_code() for _ in range(10_000)]
    assert all(pattern.fullmatch(code) for code in codes)
    assert not set("".join(codes)) & (LOOK_ALIKES | {"L"})
    assert len(set(codes)) == len(codes)


def test_enrollment_code_is_normalized_as_typed() -> None:
    code = new_enrollment_code()
    assert normalize_enrollment_code(code) == code
    assert normalize_enrollment_code(code.lower().replace("-", " ")) == code
    assert normalize_enrollment_code(code.replace("-", "")) == code
    for wrong in ["", "ABCD-EFGH", "OOOO-OOOO-OOOO-OOOO", code + "A"]:
        with pytest.raises(ValueError):
            normalize_enrollment_code(wrong)


def test_hash_verifies_the_right_secret_only() -> None:
    secret = new_initial_password()
    stored = hash_secret(secret)
    assert stored.startswith("$argon2id$")
    assert verify_secret(stored, secret)
    assert not verify_secret(stored, secret + "x")
    assert not verify_secret(stored, secret.lower())
    assert not verify_secret(stored, "")
    assert not needs_rehash(stored)


def test_hash_does_not_contain_the_secret_and_is_salted() -> None:
    code = new_enrollment_code()
    first, second = hash_secret(code), hash_secret(code)
    assert first != second
    for stored in (first, second):
        assert code not in stored
        assert code.replace("-", "") not in stored
        assert code.encode().hex() not in stored


def test_empty_secret_is_not_hashed() -> None:
    with pytest.raises(ValueError):
        hash_secret("")


def test_damaged_hash_is_not_a_wrong_secret() -> None:
    with pytest.raises(ValueError, match="not an argon2 hash"):
        verify_secret("plain-text-password", "plain-text-password")


def test_secrets_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = new_initial_password()
    code = new_enrollment_code()
    verify_secret(hash_secret(password), password)
    verify_secret(hash_secret(code), code)
    assert password not in caplog.text
    assert code not in caplog.text


@pytest.mark.parametrize("module", ["vpn.credentials", "vpn.ca", "vpn.wireguard"])
def test_vpn_library_imports_no_web_or_database_code(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'sqlmodel', 'sqlalchemy', 'homeoffice'})\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
