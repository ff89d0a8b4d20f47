"""A real headless Chromium for end-to-end and accessibility tests.

We drive Debian's /usr/bin/chromium through Playwright and never download a browser. Pages
open in a German context because the service's users are German and the UI negotiates its
language from Accept-Language.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

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


@dataclass
class Findings:
    """Console errors (CSP violations among them), script errors and serious or critical
    axe findings of every page a test looks at, reported together at its end."""

    console: list[str] = field(default_factory=list)
    axe: list[str] = field(default_factory=list)
    #: (status, path) of responses a test provokes on purpose, e.g. a 400 for a bad form;
    #: Chromium logs those as console errors too
    expected: set[tuple[int, str]] = field(default_factory=set)

    def watch(self, page: Page, who: str) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and not self._expected(message):
                self.console.append(f"{who} on {page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console.append(f"{who}: page error {error}"))

    def _expected(self, message: ConsoleMessage) -> bool:
        url = message.location.get("url", "")
        if url.endswith("/favicon.ico"):  # Chromium asks on its own; the app has none
            return True
        return any(
            url.endswith(path) and f"status of {status} " in message.text
            for status, path in self.expected
        )

    def audit(self, page: Page, where: str) -> None:
        for v in check_accessibility(page):
            targets = "\n    ".join(v["targets"])
            self.axe.append(
                f"{where} ({page.url}) [{v['impact']}] {v['id']}: {v['help']}\n    {targets}"
            )

    def assert_clean(self) -> None:
        assert not self.console, "\n".join(self.console)
        assert not self.axe, "axe:\n" + "\n".join(self.axe)
