"""Entry point for gunicorn: ``gunicorn -w 4 wsgi:app``."""

from homeoffice import ConfigError, create_app

app = create_app()

if app.config["SCHEDULER_EMBEDDED"]:
    # Every worker would run its own scheduler: the jobs belong in one process of their
    # own (``flask --app homeoffice scheduler``).
    raise ConfigError(
        "HOMEOFFICE_SCHEDULER_EMBEDDED is for the development server only; "
        "run `flask --app homeoffice scheduler` as a separate process instead"
    )
