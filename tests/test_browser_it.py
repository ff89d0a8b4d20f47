"""The IT department's work end to end in a real headless Chromium: issuing remote access
for an approved agreement (secrets shown once), handing a laptop over and taking it back,
and downloading Excel rosters; with the app's strict CSP in force and axe-core checking
every page on the way."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from openpyxl import load_workbook
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from sqlmodel import select

from homeoffice.access.models import Credential, RemoteApplication
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.devices.models import Device, Handover
from homeoffice.directory.models import LocalDirectoryGroup
from homeoffice.people.models import Person
from tests.agreement_helpers import agreement_of, decide, post_request, request_id_from
from tests.conftest import BASE, AuthActions, csrf_token
from tests.servers.browser import Findings

pytestmark = pytest.mark.browser

OTTO = "Otto Weiß"
ASSET_TAG = "NB-0001"
MODEL = "ThinkPad T14"
ONCE = "nur einmal angezeigt"
QR_ALT = "QR-Code der WireGuard-Konfiguration für die WireGuard-App"
ROSTER = "Liste pro Person (Vereinbarung, Laptop, Zugang)"
IT_ONLY_ROSTERS = ("Geräteliste", "VPN-Liste", "Terminalserver-Liste")
ROSTER_HEADER = [
    "Name", "Personalnummer", "Amt", "Kostenstelle", "Ab", "Bis", "Zustand", "Laptops",
    "VPN", "Terminalserver", "Zugang bis", "Privater Computer",
]


# --- findings and people (as in test_browser_agreements) ------------------------------




def heading(page: Page):
    return page.get_by_role("heading", level=1)


def nav(page: Page, label: str, title: str | None = None) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()
    expect(heading(page)).to_have_text(title or label)


def flash(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


# --- the data the IT department works on ----------------------------------------------


@pytest.fixture
def approved(app) -> int:
    """Otto Weiß's approved agreement asking for laptop, VPN and terminal server, made
    through the pages (he has no supervisor, so HR decides with a quota override); plus
    what issuing needs in the local directory and a laptop in stock. Returns its id."""
    with app.app_context(), session_scope() as session:
        for name in ("vpn-users", "terminal-server-users"):
            session.add(LocalDirectoryGroup(dn=f"cn={name},ou=groups,{BASE}", name=name))
        session.add(RemoteApplication(name="DMS", networks="10.10.2.0/24", remote_access=True))
        session.add(Device(asset_tag=ASSET_TAG, serial_number="SN-0001", model=MODEL))
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("outsider")
    request_id = request_id_from(post_request(client, wants_terminal_server="y"))
    auth.logout()
    auth.login("hr")
    assert decide(client, request_id).status_code == 302
    agreement = agreement_of(app, "outsider")
    assert agreement is not None and agreement.state in ("approved", "active")
    return agreement.id


def issue_through_the_client(app, agreement_id: int) -> None:
    client = app.test_client()
    AuthActions(client).login("it")
    path = f"/it/agreements/{agreement_id}"
    response = client.post(f"{path}/issue", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]


def overdue_handover(app) -> None:
    """A second laptop with Carla Schäfer, due back a week ago."""
    with app.app_context(), session_scope() as session:
        device = Device(asset_tag="NB-0099", serial_number="SN-0099", model=MODEL, state="issued")
        session.add(device)
        people = {
            p.username: p.id
            for p in session.exec(
                select(Person).where(Person.username.in_(("c.schaefer", "i.roth")))
            )
        }
        session.flush()
        session.add(
            Handover(
                device_id=device.id,
                person_id=people["c.schaefer"],
                handed_over_on=date.today() - timedelta(days=60),
                handed_over_by_id=people["i.roth"],
                expected_return=date.today() - timedelta(days=7),
            )
        )


# --- 1. remote access -----------------------------------------------------------------


def test_it_issues_access_and_the_secrets_are_shown_once(
    app, approved, person, findings: Findings, tmp_path
):
    """IT finds the tasks, issues VPN and terminal-server access and sees the one-time
    page with every secret; back, forward and the access page never show them again."""
    it = person("it")  # a fresh login: issuing asks for one
    nav(it, "IT-Aufgaben")
    otto_rows = it.get_by_role("table").get_by_role("row").filter(has_text=OTTO)
    expect(otto_rows).to_have_count(3)
    for task in ("VPN-Zugang vergeben", "Terminalserver-Zugang vergeben", "Laptop ausgeben"):
        expect(otto_rows.filter(has_text=task)).to_have_count(1)
    findings.audit(it, "IT tasks")

    otto_rows.get_by_role("link", name="VPN-Zugang vergeben").click()
    expect(heading(it)).to_have_text(f"Zugang für {OTTO}")
    expect(it.get_by_text("Noch nichts vergeben.")).to_be_visible()
    access_url = it.url
    findings.audit(it, "access page before issuing")

    it.get_by_role("button", name="Zugang vergeben").click()
    expect(heading(it)).to_have_text(f"Zugang vergeben für {OTTO}")
    expect(it.get_by_role("alert")).to_contain_text(ONCE)
    ts = it.get_by_role("region", name="Terminalserver")
    ts_code = ts.locator("code").inner_text().strip()
    assert len(ts_code) >= 8, ts_code
    expect(ts).to_contain_text("Einmal-Code für die erste Anmeldung")

    findings.audit(it, "one-time page")
    # On a phone-sized screen (WCAG reflow) nothing makes the page or the config scroll
    # sideways: the long serial and keys wrap.
    it.set_viewport_size({"width": 320, "height": 640})
    assert it.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    findings.audit(it, "one-time page, 320 px wide")
    it.set_viewport_size({"width": 1280, "height": 720})

    cert = it.get_by_role("region", name="VPN-Zertifikat")
    expect(cert).to_contain_text("Passwort der Zertifikatsdatei")
    p12_password = cert.locator("code").inner_text().strip()
    serial = re.search(r"Seriennummer: ([0-9a-f]+)", cert.inner_text()).group(1)
    with it.expect_download() as download_info:
        cert.get_by_role("link", name="Zertifikatsdatei herunterladen (.p12)").click()
    download = download_info.value
    assert download.suggested_filename == "o.weiss.p12"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    key, certificate, _chain = pkcs12.load_key_and_certificates(
        target.read_bytes(), p12_password.encode()
    )
    assert key is not None and format(certificate.serial_number, "x") == serial

    wg = it.get_by_role("region", name="WireGuard")
    wg_config = wg.locator("pre").inner_text()
    assert "[Interface]" in wg_config and "PrivateKey" in wg_config, wg_config
    assert "10.10.2.0/24" in wg_config  # the one application open for remote access
    qr = wg.get_by_role("img", name=QR_ALT)
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/"))
    # the data: image really rendered under the CSP (img-src 'self' data:)
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    secrets = (ts_code, p12_password, wg_config.split("PrivateKey")[1].split()[1])

    def assert_no_secrets() -> None:
        html = it.content()
        assert ONCE not in html
        for secret in secrets:
            assert secret not in html

    # Back: the access page (a GET) lists the credentials, with no secret.
    it.go_back()
    expect(it).to_have_url(access_url)
    expect(heading(it)).to_have_text(f"Zugang für {OTTO}")
    issued = it.get_by_role("table", name="Vergebene Zugänge")
    for kind in (
        "VPN-Gruppe", "Terminalserver-Gruppe", "Terminalserver-Code", "VPN-Zertifikat",
        "WireGuard-Zugang",
    ):
        expect(issued.get_by_role("row").filter(has_text=kind)).to_contain_text("aktiv")
    expect(issued).to_contain_text(f"Seriennummer {serial}")
    expect(issued).to_contain_text(re.compile(r"10\.66\.0\.\d+"))
    assert_no_secrets()
    findings.audit(it, "access page with credentials")

    # Forward: the page came from a POST and is no-store, so Chromium has no copy to show
    # and does not send the form again by itself.
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
        it.go_forward()
    it.wait_for_url("chrome-error://**")
    assert_no_secrets()
    # Reload sends the form again: the service issues nothing twice and shows no secret.
    it.reload()
    expect(flash(it, "Alles, was diese Vereinbarung vorsieht, ist schon vergeben.")).to_be_visible()
    expect(it).to_have_url(access_url)
    assert_no_secrets()

    nav(it, "IT-Aufgaben")
    expect(it.get_by_role("row").filter(has_text="Zugang vergeben")).to_have_count(0)
    expect(it.get_by_role("row").filter(has_text="Laptop ausgeben")).to_have_count(1)

    nav(it, "Abgleich", "Abgleich mit dem Verzeichnis")
    expect(
        it.get_by_text("Das Verzeichnis stimmt mit dem überein, was der Dienst vergeben hat.")
    ).to_be_visible()
    findings.audit(it, "reconciliation page")
    with app.app_context(), session_scope() as session:
        assert len(session.exec(select(Credential)).all()) == 5
        issued_events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "access.issued")
        ).all()
        assert len(issued_events) == 1
    findings.assert_clean()


# --- 2. laptops -----------------------------------------------------------------------


def test_laptop_handed_over_confirmed_and_taken_back(app, approved, person, findings: Findings):
    """IT hands the laptop to Otto Weiß, he confirms the receipt in "Meine Geräte", IT
    sees the confirmation and takes the laptop back."""
    overdue_handover(app)
    it = person("it")
    nav(it, "Laptops")
    expect(it.get_by_text("2 Laptops")).to_be_visible()
    findings.audit(it, "laptop list")
    it.get_by_role("link", name="Laptops importieren").click()
    expect(heading(it)).to_have_text("Laptops importieren")
    expect(it.get_by_label("Excel-Datei (.xlsx)")).to_be_visible()
    findings.audit(it, "import page")
    nav(it, "Überfällige Rückgaben")
    overdue_row = it.get_by_role("row").filter(has_text="Carla Schäfer")
    expect(overdue_row).to_contain_text("NB-0099")
    expect(overdue_row.get_by_role("cell").nth(4)).to_have_text("7")
    findings.audit(it, "overdue returns")

    nav(it, "Laptops")
    it.get_by_role("link", name=ASSET_TAG).click()
    expect(heading(it)).to_have_text(f"Laptop {ASSET_TAG}")
    form = it.get_by_role("region", name="Laptop ausgeben")
    expect(form.get_by_label("Ausgegeben am")).to_have_value(date.today().isoformat())
    findings.audit(it, "device page with the hand-over form")
    form.get_by_label("Benutzername oder Personalnummer").fill("o.weiss")
    form.get_by_label("Zubehör").fill("Tasche, Netzteil, Maus")
    form.get_by_role("button", name="Ausgeben").click()
    expect(flash(it, f"Der Laptop {ASSET_TAG} ist an {OTTO} ausgegeben.")).to_be_visible()
    expect(heading(it)).to_contain_text("Übergabeprotokoll #")
    record_url = it.url
    expect(it.locator("dl")).to_contain_text("Tasche, Netzteil, Maus")
    expect(it.locator("dl")).to_contain_text("nicht bestätigt")
    expect(it.get_by_role("button", name="Ich bestätige den Empfang")).to_have_count(0)
    findings.audit(it, "handover record (IT)")

    otto = person("outsider")
    nav(otto, "Meine Geräte")
    expect(otto.get_by_role("row").filter(has_text=ASSET_TAG)).to_contain_text(MODEL)
    findings.audit(otto, "my devices")
    otto.get_by_role("link", name=MODEL).click()
    expect(otto).to_have_url(record_url)
    expect(otto.locator("dl")).to_contain_text("Tasche, Netzteil, Maus")
    findings.audit(otto, "handover record (person)")
    otto.get_by_role("button", name="Ich bestätige den Empfang").click()
    expect(flash(otto, "Danke. Sie haben den Empfang bestätigt.")).to_be_visible()
    expect(otto.locator("dl")).to_contain_text("bestätigt am")
    expect(otto.get_by_role("button", name="Ich bestätige den Empfang")).to_have_count(0)
    nav(otto, "Meine Geräte")
    expect(otto.get_by_role("row").filter(has_text=ASSET_TAG)).to_contain_text("bestätigt am")

    it.reload()
    it.get_by_role("link", name=f"Laptop {ASSET_TAG}").click()
    expect(heading(it)).to_have_text(f"Laptop {ASSET_TAG}")
    history = it.get_by_role("table", name="Ausgaben")
    expect(history.get_by_role("row").filter(has_text=OTTO)).to_contain_text("bestätigt am")
    back = it.get_by_role("region", name="Laptop zurücknehmen")
    expect(back).to_contain_text(f"Bei {OTTO} seit")
    findings.audit(it, "device page with the take-back form")
    back.get_by_label("Hinweis zur Rückgabe").fill("Tastatur abgenutzt")
    back.get_by_role("button", name="Zurücknehmen").click()
    expect(flash(it, f"Der Laptop {ASSET_TAG} ist zurückgenommen.")).to_be_visible()
    expect(it.get_by_role("region", name="Laptop ausgeben")).to_be_visible()
    expect(history.get_by_role("row").filter(has_text=OTTO)).to_contain_text(
        date.today().strftime("%d.%m.%Y")
    )

    nav(otto, "Meine Geräte")
    expect(otto.get_by_text("Sie haben keine Geräte von der IT.")).to_be_visible()
    findings.assert_clean()


# --- 3. exports -----------------------------------------------------------------------


def test_it_downloads_the_roster_and_hr_sees_only_its_own(
    app, approved, person, findings: Findings, tmp_path
):
    """IT downloads the roster per person and reads it back: German header, Otto Weiß with
    VPN. HR sees the exports page with the roster per person and the agreements only."""
    issue_through_the_client(app, approved)
    it = person("it")
    nav(it, "Exporte", "Excel-Exporte")
    for name in (ROSTER, "Vereinbarungen", *IT_ONLY_ROSTERS):
        expect(it.get_by_role("region", name=name, exact=True)).to_be_visible()
    findings.audit(it, "exports page (IT)")
    # Five download buttons: each says which roster it downloads, also out of context
    # (a screen reader's list of buttons), and still starts with its visible text.
    buttons = it.get_by_role("main").get_by_role("button")
    expect(buttons).to_have_count(5)
    all_rosters = (*IT_ONLY_ROSTERS, ROSTER, "Vereinbarungen")
    for button, name in zip(buttons.all(), all_rosters, strict=True):
        expect(button).to_have_accessible_name(f"Herunterladen (.xlsx) – {name}")
    section = it.get_by_role("region", name=ROSTER)
    expect(section.get_by_label("Amt")).to_have_value("")
    with it.expect_download() as download_info:
        section.get_by_role("button", name=f"Herunterladen (.xlsx) – {ROSTER}").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    sheet = load_workbook(target).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert header == ROSTER_HEADER
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    assert [row["Name"] for row in rows] == [OTTO]
    (otto,) = rows
    assert otto["VPN"] is True and otto["Terminalserver"] is True
    assert otto["Amt"] == "Ordnungsamt" and otto["Privater Computer"] is False

    hr = person("hr")
    nav(hr, "Exporte", "Excel-Exporte")
    sections = hr.get_by_role("main").get_by_role("region")
    expect(sections).to_have_count(3)
    expect(sections.nth(0)).to_have_accessible_name(ROSTER)
    expect(sections.nth(1)).to_have_accessible_name("Vereinbarungen")
    expect(sections.nth(2)).to_have_accessible_name(re.compile("^Anwesenheitsplan"))
    for name in IT_ONLY_ROSTERS:
        expect(hr.get_by_role("heading", name=name)).to_have_count(0)
    findings.audit(hr, "exports page (HR)")
    findings.assert_clean()
