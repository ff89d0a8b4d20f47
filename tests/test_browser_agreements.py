"""Requests and agreements end to end in a real headless Chromium: the employee asks, the
supervisor assesses, HR decides, and everyone sees the result, through labels and roles as
a person would, with the app's strict CSP in force and axe-core checking every page."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.servers.browser import Findings

pytestmark = pytest.mark.browser

SENT = "gesendet, wartet auf die Leitung"
ENDORSED = "befürwortet, wartet auf das Personalamt"
MARKED_FIELDS = "Bitte prüfen Sie die markierten Felder."
OVERRIDE = "Begründung für eine Ausnahme oder Quotenüberschreitung"




def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(label)


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def flash(page: Page, text: str):
    """The flashed message with this text (the stored verdict is a status element too)."""
    return page.get_by_role("status").filter(has_text=text)


def open_request_form(page: Page) -> None:
    nav(page, "Mein Homeoffice")
    page.get_by_role("link", name="Homeoffice beantragen").click()
    expect(heading(page)).to_have_text("Homeoffice beantragen")


def fill_commute_request(page: Page) -> None:
    """42 km each way, Tuesday and Thursday, from today until revoked, with a laptop."""
    page.get_by_label("Ich habe einen langen Arbeitsweg").check()
    page.get_by_label("Einfache Strecke in Kilometern").fill("42")
    page.get_by_role("radio", name="An festen Wochentagen").check()
    page.get_by_role("checkbox", name="Dienstag").check()
    page.get_by_role("checkbox", name="Donnerstag").check()
    page.get_by_label("Ab", exact=True).fill(date.today().isoformat())
    page.get_by_label("Bis auf Widerruf (ohne Enddatum)").check()
    page.get_by_label("Ich brauche einen Laptop").check()


def send_request(page: Page) -> str:
    """Send the filled form; return the URL of the request page it leads to."""
    page.get_by_role("button", name="Antrag senden").click()
    expect(page).to_have_url(re.compile(r"/homeoffice/requests/\d+$"))
    expect(heading(page)).to_contain_text(SENT)
    expect(flash(page, "Ihr Antrag ist gesendet.")).to_be_visible()
    return page.url


def open_from_queue(page: Page, name: str) -> None:
    page.get_by_role("table").get_by_role("link", name=name).click()
    expect(heading(page)).to_contain_text("Antrag #")


def decide(page: Page, decision: str, **fields: str) -> None:
    """Choose a decision, fill text fields by their label, record it."""
    page.get_by_role("radio", name=decision, exact=True).check()
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Entscheidung speichern").click()


def test_request_endorse_approve_and_the_employee_sees_the_agreement(person, findings: Findings):
    """The whole way of an approval: the employee checks and sends, the supervisor agrees,
    HR is refused without a quota override and approves with one; the employee then has
    an active agreement and its print view. Every page on the way is checked by axe."""
    employee = person("employee")
    open_request_form(employee)
    findings.audit(employee, "empty request form")
    fill_commute_request(employee)
    employee.get_by_role("button", name="Berechtigung prüfen").click()
    verdict = employee.get_by_role("status")
    expect(verdict).to_contain_text("Nach den Regeln berechtigt")
    expect(verdict).to_contain_text("Arbeitsweg 42 km ≥ 30 km")
    expect(employee.get_by_label("Einfache Strecke in Kilometern")).to_have_value("42")
    findings.audit(employee, "request form with verdict")
    request_url = send_request(employee)
    findings.audit(employee, "request page of the employee")

    supervisor = person("supervisor")
    nav(supervisor, "Anträge im Team")
    findings.audit(supervisor, "team page")
    supervisor.get_by_role("link", name="Emre Kaya").click()
    expect(supervisor).to_have_url(request_url)
    form = supervisor.get_by_role("region", name="Ihre Bewertung als Vorgesetzte oder Vorgesetzter")
    expect(form).to_be_visible()
    findings.audit(supervisor, "request page with the endorsement form")
    supervisor.get_by_role("radio", name="Ich stimme zu").check()
    supervisor.get_by_role("button", name="Bewertung senden").click()
    expect(flash(supervisor, "Ihre Bewertung ist gespeichert.")).to_be_visible()
    expect(heading(supervisor)).to_contain_text(ENDORSED)
    expect(form).to_have_count(0)

    hr = person("hr")
    nav(hr, "Anträge zur Entscheidung")
    hr.get_by_label("Amt", exact=True).select_option(label="Bürgerbüro")
    hr.get_by_role("button", name="Filtern").click()
    expect(hr).to_have_url(re.compile(r"[?&]unit=\d+"))
    expect(hr.get_by_role("table").get_by_role("row")).to_have_count(2)
    findings.audit(hr, "HR queue")
    open_from_queue(hr, "Emre Kaya")
    expect(hr).to_have_url(request_url)
    quota = hr.get_by_role("table", name=re.compile("Quote des Amtes bei Genehmigung"))
    expect(quota).to_be_visible()
    expect(quota.get_by_role("row")).to_have_count(6)  # header and Monday to Friday
    expect(quota.get_by_role("row").filter(has_text="Dienstag")).to_contain_text("über der Quote")
    findings.audit(hr, "request page with the decision form and quota table")
    findings.expected.add((409, urlsplit(request_url).path + "/decide"))  # refused on purpose
    decide(hr, "Genehmigen")
    # The refusal stands next to the field it is about, and the field is marked.
    override = hr.get_by_label(OVERRIDE)
    expect(override).to_have_attribute("aria-invalid", "true")
    expect(override).to_have_accessible_description(re.compile("überschreiten"))
    expect(heading(hr)).to_contain_text(ENDORSED)
    decide(hr, "Genehmigen", **{OVERRIDE: "Vertretung durch das Ordnungsamt geregelt"})
    expect(hr).to_have_url(re.compile(r"/homeoffice/agreements/\d+$"))
    expect(flash(hr, "Der Antrag ist genehmigt.")).to_be_visible()
    expect(heading(hr)).to_contain_text("Homeoffice-Vereinbarung")
    findings.audit(hr, "agreement page of HR")

    nav(employee, "Mein Homeoffice")
    current = employee.get_by_role("region", name="Ihre Vereinbarung")
    expect(current).to_contain_text("Zustand: aktiv.")
    current.get_by_role("link", name="Vereinbarung anzeigen").click()
    expect(heading(employee)).to_contain_text("Homeoffice-Vereinbarung")
    findings.audit(employee, "agreement page of the employee")
    employee.get_by_role("link", name="Druckansicht der Vereinbarung").click()
    expect(heading(employee)).to_contain_text("Dienstvereinbarung")
    expect(employee.get_by_text("ordinary@1", exact=True)).to_be_visible()
    findings.audit(employee, "print view")
    findings.assert_clean()


def test_hr_rejects_only_with_a_reason_and_the_person_sees_it(person, findings: Findings):
    """A rejection without a reason is refused and changes nothing; with one, the person
    sees "abgelehnt" and the reason on the request and on "Mein Homeoffice"."""
    outsider = person("outsider")  # no supervisor: HR decides directly
    open_request_form(outsider)
    fill_commute_request(outsider)
    send_request(outsider)

    hr = person("hr")
    nav(hr, "Anträge zur Entscheidung")
    open_from_queue(hr, "Otto Weiß")
    findings.expected.add((409, urlsplit(hr.url).path + "/decide"))  # refused on purpose
    decide(hr, "Ablehnen")
    reason = hr.get_by_label("Begründung (bei Ablehnung Pflicht)")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_have_accessible_description("Bitte begründen Sie die Ablehnung.")
    expect(heading(hr)).to_contain_text(SENT)
    expect(hr.get_by_role("region", name="Entscheidung des Personalamts")).to_be_visible()
    decide(hr, "Ablehnen", **{"Begründung (bei Ablehnung Pflicht)": "Publikumsverkehr"})
    expect(flash(hr, "Der Antrag ist abgelehnt.")).to_be_visible()
    expect(heading(hr)).to_contain_text("abgelehnt")

    outsider.reload()
    expect(heading(outsider)).to_contain_text("abgelehnt")
    expect(outsider.get_by_text("Publikumsverkehr")).to_be_visible()
    nav(outsider, "Mein Homeoffice")
    row = outsider.get_by_role("row").filter(has_text="Publikumsverkehr")
    expect(row).to_contain_text("abgelehnt")
    findings.assert_clean()


def test_withdrawn_request_can_be_asked_again(person, findings: Findings):
    """A sent request can be withdrawn; afterwards "Homeoffice beantragen" is offered again."""
    employee = person("employee")
    open_request_form(employee)
    fill_commute_request(employee)
    send_request(employee)
    employee.get_by_role("button", name="Antrag zurückziehen").click()
    expect(flash(employee, "Ihr Antrag ist zurückgezogen.")).to_be_visible()
    expect(heading(employee)).to_contain_text("zurückgezogen")
    expect(employee.get_by_role("button", name="Antrag zurückziehen")).to_have_count(0)

    nav(employee, "Mein Homeoffice")
    expect(employee.get_by_role("row").filter(has_text="zurückgezogen")).to_have_count(1)
    employee.get_by_role("link", name="Homeoffice beantragen").click()
    expect(heading(employee)).to_have_text("Homeoffice beantragen")
    findings.assert_clean()


def assert_marked(page: Page, *fields: tuple[str, str]) -> None:
    """Each (label, error): the field is marked invalid and the error is its description,
    so a screen reader says both when the field gets the focus."""
    for label, error in fields:
        control = page.get_by_label(label, exact=True)
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_accessible_description(re.compile(re.escape(error)))


def is_focused(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page: Page, locator, limit: int = 40) -> None:
    """Press Tab until ``locator`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if is_focused(locator):
            return
    raise AssertionError(f"{limit} Tab presses never reached {locator}")


def test_form_errors_are_marked_and_the_form_works_with_the_keyboard(person, findings: Findings):
    """Help texts and errors are tied to their fields (aria-describedby, aria-invalid), and
    the form can be filled, checked and sent with the keyboard alone."""
    findings.expected.add((400, "/homeoffice/requests/new"))  # the form with errors
    employee = person("employee")
    open_request_form(employee)
    for label, help_text in (
        ("Gesundheitliche Gründe", "Schreiben Sie keine Krankheit auf."),
        ("Ich nutze meinen privaten Computer", "nur Zugang zum Terminalserver"),
    ):
        expect(employee.get_by_label(label)).to_have_accessible_description(
            re.compile(re.escape(help_text))
        )
    employee.get_by_role("button", name="Antrag senden").click()
    expect(employee.get_by_role("alert")).to_have_text(MARKED_FIELDS)
    expect(employee).to_have_url(re.compile(r"/homeoffice/requests/new$"))
    assert_marked(
        employee,
        ("Ich betreue Kinder unter 14 Jahren", "Bitte wählen Sie mindestens einen Grund."),
        ("Anteil der Woche in Prozent", "Bitte geben Sie den Anteil der Woche an."),
        ("Bis", "Bitte geben Sie den letzten Tag an oder wählen Sie „bis auf Widerruf“."),
    )
    findings.audit(employee, "request form with errors")

    # Keyboard only from here: Tab, Space, arrows, Enter and typing.
    commute = employee.get_by_label("Ich habe einen langen Arbeitsweg")
    tab_to(employee, employee.get_by_label("Ich betreue Kinder unter 14 Jahren"))
    tab_to(employee, commute)
    employee.keyboard.press("Space")
    expect(commute).to_be_checked()
    employee.keyboard.press("Tab")
    expect(employee.get_by_label("Einfache Strecke in Kilometern")).to_be_focused()
    employee.keyboard.type("42")
    tab_to(employee, employee.get_by_role("radio", name="Ein Anteil der Woche"))
    employee.keyboard.press("ArrowDown")
    expect(employee.get_by_role("radio", name="An festen Wochentagen")).to_be_checked()
    tab_to(employee, employee.get_by_label("Bis auf Widerruf (ohne Enddatum)"))
    employee.keyboard.press("Space")
    tab_to(employee, employee.get_by_role("button", name="Berechtigung prüfen"))
    employee.keyboard.press("Enter")  # no weekday chosen yet
    expect(employee.get_by_role("alert")).to_have_text(MARKED_FIELDS)
    weekday_error = "Bitte wählen Sie mindestens einen Wochentag."
    assert_marked(employee, *((day, weekday_error) for day in ("Montag", "Freitag")))
    expect(employee.get_by_label("Einfache Strecke in Kilometern")).to_have_value("42")

    for day in ("Dienstag", "Donnerstag"):
        tab_to(employee, employee.get_by_role("checkbox", name=day))
        employee.keyboard.press("Space")
    tab_to(employee, employee.get_by_role("button", name="Berechtigung prüfen"))
    employee.keyboard.press("Enter")
    expect(employee.get_by_role("status")).to_contain_text("Arbeitsweg 42 km ≥ 30 km")
    expect(employee.get_by_role("checkbox", name="Dienstag")).to_be_checked()
    expect(employee.get_by_role("checkbox", name="Donnerstag")).to_be_checked()
    tab_to(employee, employee.get_by_role("button", name="Antrag senden"), limit=80)
    employee.keyboard.press("Enter")
    expect(heading(employee)).to_contain_text(SENT)
    findings.assert_clean()
