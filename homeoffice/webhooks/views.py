"""Webhook pages for administrators: the list with the register form, the delivery log,
and the one-time secret page.

A new secret is shown once, on the answer to the form that made it, and never again;
like every page it goes out with ``Cache-Control: no-store`` (``homeoffice.security``).
Making or rotating a secret asks for a recent login, as issuing any credential does.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from homeoffice.agreements.forms import ActionForm
from homeoffice.db import get_session
from homeoffice.main.forms import refuse_on_form
from homeoffice.pagination import page_number, paginate
from homeoffice.people.models import ADMIN, Person
from homeoffice.security import login_manager, recent_login, roles_required
from homeoffice.webhooks import services
from homeoffice.webhooks.forms import WebhookForm
from homeoffice.webhooks.models import EVENT_KINDS, Webhook

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


def _me() -> Person:
    return current_user.person


def _event_choices() -> list[tuple[str, str]]:
    return [(kind, str(services.EVENT_LABELS[kind])) for kind in EVENT_KINDS]


def _form(formdata=None) -> WebhookForm:
    form = WebhookForm() if formdata is None else WebhookForm(formdata=formdata)
    form.events.choices = _event_choices()
    return form


def _list_page(form: WebhookForm, status: int = 200):
    return render_template(
        "webhooks/list.html",
        rows=services.overview(get_session(), current_app.config),
        form=form,
        allow_http=current_app.config["WEBHOOK_ALLOW_HTTP"],
    ), status


def _load(webhook_id: int, *, lock: bool = False) -> Webhook:
    try:
        return services.load_webhook(get_session(), webhook_id, _me(), lock=lock)
    except services.NotAllowed:
        abort(404)


def _checked_post() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


@bp.get("/")
@roles_required(ADMIN)
def index():
    form = WebhookForm(formdata=None)
    form.events.choices = _event_choices()
    return _list_page(form)


@bp.post("/")
@roles_required(ADMIN)
def register():
    if not recent_login():
        return login_manager.needs_refresh()
    form = _form()
    if not form.validate_on_submit():
        return _list_page(form, 400)
    try:
        webhook, secret = services.register(
            session=get_session(),
            by=_me(),
            name=form.name.data,
            url=form.url.data,
            events=form.events.data,
            config=current_app.config,
        )
    except services.NotAllowed:
        abort(403)
    except services.WebhookError as error:
        refuse_on_form(form, error)
        return _list_page(form, 400)
    return render_template("webhooks/secret.html", webhook=webhook, secret=secret, new=True)


@bp.get("/<int:webhook_id>")
@roles_required(ADMIN)
def detail(webhook_id: int):
    """The webhook and its delivery log, newest first."""
    webhook = _load(webhook_id)
    session = get_session()
    page = paginate(
        session,
        services.deliveries_of(webhook),
        number=page_number(request.args),
        size=current_app.config["PAGE_SIZE"],
    )
    waiting, failed = services.undelivered_counts(session, webhook, current_app.config)
    return render_template(
        "webhooks/detail.html",
        webhook=webhook,
        page=page,
        waiting=waiting,
        failed=failed,
        form=ActionForm(),
        state_of=lambda delivery: services.state_of(delivery, current_app.config),
        event_labels=services.EVENT_LABELS,
    )


@bp.post("/<int:webhook_id>/secret")
@roles_required(ADMIN)
def new_secret(webhook_id: int):
    _checked_post()
    if not recent_login():
        return login_manager.needs_refresh()
    webhook = _load(webhook_id, lock=True)
    secret = services.rotate_secret(
        session=get_session(), webhook=webhook, by=_me(), config=current_app.config
    )
    return render_template("webhooks/secret.html", webhook=webhook, secret=secret, new=False)


@bp.post("/<int:webhook_id>/deactivate")
@roles_required(ADMIN)
def deactivate(webhook_id: int):
    return _switch(webhook_id, active=False)


@bp.post("/<int:webhook_id>/activate")
@roles_required(ADMIN)
def activate(webhook_id: int):
    return _switch(webhook_id, active=True)


def _switch(webhook_id: int, *, active: bool):
    _checked_post()
    webhook = _load(webhook_id, lock=True)
    if services.set_active(session=get_session(), webhook=webhook, by=_me(), active=active):
        if active:
            flash(_("The webhook %(name)s is switched on.", name=webhook.name), "success")
        else:
            flash(_("The webhook %(name)s is switched off.", name=webhook.name), "success")
    return redirect(url_for("webhooks.detail", webhook_id=webhook.id))


@bp.post("/<int:webhook_id>/delete")
@roles_required(ADMIN)
def delete(webhook_id: int):
    _checked_post()
    webhook = _load(webhook_id, lock=True)
    name = webhook.name
    services.remove(session=get_session(), webhook=webhook, by=_me())
    flash(_("The webhook %(name)s and its delivery log are deleted.", name=name), "success")
    return redirect(url_for("webhooks.index"))


@bp.post("/<int:webhook_id>/deliveries/<int:delivery_id>/send")
@roles_required(ADMIN)
def send_again(webhook_id: int, delivery_id: int):
    """Try an undelivered event now (it is sent while the administrator waits)."""
    _checked_post()
    webhook = _load(webhook_id)
    session = get_session()
    delivery = services.load_delivery(session, webhook, delivery_id)
    back = redirect(url_for("webhooks.detail", webhook_id=webhook.id))
    if delivery is None:
        flash(_("This delivery is being sent right now or no longer exists."), "warning")
        return back
    try:
        delivered = services.send_again(
            session=session, webhook=webhook, delivery=delivery, by=_me(), config=current_app.config
        )
    except services.WebhookError as error:
        flash(str(error.message), "warning")
        return back
    if delivered:
        flash(_("The event was delivered."), "success")
    else:
        flash(
            _("The receiver did not accept the event: %(error)s", error=delivery.last_error),
            "danger",
        )
    return back
