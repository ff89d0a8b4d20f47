"""HTTP headers, error pages and output escaping (SECURITY.md items 19, 21, 26, 27)."""

from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import LocalDirectoryUser
from homeoffice.people.services import sync_people
from tests.conftest import ROLE_GROUPS


def test_security_headers_on_every_page(client, auth):
    for response in (client.get("/login"), client.get("/health")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no external hosts
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"


def test_pages_hold_no_inline_script_or_style(client, auth):
    auth.login("admin")
    for path in ("/login", "/", "/people/", "/admin/audit", "/admin/roles"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and "<script " not in html.replace('<script src="', "")
        assert " style=" not in html and "<style" not in html


def test_bootstrap_is_served_by_the_app(client):
    html = client.get("/login").get_data(as_text=True)
    assert "cdn" not in html.lower()
    import re

    href = next(h for h in re.findall(r'<link[^>]*href="([^"]+)"', html) if "bootstrap" in h)
    assert href.startswith("/")
    assert client.get(href).status_code == 200


def test_error_pages_reveal_nothing(app, client):
    from flask import Blueprint

    bp = Blueprint("boom", __name__)

    @bp.get("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    boom.access = "public"
    app.register_blueprint(bp)
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "hunter2" not in html and "Traceback" not in html and "RuntimeError" not in html
    assert "Bei uns ist ein Fehler passiert." in html
    not_found = client.get("/no/such/page")
    assert not_found.status_code == 404
    assert "Diese Seite gibt es nicht." in not_found.get_data(as_text=True)


def test_stored_xss_renders_as_text(app, client, auth):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with app.app_context(), session_scope() as session:
        user = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == "e.kaya")
        ).one()
        user.display_name = payload
        session.flush()
        sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)
    auth.login("hr")
    html = client.get("/people/?q=script").get_data(as_text=True)
    assert payload not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_form_posts_carry_csrf_tokens(client, auth):
    auth.login("employee")
    html = client.get("/").get_data(as_text=True)
    forms = html.count("<form")
    assert forms >= 2  # logout and language
    assert html.count('name="csrf_token"') >= html.count('method="post"')


def test_language_switch_needs_token_and_post(client, auth):
    auth.login("employee")
    assert client.get("/language?lang=en").status_code == 405
    assert client.post("/language", data={"lang": "en"}).status_code == 400
