"""Login and logout."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from homeoffice.auth import services
from homeoffice.auth.forms import LoginForm, LogoutForm
from homeoffice.db import get_session, keep_changes_despite_error
from homeoffice.directory import get_directory
from homeoffice.people.models import EMPLOYEE
from homeoffice.security import Principal, public, roles_required
from vpn.directory import DirectoryError, DirectoryUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    if request.method == "GET" and current_user.is_authenticated and not request.args.get("next"):
        return redirect(url_for("main.index"))
    status = 200
    if form.validate_on_submit():
        try:
            result = services.log_in(
                session=get_session(),
                directory=get_directory(),
                username=form.username.data,
                password=form.password.data,
                address=request.remote_addr or "unknown",
                config=current_app.config,
            )
        except services.LoginRefused as refused:
            if refused.reason == "throttled":
                flash(
                    _("Too many failed attempts. Please wait 15 minutes and try again."), "danger"
                )
                status = 429
            else:
                flash(_("User name or password is wrong."), "danger")
        except DirectoryUnavailable:
            log.warning("Login of %r failed: directory not reachable", form.username.data)
            get_session().rollback()
            flash(
                _(
                    "The directory service is not reachable right now, so nobody can log in. "
                    "Please try again later or call the IT service desk."
                ),
                "danger",
            )
            status = 503
        except DirectoryError:
            log.exception("Login failed: directory error")
            get_session().rollback()
            flash(
                _("The directory service refused the request. Please call the IT service desk."),
                "danger",
            )
            status = 503
        else:
            next_page = _safe_next(request.args.get("next"))
            # A new session for the new login: nothing from before carries over
            # (no session fixation, SECURITY.md item 9); the language stays.
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            # The cookie ends with the absolute session lifetime, not with the browser.
            session.permanent = True
            person = result.person
            login_user(Principal(person, None, result.token))
            return redirect(next_page)
    elif request.method == "POST":
        status = 400
    if status == 429:
        keep_changes_despite_error()
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@roles_required(EMPLOYEE)
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        services.log_out(get_session(), current_user.login_session, current_user.person)
        logout_user()
        session.clear()
        flash(_("You have been logged out."), "success")
    return redirect(url_for("auth.login"))
