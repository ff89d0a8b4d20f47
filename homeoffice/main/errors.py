"""Error pages that say what happened in plain words and reveal nothing internal."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _messages():
    return {
        400: _("The request could not be understood. Please go back and try again."),
        403: _("You do not have permission to open this page."),
        404: _("This page does not exist."),
        405: _("This action is not possible here."),
        413: _("The file is too large."),
        429: _("Too many requests. Please wait a moment and try again."),
        500: _("Something went wrong on our side. Please try again later."),
        503: _("The service is not available right now. Please try again later."),
    }


def _render(status: int, error: HTTPException | None = None):
    if request.path.startswith("/api/"):
        # Refused before any API view was chosen (e.g. an unusual method such as
        # PROPFIND): answer in the API's own error shape, not a page.
        from homeoffice.api.errors import error_response

        allow = getattr(error, "valid_methods", None) if status == 405 else None
        return error_response(status, headers={"Allow": ", ".join(allow)} if allow else None)
    message = _messages().get(status, _messages()[500])
    if request.accept_mimetypes.best == "application/json":
        return {"error": message, "status": status}, status
    return render_template("errors/error.html", status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return render_template(
            "errors/error.html",
            status=400,
            message=_("The form has expired. Please reload the page and send it again."),
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _render(error.code or 500, error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return _render(error.code or 500, error)
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return _render(InternalServerError.code)
