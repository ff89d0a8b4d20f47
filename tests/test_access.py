"""Deny by default and role checks (SECURITY.md items 14, 15, 17)."""

import re

import pytest

from homeoffice.security import PUBLIC
from tests.conftest import csrf_token

#: besides login and health, the CA certificate and its revocation list are public at
#: fixed addresses (VPN gateways fetch them without a login), and the calendar feed,
#: whose secret address is its only key (calendar clients cannot log in)
PUBLIC_PATHS = {"/login", "/health", "/crl.der", "/ca.pem", "/presence/calendar/1.ics"}


def _endpoints(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule


def _concrete(rule) -> str:
    # Fill URL variables with a plausible value; the check happens before the view runs.
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "1", rule.rule)


def test_every_endpoint_but_login_health_and_static_needs_login(app):
    client = app.test_client()
    checked = 0
    for rule in _endpoints(app):
        path = _concrete(rule)
        view = app.view_functions[rule.endpoint]
        if path in PUBLIC_PATHS:
            assert getattr(view, "access", None) == PUBLIC
            continue
        access = getattr(view, "access", None)
        assert access and access != PUBLIC, f"{rule.endpoint} declares no role"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            # With a valid CSRF token, so that it is the login check that refuses.
            data = {"csrf_token": csrf_token(client)} if method != "GET" else None
            response = client.open(path, method=method, data=data)
            checked += 1
            if path.startswith("/api/v1/"):
                # The JSON API answers 401 with a bearer challenge, not the login page.
                assert response.status_code == 401, (rule.endpoint, method)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert response.get_json()["error"]["status"] == 401
                continue
            assert response.status_code == 302, (rule.endpoint, method, response.status_code)
            assert response.location.startswith("/login"), (rule.endpoint, method)
    assert checked >= 7


def test_the_only_public_endpoints_are_login_health_and_the_ca(app):
    public = {
        _concrete(rule)
        for rule in _endpoints(app)
        if getattr(app.view_functions[rule.endpoint], "access", None) == PUBLIC
    }
    assert public == PUBLIC_PATHS


def test_view_without_access_rule_is_refused_to_everyone(app, client, auth):
    from flask import Blueprint

    bp = Blueprint("forgotten", __name__)

    @bp.get("/forgotten")
    def forgotten():
        return "should never be seen"

    app.register_blueprint(bp)
    auth.login("admin")
    response = client.get("/forgotten")
    assert response.status_code == 403
    assert "should never be seen" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "employee",
            ["/"],
            ["/people/", "/people/team", "/devices/", "/rooms/", "/admin/audit", "/admin/roles"],
        ),
        ("supervisor", ["/", "/people/team"], ["/people/", "/devices/", "/rooms/", "/admin/audit"]),
        ("hr", ["/", "/people/"], ["/people/team", "/devices/", "/rooms/", "/admin/audit"]),
        ("it", ["/", "/devices/"], ["/people/", "/rooms/", "/admin/roles"]),
        ("facility", ["/", "/rooms/"], ["/people/", "/devices/", "/admin/audit"]),
        (
            "admin",
            ["/", "/people/", "/admin/audit", "/admin/roles"],
            ["/devices/", "/rooms/", "/people/team"],
        ),
    ],
)
def test_roles_see_their_pages_only(client, auth, role, allowed, refused):
    auth.login(role)
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in refused:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Sie dürfen diese Seite nicht öffnen." in response.get_data(as_text=True)


def test_supervisor_team_lists_own_unit_only(client, auth):
    auth.login("supervisor")
    html = client.get("/people/team").get_data(as_text=True)
    assert "Emre Kaya" in html and "Carla Schäfer" in html
    assert "Otto Weiß" not in html and "Hilde Lang" not in html


def test_navigation_shows_each_role_its_pages(client, auth):
    auth.login("it")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/devices/"' in html
    assert 'href="/people/"' not in html and 'href="/admin/audit"' not in html
