"""The token pages: "My API tokens" for everyone, service tokens for administrators.

A new token is shown once, on the answer to the form, and never again; like every page
it goes out with ``Cache-Control: no-store`` (``homeoffice.security``), so that no cache
and no back button keeps it.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from homeoffice.api import services
from homeoffice.api.forms import RevokeForm, ServiceTokenForm, TokenForm
from homeoffice.api.models import PERSONAL, SERVICE
from homeoffice.db import get_session, utcnow
from homeoffice.main.forms import refuse_on_form
from homeoffice.people.models import ADMIN, EMPLOYEE, Person
from homeoffice.security import login_manager, recent_login, roles_required
from homeoffice.templating import ROLE_LABELS

bp = Blueprint("api_tokens", __name__)

#: the expiry offered by default
DEFAULT_DAYS = 90


def _me() -> Person:
    return current_user.person


def _role_choices(roles) -> list[tuple[str, str]]:
    return [(role, str(label)) for role, label in ROLE_LABELS.items() if role in roles]


def _default_expiry() -> date:
    return date.today() + timedelta(
        days=min(DEFAULT_DAYS, current_app.config["API_TOKEN_MAX_DAYS"])
    )


# --- personal tokens ---------------------------------------------------------------------


def _personal_page(form: TokenForm, status: int = 200):
    return render_template(
        "api/tokens.html",
        tokens=services.personal_tokens(get_session(), _me()),
        form=form,
        revoke_form=RevokeForm(),
        now=utcnow(),
        max_days=current_app.config["API_TOKEN_MAX_DAYS"],
    ), status


def _personal_form(**kwargs) -> TokenForm:
    """The form with the person's own roles as the only choices."""
    form = TokenForm(**kwargs)
    form.roles.choices = _role_choices(_me().role_set)
    return form


@bp.get("/api-tokens")
@roles_required(EMPLOYEE)
def tokens():
    form = _personal_form(formdata=None)
    form.roles.data = [EMPLOYEE]
    form.expires_on.data = _default_expiry()
    return _personal_page(form)


@bp.post("/api-tokens")
@roles_required(EMPLOYEE)
def create_token():
    # A token is a credential: only for someone who just proved their password.
    if not recent_login():
        return login_manager.needs_refresh()
    form = _personal_form()
    if not form.validate_on_submit():
        return _personal_page(form, 400)
    try:
        token, clear = services.create_personal(
            session=get_session(),
            owner=_me(),
            name=form.name.data,
            roles=form.roles.data,
            expires_on=form.expires_on.data,
            today=date.today(),
            config=current_app.config,
        )
    except services.TokenError as error:
        refuse_on_form(form, error)
        return _personal_page(form, 400)
    return render_template(
        "api/token_created.html", token=token, clear=clear, back=url_for("api_tokens.tokens")
    )


@bp.post("/api-tokens/<int:token_id>/revoke")
@roles_required(EMPLOYEE)
def revoke_token(token_id: int):
    if not RevokeForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        token = services.load_token(session, token_id, _me(), kind=PERSONAL)
    except services.NotAllowed:
        abort(404)
    if services.revoke(session=session, token=token, by=_me()):
        flash(_("The token %(prefix)s no longer works.", prefix=token.prefix), "success")
    return redirect(url_for("api_tokens.tokens"))


# --- service tokens ----------------------------------------------------------------------


def _service_form(**kwargs) -> ServiceTokenForm:
    """The form with the department roles as the only choices."""
    form = ServiceTokenForm(**kwargs)
    form.roles.choices = _role_choices(services.SERVICE_ROLES)
    return form


def _service_page(form: ServiceTokenForm, status: int = 200):
    return render_template(
        "api/service_tokens.html",
        rows=services.service_tokens(get_session()),
        form=form,
        revoke_form=RevokeForm(),
        now=utcnow(),
        max_days=current_app.config["API_TOKEN_MAX_DAYS"],
    ), status


@bp.get("/admin/service-tokens")
@roles_required(ADMIN)
def service_tokens():
    form = _service_form(formdata=None)
    form.expires_on.data = _default_expiry()
    return _service_page(form)


@bp.post("/admin/service-tokens")
@roles_required(ADMIN)
def create_service_token():
    if not recent_login():
        return login_manager.needs_refresh()
    form = _service_form()
    if not form.validate_on_submit():
        return _service_page(form, 400)
    try:
        token, clear = services.create_service(
            session=get_session(),
            by=_me(),
            system=form.system.data,
            name=form.name.data,
            roles=form.roles.data,
            expires_on=form.expires_on.data,
            today=date.today(),
            config=current_app.config,
        )
    except services.NotAllowed:
        abort(403)
    except services.TokenError as error:
        refuse_on_form(form, error)
        return _service_page(form, 400)
    return render_template(
        "api/token_created.html",
        token=token,
        clear=clear,
        back=url_for("api_tokens.service_tokens"),
    )


@bp.post("/admin/service-tokens/<int:token_id>/revoke")
@roles_required(ADMIN)
def revoke_service_token(token_id: int):
    if not RevokeForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        token = services.load_token(session, token_id, _me(), kind=SERVICE)
    except services.NotAllowed:
        abort(404)
    if services.revoke(session=session, token=token, by=_me()):
        flash(_("The token %(prefix)s no longer works.", prefix=token.prefix), "success")
    return redirect(url_for("api_tokens.service_tokens"))
