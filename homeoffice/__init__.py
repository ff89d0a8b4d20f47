"""homeoffice: remote work for a municipal administration, end to end."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from homeoffice.config import ConfigError

__all__ = ["ConfigError", "create_app"]

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings, extensions, blueprints, commands."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("HOMEOFFICE_INSTANCE_PATH") or os.path.join(_ROOT, "instance"),
        template_folder=os.path.join(_ROOT, "templates"),
    )
    _configure(app, test_config)
    _init_extensions(app)
    _register_blueprints(app)
    _register_error_pages(app)
    _register_cli(app)
    _start_embedded_scheduler(app)
    return app


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    from homeoffice import config

    config.load(app, test_config)
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def _start_embedded_scheduler(app: Flask) -> None:
    """The demo's development server runs the jobs itself (``SCHEDULER_EMBEDDED``); every
    other way to load the app (commands, tests, gunicorn) leaves that to the scheduler
    process."""
    import click

    if not app.config["SCHEDULER_EMBEDDED"] or app.testing:
        return
    command = click.get_current_context(silent=True)
    if command is None or command.info_name != "run":
        return
    from homeoffice.jobs.schedule import start_embedded

    app.extensions["homeoffice.scheduler"] = start_embedded(app)


def _init_extensions(app: Flask) -> None:
    from flask_bootstrap import Bootstrap5

    from homeoffice import db, directory, i18n, security, templating
    from homeoffice.notifications import services as notifications

    db.init_app(app)
    directory.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)
    Bootstrap5(app)
    notifications.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from homeoffice.access.views import bp as access
    from homeoffice.admin.views import bp as admin
    from homeoffice.agreements.views import bp as agreements
    from homeoffice.api.pages import bp as api_tokens
    from homeoffice.api.views import bp as api
    from homeoffice.auth.views import bp as auth
    from homeoffice.devices.views import bp as devices
    from homeoffice.exports.views import bp as exports
    from homeoffice.main.views import bp as main
    from homeoffice.people.views import bp as people
    from homeoffice.presence.views import bp as presence
    from homeoffice.reports.views import bp as reports
    from homeoffice.rooms.views import bp as rooms
    from homeoffice.webhooks.views import bp as webhooks

    for blueprint in (
        main,
        auth,
        agreements,
        access,
        people,
        presence,
        devices,
        exports,
        rooms,
        reports,
        admin,
        api,
        api_tokens,
        webhooks,
    ):
        app.register_blueprint(blueprint)


def _register_error_pages(app: Flask) -> None:
    from homeoffice.main.errors import register

    register(app)


def _register_cli(app: Flask) -> None:
    from homeoffice.cli import register

    register(app)
