"""Errors of the API as JSON: ``{"error": {"status", "message", "fields"?}}``.

Every answer under ``/api/v1`` that is not a success has this shape, in the caller's
language (Accept-Language; German by default), and reveals nothing internal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def default_message(status: int) -> str:
    messages = {
        400: _("The request is not valid."),
        401: _("Please log in or send an API token (Authorization: Bearer …)."),
        403: _("You may not do this."),
        404: _("Not found."),
        405: _("This method is not allowed here."),
        409: _("This is not possible in the current state."),
        413: _("The request is too large."),
        415: _("Please send a JSON object with Content-Type: application/json."),
        500: _("Something went wrong on our side. Please try again later."),
    }
    return messages.get(status) or messages[500 if status >= 500 else 400]


class ApiError(HTTPException):
    """An answer with an error status, a message and, for invalid input, a message per
    field. An HTTPException, so that outside the API it still answers with its status."""

    def __init__(
        self,
        status: int,
        message=None,
        *,
        fields: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description=None if message is None else str(message))
        self.code = status
        self.fields = {name: str(text) for name, text in (fields or {}).items()}
        self.extra_headers = dict(headers or {})


def bearer_challenge(error: str | None = None) -> dict[str, str]:
    """The ``WWW-Authenticate`` header of a 401 (RFC 6750)."""
    value = 'Bearer realm="homeoffice"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def error_response(status: int, message=None, *, fields=None, headers=None):
    body: dict[str, object] = {"status": status, "message": str(message or default_message(status))}
    if fields:
        body["fields"] = dict(fields)
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers.update(bearer_challenge())
    return response


def register(bp: Blueprint) -> None:
    """JSON for every error of a request routed to ``bp``."""

    @bp.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error_response(
            error.code, error.description, fields=error.fields, headers=error.extra_headers
        )

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        headers = {}
        if error.code == 405:
            headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
        return error_response(error.code or 500, headers=headers)

    @bp.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500)
