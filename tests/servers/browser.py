"""A real headless Chromium for end-to-end and accessibility tests.

We drive Debian's /usr/bin/chromium through Playwright and never download a browser. Pages
open in a German context because the service's users are German and the UI negotiates its
language from Accept-Language.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.servers import unavailable

CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

#: Locale of every test page; Chromium derives Accept-Language from it.
LOCALE = "de-DE"

#: axe impacts that fail a test; "minor" and "moderate" findings are left to review.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session, closed at its end."""
    if not CHROMIUM.is_file():
        unavailable("Chromium not installed: apt-get install chromium")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own German-speaking context, so no cookies leak between tests."""
    context = browser.new_context(locale=LOCALE)
    try:
        yield context.new_page()
    finally:
        context.close()


def check_accessibility(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now and return its serious and critical violations.

    Each violation is a dict with ``id``, ``impact``, ``help`` and ``targets`` (one CSS
    selector per offending node), so a test can ``assert not violations, violations``.

    The page keeps its Content-Security-Policy: Playwright evaluates the axe script through
    the DevTools protocol, which the page's CSP does not govern, so no ``bypass_csp`` is
    needed and the check sees the page exactly as users do.
    """
    results = Axe().run(page)
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [_selector(node["target"]) for node in violation["nodes"]],
        }
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def _selector(target: list[Any]) -> str:
    """One selector for an axe node target; frames and shadow roots nest as lists."""
    return " >>> ".join(
        " >> ".join(part) if isinstance(part, list) else str(part) for part in target
    )
