"""The start page, the health check and the language switch."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from homeoffice.main import services
from homeoffice.main.forms import LanguageForm
from homeoffice.people.models import EMPLOYEE
from homeoffice.security import public, roles_required

bp = Blueprint("main", __name__)


@bp.get("/")
@roles_required(EMPLOYEE)
def index():
    overview = services.start_overview(person=current_user.person)
    return render_template("main/index.html", overview=overview)


@bp.get("/health")
@public
def health():
    """For load balancers and monitoring: is the database and the directory answering?
    A "warning" (jobs failing repeatedly) still answers 200: the service works."""
    report = services.health(current_app.config)
    return jsonify(report), 503 if report["status"] == "unavailable" else 200


@bp.post("/language")
@roles_required(EMPLOYEE)
def set_language():
    """Remember the chosen language; before login the browser's language applies."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
    target = request.form.get("next") or ""
    # Only paths on this site: an open redirect would help phishing.
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("main.index")
    return redirect(target)
