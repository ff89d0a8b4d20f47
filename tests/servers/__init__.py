"""Real servers the test suite starts itself: slapd, PostgreSQL, Chromium.

Without ``HOMEOFFICE_REQUIRE_SERVICES=1`` a missing server skips the tests that need
it, with the reason; with it set (as in CI) the same absence fails them.
"""

from __future__ import annotations

import os
import socket

import pytest


def services_required() -> bool:
    return os.environ.get("HOMEOFFICE_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (CI) a test whose real server cannot be had."""
    if services_required():
        pytest.fail(f"{reason} (HOMEOFFICE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
