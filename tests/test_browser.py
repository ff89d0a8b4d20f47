"""End to end in a real headless Chromium: login, navigation per role, logout, keyboard use,
language switch and accessibility (axe-core), with the app's strict CSP in force."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect
from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.devices.models import DEVICE_STATES, Device
from homeoffice.people.models import Unit
from homeoffice.rooms.models import Building, Room, RoomUnit
from tests.conftest import PASSWORD, PEOPLE
from tests.servers.browser import check_accessibility

pytestmark = pytest.mark.browser

#: German nav labels in the order NAVIGATION shows them; every person is also "employee"
NAV_LABELS = (
    "Start", "Mein Homeoffice", "Meine Geräte", "Meine Woche", "Anträge im Team",
    "Anträge zur Entscheidung", "Mein Team", "Teamplan", "Beschäftigte", "IT-Aufgaben",
    "Laptops", "Überfällige Rückgaben", "Abgleich", "Exporte", "Räume", "Belegung",
    "Kontaktbericht", "Sachstandsbericht", "Rollen", "Regeln", "Abläufe", "Webhooks",
    "Protokoll",
)

#: the nav entries each role sees, from NAVIGATION in homeoffice/templating.py
MINE = ["Start", "Mein Homeoffice", "Meine Geräte", "Meine Woche"]
EXPECTED_NAV = {
    "employee": MINE,
    "supervisor": [*MINE, "Anträge im Team", "Mein Team", "Teamplan"],
    "hr": [*MINE, "Anträge zur Entscheidung", "Beschäftigte", "Sachstandsbericht", "Exporte"],
    "it": [*MINE, "IT-Aufgaben", "Laptops", "Überfällige Rückgaben", "Abgleich", "Exporte"],
    "facility": [*MINE, "Exporte", "Räume", "Belegung", "Kontaktbericht"],
    "admin": [
        *MINE, "Beschäftigte", "Sachstandsbericht", "Rollen", "Regeln", "Abläufe", "Webhooks",
        "Protokoll",
    ],
}

ROLES = sorted(EXPECTED_NAV)


def _is_favicon(url: str) -> bool:
    """Chromium asks for /favicon.ico on its own; the app has none, which no page causes."""
    return url.endswith("/favicon.ico")


@dataclass
class PageProblems:
    """Console errors (CSP violations among them), script errors and failed requests."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.items.append(f"page error: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _is_favicon(message.location.get("url", "")):
            self.items.append(f"console: {message.text}")

    def _request_failed(self, request: Request) -> None:
        self.items.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not _is_favicon(response.url):
            self.items.append(f"HTTP {response.status}: {response.url}")


@pytest.fixture
def problems(page: Page) -> Iterator[PageProblems]:
    watcher = PageProblems()
    watcher.watch(page)
    yield watcher


def _readable(violations: list[dict]) -> str:
    return "\n".join(
        f"[{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["targets"])
        for v in violations
    )


def assert_accessible(page: Page, where: str) -> None:
    violations = check_accessibility(page)
    assert not violations, f"axe on {where} ({page.url}):\n{_readable(violations)}"


def main_nav(page: Page):
    return page.locator('nav[aria-label="Hauptnavigation"]')


def log_in(page: Page, base: str, role: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Benutzername").fill(PEOPLE[role][0])
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()


def is_focused(locator) -> bool:
    """Whether the element has the keyboard focus right now (no waiting)."""
    return locator.evaluate("element => element === document.activeElement")


def tab_until(page: Page, locator, limit: int = 10) -> int:
    """Press Tab until ``locator`` has the focus; return how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if is_focused(locator):
            return presses
    raise AssertionError(f"{limit} Tab presses never reached {locator}")


def reachable_pages(page: Page, base: str) -> list[tuple[str, str]]:
    """(label, URL) of every entry in the main navigation of the page shown."""
    links = main_nav(page).get_by_role("list").get_by_role("link")
    return [
        (link.inner_text().strip(), base + link.get_attribute("href"))
        for link in links.all()
    ]


@pytest.fixture
def furnished(app) -> None:
    """Rows in every table and a page size of 3, so the checked pages show tables with
    content and the pager, not only their empty states."""
    app.config["PAGE_SIZE"] = 3
    with app.app_context(), session_scope() as session:
        building = Building(name="Rathaus", address="Marktplatz 1")
        session.add(building)
        session.flush()
        unit_id = session.exec(select(Unit.id)).first()
        shared = Room(building_id=building.id, number="1.01", floor=1, capacity=4,
                      infection_capacity=2, step_free=True)
        session.add(shared)
        session.flush()
        session.add(RoomUnit(room_id=shared.id, unit_id=unit_id))
        session.add(Room(building_id=building.id, number="0.12", capacity=2))
        for number, state in enumerate(DEVICE_STATES):
            session.add(Device(asset_tag=f"NB-{number}", serial_number=f"SN-{number}",
                               model="ThinkPad T14", purchase_date=date(2025, 3, 1),
                               state=state))


@pytest.mark.parametrize("role", ROLES)
def test_role_logs_in_sees_its_navigation_and_logs_out(
    page: Page, live_server: str, furnished: None, problems: PageProblems, role: str
):
    """A person logs in through the form and sees exactly their role's nav entries; every
    entry opens a page without console errors, CSP violations, failed requests or serious
    or critical axe findings; logging out ends the session."""
    log_in(page, live_server, role)
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(PEOPLE[role][1])

    nav_links = main_nav(page).get_by_role("list").get_by_role("link")
    expect(nav_links).to_have_text(EXPECTED_NAV[role])
    for label in set(NAV_LABELS) - set(EXPECTED_NAV[role]):
        expect(main_nav(page).get_by_role("link", name=label, exact=True)).to_have_count(0)

    findings = []
    for label, url in reachable_pages(page, live_server):
        main_nav(page).get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(main_nav(page).get_by_role("link", name=label, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        violations = check_accessibility(page)
        if violations:
            findings.append(f"axe on {label} ({page.url}):\n{_readable(violations)}")
    assert not problems.items, "\n".join(problems.items)
    assert not findings, "\n".join(findings)

    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    expect(page.get_by_role("button", name="Abmelden")).to_have_count(0)
    page.goto(f"{live_server}/")
    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/login")))
    expect(page.get_by_label("Benutzername")).to_be_visible()


def test_login_page_is_accessible(page: Page, live_server: str):
    """The login page has no serious or critical axe findings: fresh, after a wrong
    password, with the field errors of an empty form, and with the notice shown to
    someone sent there from a protected page."""
    page.goto(f"{live_server}/login")
    expect(page.get_by_label("Benutzername")).to_be_visible()
    assert_accessible(page, "login page")

    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_label("Benutzername")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "login page with field errors")

    page.goto(f"{live_server}/")
    expect(page.get_by_role("status")).to_be_visible()
    assert_accessible(page, "login page after a redirect from /")

    log_in(page, live_server, "employee", password="wrong password")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "login page after a wrong password")


def test_login_works_with_the_keyboard_alone(page: Page, live_server: str):
    """The first Tab reaches the skip link, which moves focus to the content; Tab then
    walks user name, password and the submit button in that order, and Enter logs in."""
    page.goto(f"{live_server}/login")
    skip_link = page.get_by_role("link", name="Zum Inhalt springen")
    page.keyboard.press("Tab")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()

    page.goto(f"{live_server}/login")
    username = page.get_by_label("Benutzername")
    password = page.get_by_label("Passwort")
    submit = page.get_by_role("button", name="Anmelden")
    tab_until(page, username)
    presses = [tab_until(page, stop) for stop in (password, submit)]
    assert presses == [1, 1], f"Tab presses from user name to password, to button: {presses}"

    page.goto(f"{live_server}/login")
    tab_until(page, username)
    page.keyboard.type(PEOPLE["employee"][0])
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(PEOPLE["employee"][1])


def test_language_follows_browser_and_footer_switch(browser: Browser, live_server: str):
    """An English browser gets the English login page; after login the footer switch
    changes the interface to German and back."""
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{live_server}/login")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
        page.get_by_label("User name").fill(PEOPLE["employee"][0])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()

        page.get_by_label("Language").select_option("de")
        page.get_by_role("button", name="Switch").click()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
        expect(main_nav(page)).to_be_visible()

        page.get_by_label("Sprache").select_option("en")
        page.get_by_role("button", name="Wechseln").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
    finally:
        context.close()


def test_wrong_password_is_announced(page: Page, live_server: str):
    """A wrong password shows the German error in a role="alert" element, so screen
    readers announce it, and the user stays on the login page."""
    log_in(page, live_server, "employee", password="wrong password")
    expect(page.get_by_role("alert")).to_have_text("Benutzername oder Passwort ist falsch.")
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_label("Benutzername")).to_be_visible()
