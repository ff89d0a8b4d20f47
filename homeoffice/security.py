"""Access rules, the login manager and HTTP security headers.

Deny by default: every view states who may call it with ``@public`` or
``@roles_required(...)``. A view that states nothing answers 403 to everyone, so a
forgotten decorator can never open a page (SECURITY.md item 14).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, abort, current_app, g, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from homeoffice.auth.models import LoginSession
from homeoffice.people.models import Person

log = logging.getLogger(__name__)

PUBLIC = "public"

login_manager = LoginManager()
csrf = CSRFProtect()


class Principal:
    """The logged-in person as Flask-Login sees them, with their login session.

    ``get_id`` returns the session token rather than the person's id: Flask-Login
    keeps it in the signed cookie and the server looks it up on every request.
    """

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, person: Person, login_session: LoginSession, token: str) -> None:
        self.person = person
        self.login_session = login_session
        self._token = token

    def get_id(self) -> str:
        return self._token

    @property
    def id(self) -> int:
        return self.person.id

    @property
    def roles(self) -> frozenset[str]:
        return self.person.role_set

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def public(view: Callable) -> Callable:
    """Mark a view as reachable without login (login page, health check)."""
    view.access = PUBLIC
    return view


def roles_required(*roles: str) -> Callable[[Callable], Callable]:
    """Allow a view to logged-in people holding at least one of ``roles``."""
    if not roles:
        raise ValueError("name at least one role")

    def decorate(view: Callable) -> Callable:
        view.access = frozenset(roles)
        return view

    return decorate


def recent_login() -> bool:
    """The password was checked within FRESH_LOGIN_MINUTES."""
    from homeoffice.db import utcnow

    limit = timedelta(minutes=current_app.config["FRESH_LOGIN_MINUTES"])
    return utcnow() - current_user.login_session.authenticated_at <= limit


def fresh_login_required(view: Callable) -> Callable:
    """Ask for the password again when the login is older than FRESH_LOGIN_MINUTES.

    For role changes, credentials, health details and exports (SECURITY.md item 12).
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not recent_login():
            return login_manager.needs_refresh()
        return view(*args, **kwargs)

    wrapper.access = getattr(view, "access", None)
    return wrapper


def _enforce_access():
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 / 405 follow from routing
    view = current_app.view_functions.get(endpoint)
    if endpoint == "static" or endpoint.endswith(".static"):
        return None
    access = getattr(view, "access", None)
    if access == PUBLIC:
        return None
    check = getattr(view, "access_check", None)
    if check is not None and access:
        # Views that authenticate their own way (the JSON API: bearer tokens, JSON
        # errors instead of the login page) bring their check; it runs here, so this
        # stays the one place that decides every request's access.
        return check(access)
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not access:
        log.error("View %s declares no access rule; refused", endpoint)
        abort(403)
    if not current_user.has_role(*access):
        abort(403)
    return None


def _load_principal(token: str) -> Principal | None:
    from homeoffice.auth.services import load_session
    from homeoffice.db import get_session

    config = current_app.config
    loaded = load_session(
        get_session(),
        token,
        idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
        lifetime=timedelta(hours=config["SESSION_MAX_HOURS"]),
    )
    if loaded is None:
        g.session_ended = True
        return None
    login_session, person = loaded
    return Principal(person, login_session, token)


def content_security_policy() -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["HSTS"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    # Pages show personal data: keep them out of shared caches and the back button
    # of a shared computer. Static files keep their own caching.
    if request.endpoint and not request.endpoint.endswith("static"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.refresh_view = "auth.login"
    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.needs_refresh_message = _l("Please enter your password again to continue.")
    login_manager.login_message_category = "info"
    login_manager.needs_refresh_message_category = "info"
    login_manager.user_loader(_load_principal)
    app.before_request(_enforce_access)
    app.after_request(_security_headers)
