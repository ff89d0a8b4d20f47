"""IT pages: open tasks, issuing and revoking access, reconciliation, the CRL."""

from __future__ import annotations

import base64
from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from homeoffice.access import queries, services
from homeoffice.access.forms import IssueForm, RepairForm, RevokeForm
from homeoffice.access.models import ACTIVE, CertificateAuthorityRecord
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.db import get_session, keep_changes_despite_error
from homeoffice.directory import get_directory
from homeoffice.people.models import IT, Person, Unit
from homeoffice.security import login_manager, public, recent_login, roles_required
from vpn.directory import DirectoryError

bp = Blueprint("access", __name__)


@bp.get("/it/")
@roles_required(IT)
def tasks():
    session = get_session()
    return render_template(
        "access/tasks.html", rows=queries.open_tasks(session), today=date.today()
    )


def _agreement(agreement_id: int):
    session = get_session()
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        abort(404)
    return agreement, session.get(Person, agreement.person_id)


@bp.get("/it/agreements/<int:agreement_id>")
@roles_required(IT)
def agreement_access(agreement_id: int):
    session = get_session()
    agreement, owner = _agreement(agreement_id)
    req = session.get(HomeOfficeRequest, agreement.request_id)
    credentials = queries.credentials_of(session, agreement.id)
    wanted = services.wanted_kinds(req, current_app.config)
    held = {c.kind for c in credentials if c.state == ACTIVE}
    return render_template(
        "access/agreement.html",
        agreement=agreement,
        owner=owner,
        req=req,
        unit=session.get(Unit, owner.unit_id) if owner.unit_id else None,
        credentials=credentials,
        wanted=wanted,
        # The issue button only while something called for is missing.
        missing=[kind for kind in wanted if kind not in held],
        issue_form=IssueForm(),
        revoke_form=RevokeForm(),
    )


@bp.post("/it/agreements/<int:agreement_id>/issue")
@roles_required(IT)
def issue(agreement_id: int):
    # Credentials are shown once: only to someone who just proved their password.
    if not recent_login():
        return login_manager.needs_refresh()
    if not IssueForm().validate_on_submit():
        abort(400)
    session = get_session()
    agreement, owner = _agreement(agreement_id)
    try:
        secrets = services.issue(
            session=session,
            directory=get_directory(),
            agreement=agreement,
            owner=owner,
            by=current_user.person,
            config=current_app.config,
        )
    except services.NotAllowed:
        abort(403)
    except services.AccessError as error:
        session.rollback()
        services.note_failure(
            session, agreement, ["grant_vpn", "grant_terminal_server"], str(error.message)
        )
        keep_changes_despite_error()
        flash(str(error.message), "danger")
        return redirect(url_for("access.agreement_access", agreement_id=agreement_id)), 503
    if not secrets.kinds:
        flash(_("Everything this agreement calls for is issued already."), "info")
        return redirect(url_for("access.agreement_access", agreement_id=agreement_id))
    p12 = base64.b64encode(secrets.certificate_p12).decode() if secrets.certificate_p12 else None
    return render_template(
        "access/issued.html", agreement=agreement, owner=owner, secrets=secrets, p12=p12
    )


@bp.post("/it/agreements/<int:agreement_id>/revoke")
@roles_required(IT)
def revoke(agreement_id: int):
    form = RevokeForm()
    if not form.validate_on_submit():
        flash(_("Please give a reason."), "danger")
        return redirect(url_for("access.agreement_access", agreement_id=agreement_id))
    session = get_session()
    agreement, owner = _agreement(agreement_id)
    try:
        kinds = services.revoke(
            session=session,
            directory=get_directory(),
            agreement=agreement,
            owner=owner,
            by=current_user.person,
            config=current_app.config,
            reason=form.reason.data,
            today=date.today(),
        )
    except services.AccessError as error:
        session.rollback()
        services.note_failure(session, agreement, ["revoke_access"], str(error.message))
        keep_changes_despite_error()
        flash(str(error.message), "danger")
        return redirect(url_for("access.agreement_access", agreement_id=agreement_id)), 503
    flash(_("Access taken back: %(count)s credentials.", count=len(kinds)), "success")
    return redirect(url_for("access.agreement_access", agreement_id=agreement_id))


@bp.get("/it/reconcile")
@roles_required(IT)
def reconcile():
    try:
        differences = services.reconcile(
            session=get_session(),
            directory=get_directory(),
            config=current_app.config,
            today=date.today(),
        )
    except DirectoryError:
        flash(
            _("The directory service is not reachable right now. Please try again later."), "danger"
        )
        return render_template("access/reconcile.html", differences=None, form=RepairForm()), 503
    return render_template("access/reconcile.html", differences=differences, form=RepairForm())


@bp.post("/it/reconcile")
@roles_required(IT)
def repair():
    if not RepairForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        directory = get_directory()
        differences = services.reconcile(
            session=session, directory=directory, config=current_app.config, today=date.today()
        )
        fixed = services.repair(
            session=session,
            directory=directory,
            differences=differences,
            by=current_user.person,
            config=current_app.config,
            today=date.today(),
        )
    except (DirectoryError, services.AccessError):
        session.rollback()
        flash(
            _("The directory did not accept every repair. Please look at the report again."),
            "danger",
        )
        return redirect(url_for("access.reconcile"))
    flash(_("%(count)s differences repaired.", count=fixed), "success")
    return redirect(url_for("access.reconcile"))


@bp.get("/crl.der")
@public
def crl_der():
    """The CA's current revocation list at a fixed address, for the VPN gateway."""
    record = get_session().exec(select(CertificateAuthorityRecord)).first()
    if record is None or record.crl_der is None:
        abort(404)
    response = Response(record.crl_der, mimetype="application/pkix-crl")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/ca.pem")
@public
def ca_certificate():
    """The CA certificate, for gateways and clients that check the chain."""
    record = get_session().exec(select(CertificateAuthorityRecord)).first()
    if record is None:
        abort(404)
    response = Response(record.certificate_pem, mimetype="application/x-pem-file")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
