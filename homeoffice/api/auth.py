"""Who calls the API: a bearer token first; else, for reading only, the browser login.

A request that only carries a session cookie cannot change anything through the API,
so cross-site request forgery has nothing to work with, and the API blueprint is exempt
from the CSRF check. Every API view states its roles with ``api_roles``; the one access
check in ``homeoffice.security`` calls `check_access` for them.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import g, request
from flask_babel import gettext as _
from flask_login import current_user

from homeoffice.api import services
from homeoffice.api.errors import ApiError, bearer_challenge
from homeoffice.api.services import ApiPrincipal
from homeoffice.db import get_session, utcnow

#: methods a browser login may use on the API: they change nothing
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def api_roles(*roles: str) -> Callable[[Callable], Callable]:
    """Allow an API view to callers whose effective roles include one of ``roles``.

    ``access`` carries the roles like ``roles_required`` does (the deny-by-default test
    reads it); ``access_check`` tells the access check to authenticate the API's way.
    """
    if not roles:
        raise ValueError("name at least one role")

    def decorate(view: Callable) -> Callable:
        view.access = frozenset(roles)
        view.access_check = check_access
        return view

    return decorate


def check_access(access: frozenset[str]) -> None:
    """Authenticate the caller and check their roles; raises ApiError 401 or 403."""
    principal = _authenticate()
    g.api_principal = principal
    if principal.person is None and request.method not in READ_METHODS:
        # Writes act for a person (a request is someone's, a decision someone's).
        raise ApiError(
            403, _("This needs a personal API token: a service token acts for no person.")
        )
    if not principal.has_role(*access):
        raise ApiError(403, _("Your roles or the scope of your token do not allow this."))


def current_principal() -> ApiPrincipal:
    return g.api_principal


def _authenticate() -> ApiPrincipal:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _space, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise ApiError(
                401,
                _("Please send the token as: Authorization: Bearer <token>."),
                headers=bearer_challenge("invalid_request"),
            )
        try:
            return services.authenticate(get_session(), value, now=utcnow())
        except services.TokenRefused as refused:
            raise ApiError(
                401, refused.message, headers=bearer_challenge("invalid_token")
            ) from None
    if request.method not in READ_METHODS:
        raise ApiError(
            401,
            _("Write requests need an API token; a browser login can only read through the API."),
        )
    if current_user.is_authenticated:
        from homeoffice.security import recent_login

        return ApiPrincipal(
            person=current_user.person, roles=current_user.roles, fresh=recent_login()
        )
    raise ApiError(401)
