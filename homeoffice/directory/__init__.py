"""Which directory this installation talks to, made per request or job."""

from __future__ import annotations

from flask import current_app, g
from sqlmodel import Session

from vpn.directory import Directory


def open_directory(config, session: Session) -> Directory:
    """A fresh directory client for the configured kind; the caller closes it."""
    if config["DIRECTORY"] == "ldap":
        from vpn.ldap import LdapDirectory

        return LdapDirectory.from_config(config)
    from homeoffice.directory.local import LocalDirectory

    return LocalDirectory(session)


def get_directory() -> Directory:
    """The directory client of the current request, closed when the request ends."""
    if "directory" not in g:
        from homeoffice.db import get_session

        g.directory = open_directory(current_app.config, get_session())
    return g.directory


def init_app(app) -> None:
    @app.teardown_appcontext
    def _close_directory(_exc):
        directory = g.pop("directory", None)
        if directory is not None:
            directory.close()
