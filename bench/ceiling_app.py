"""The framework's ceiling: the smallest Flask app, served like homeoffice.

``bench/web.py`` runs this under gunicorn with the same settings as the real service
and divides homeoffice's throughput by this app's. Whatever the ceiling cannot beat
(gunicorn's sync workers, a new TCP connection per request, WSGI, Flask's request
dispatch, the load generator itself) is not homeoffice's cost; the ratio shows what
the service adds on top of it.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    """A constant string: no template, no database, no session, no extension."""
    return "ok"
