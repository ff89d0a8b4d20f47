"""German by default, English complete, and every text translated."""

import subprocess
import sys

from babel.messages.pofile import read_po

CATALOG = "homeoffice/translations/de/LC_MESSAGES/messages.po"


def test_german_is_the_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "Anmelden" in html and "Benutzername" in html


def test_english_follows_the_browser(client):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in html
    assert "Log in" in html and "User name" in html


def test_switch_overrides_the_browser(client, auth):
    auth.login("employee")
    from tests.conftest import csrf_token

    token = csrf_token(client, "/")
    response = client.post("/language", data={"lang": "en", "csrf_token": token, "next": "/"})
    assert response.status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "About you" in html and "Ihre Angaben" not in html
    response = client.post("/language", data={"lang": "xx", "csrf_token": token, "next": "//evil"})
    assert response.location == "/"  # no open redirect, unknown language ignored
    assert "About you" in client.get("/").get_data(as_text=True)


def test_every_message_has_a_german_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            "--no-location",
            ".",
        ],
        check=True,
        capture_output=True,
    )
    with open(pot, "rb") as f:
        template = read_po(f)
    with open(CATALOG, "rb") as f:
        catalog = read_po(f, locale="de")
    missing = []
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id)
        strings = translated.string if translated else None
        if isinstance(strings, tuple):
            ok = all(strings)
        else:
            ok = bool(strings)
        if not ok or (translated and translated.fuzzy):
            missing.append(message.id)
    assert missing == [], f"untranslated: {missing}"
