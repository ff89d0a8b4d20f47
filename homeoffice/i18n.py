"""Languages: German by default, English complete; chosen by switch, profile or browser."""

from __future__ import annotations

import os

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel

babel = Babel()


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        # Jobs and commands: the default language (mail picks the person's own).
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    from flask_login import current_user

    person = getattr(current_user, "person", None)
    if person is not None and person.locale in languages:
        return person.locale
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=os.path.join(os.path.dirname(__file__), "translations"),
    )
