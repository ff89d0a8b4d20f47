"""Pages of requests and agreements: thin handlers that parse input and call a service."""

from __future__ import annotations

from datetime import date, timedelta

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
from sqlmodel import select

from homeoffice.agreements import queries, services
from homeoffice.agreements.forms import (
    ActionForm,
    DecisionForm,
    EndorsementForm,
    QueueFilterForm,
    RequestForm,
    RevocationForm,
)
from homeoffice.agreements.labels import REASON_LABELS, STATE_LABELS
from homeoffice.agreements.models import (
    AMENDMENT,
    NEW,
    OPEN_REQUEST_STATES,
    RENEWAL,
    REQUEST_STATES,
    HomeOfficeRequest,
)
from homeoffice.agreements.rules import get_rule_book
from homeoffice.db import get_session
from homeoffice.main.forms import refuse_on_form
from homeoffice.pagination import page_number
from homeoffice.people.models import EMPLOYEE, HR, SUPERVISOR, Person, Unit
from homeoffice.security import recent_login, roles_required

bp = Blueprint("agreements", __name__, url_prefix="/homeoffice")


def _me() -> Person:
    return current_user.person


def _today() -> date:
    return date.today()


def _refused(error: services.AgreementError) -> None:
    flash(str(error.message), "danger")


@bp.get("/")
@roles_required(EMPLOYEE)
def mine():
    session = get_session()
    return render_template(
        "agreements/mine.html",
        requests=queries.my_requests(session, _me()),
        agreements=queries.my_agreements(session, _me()),
        current=services.current_agreement(session, _me()),
        action_form=ActionForm(),
    )


@bp.route("/requests/new", methods=["GET", "POST"])
@roles_required(EMPLOYEE)
def new_request():
    session = get_session()
    kind = request.args.get("kind", NEW)
    if kind not in (NEW, AMENDMENT, RENEWAL):
        abort(404)
    current = services.current_agreement(session, _me())
    form = RequestForm(today=_today())
    if request.method == "GET":
        form.start_date.data = _today() + timedelta(days=14)
        if kind == RENEWAL and current is not None and current.end_date:
            form.start_date.data = max(form.start_date.data, current.end_date + timedelta(days=1))
    verdict = None
    status = 200
    if form.validate_on_submit():
        data = form.to_data()
        if form.check.data:
            verdict = services.evaluate(session, data=data, person=_me(), rule_book=get_rule_book())
        else:
            try:
                req = services.create_request(
                    session=session,
                    person=_me(),
                    data=data,
                    rule_book=get_rule_book(),
                    submit=bool(form.send.data),
                    kind=kind,
                    agreement_id=current.id if current and kind != NEW else None,
                )
            except services.AgreementError as error:
                _refused(error)
                status = 409
            else:
                flash(
                    _("Your request has been sent.")
                    if req.state != "draft"
                    else _("Your draft has been saved."),
                    "success",
                )
                return redirect(url_for("agreements.request_detail", request_id=req.id))
    elif request.method == "POST":
        status = 400
    return render_template(
        "agreements/request_form.html", form=form, verdict=verdict, kind=kind, current=current
    ), status


def _load_request(request_id: int, *, lock: bool = False):
    try:
        return services.load_request(get_session(), request_id, _me(), lock=lock)
    except services.NotAllowed:
        abort(404)


@bp.get("/requests/<int:request_id>")
@roles_required(EMPLOYEE)
def request_detail(request_id: int):
    req, owner = _load_request(request_id)
    return _request_page(req, owner)


def _request_page(req, owner, *, endorsement_form=None, decision_form=None, status=200):
    """The request with the forms the viewer may use; after a refused post, the forms
    come back filled in, with the error next to the field."""
    session = get_session()
    show_health = services.can_see_health_details(_me(), owner)
    if "health" in req.reason_set and show_health and owner.id != _me().id:
        if not recent_login():
            return current_app.login_manager.needs_refresh()
        services.record_health_view(session, by=_me(), object_type="request", object_id=req.id)
    is_hr = HR in _me().role_set and owner.id != _me().id
    quota = None
    if is_hr and req.is_open:
        quota = services.quota_report(session, req=req, owner=owner, rule_book=get_rule_book())
    return render_template(
        "agreements/request_detail.html",
        req=req,
        owner=owner,
        unit=session.get(Unit, owner.unit_id) if owner.unit_id else None,
        show_health=show_health,
        is_owner=owner.id == _me().id,
        is_supervisor=services.is_supervisor_of(session, _me(), owner),
        is_hr=is_hr,
        quota=quota,
        people=queries.people_by_id(session, [req.endorsed_by_id, req.decided_by_id]),
        action_form=ActionForm(),
        endorsement_form=endorsement_form or EndorsementForm(formdata=None),
        decision_form=decision_form or DecisionForm(formdata=None),
    ), status


@bp.post("/requests/<int:request_id>/withdraw")
@roles_required(EMPLOYEE)
def withdraw(request_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    req, _owner = _load_request(request_id, lock=True)
    try:
        services.withdraw(session=get_session(), req=req, by=_me())
    except services.NotAllowed:
        abort(404)
    except services.AgreementError as error:
        _refused(error)
    else:
        flash(_("Your request has been withdrawn."), "success")
    return redirect(url_for("agreements.request_detail", request_id=request_id))


@bp.post("/requests/<int:request_id>/submit")
@roles_required(EMPLOYEE)
def submit(request_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    req, _owner = _load_request(request_id, lock=True)
    try:
        services.submit_draft(session=get_session(), req=req, by=_me(), rule_book=get_rule_book())
    except services.NotAllowed:
        abort(404)
    except services.AgreementError as error:
        _refused(error)
    else:
        flash(_("Your request has been sent."), "success")
    return redirect(url_for("agreements.request_detail", request_id=request_id))


@bp.post("/requests/<int:request_id>/endorse")
@roles_required(SUPERVISOR)
def endorse(request_id: int):
    form = EndorsementForm()
    req, owner = _load_request(request_id, lock=True)
    if not form.validate_on_submit():
        return _request_page(req, owner, endorsement_form=form, status=400)
    try:
        services.endorse(
            session=get_session(),
            req=req,
            owner=owner,
            by=_me(),
            agree=form.decision.data == "endorse",
            note=form.note.data,
        )
    except services.NotAllowed:
        abort(404)
    except services.AgreementError as error:
        get_session().rollback()
        refuse_on_form(form, error)
        return _request_page(req, owner, endorsement_form=form, status=409)
    flash(_("Your assessment has been recorded."), "success")
    return redirect(url_for("agreements.request_detail", request_id=request_id))


@bp.post("/requests/<int:request_id>/decide")
@roles_required(HR)
def decide(request_id: int):
    form = DecisionForm()
    req, owner = _load_request(request_id, lock=True)
    if not form.validate_on_submit():
        return _request_page(req, owner, decision_form=form, status=400)
    try:
        agreement = services.decide(
            session=get_session(),
            req=req,
            owner=owner,
            by=_me(),
            approve=form.decision.data == "approve",
            reason=form.reason.data,
            override_reason=form.override_reason.data,
            conditions=form.conditions.data,
            rule_book=get_rule_book(),
            today=_today(),
        )
    except services.NotAllowed:
        abort(404)
    except services.AgreementError as error:
        get_session().rollback()
        refuse_on_form(form, error)
        return _request_page(req, owner, decision_form=form, status=409)
    if agreement is None:
        flash(_("The request has been rejected."), "success")
        return redirect(url_for("agreements.request_detail", request_id=request_id))
    flash(_("The request has been approved."), "success")
    return redirect(url_for("agreements.agreement_detail", agreement_id=agreement.id))


@bp.get("/team")
@roles_required(SUPERVISOR)
def team():
    session = get_session()
    return render_template(
        "agreements/team.html",
        requests=queries.team_requests(session, _me()),
        agreements=queries.team_agreements(session, _me()),
    )


@bp.get("/queue")
@roles_required(HR)
def queue():
    session = get_session()
    units = session.exec(select(Unit).order_by(Unit.name)).all()
    form = QueueFilterForm(request.args)
    form.unit.choices = [("", _("all units"))] + [(str(u.id), u.name) for u in units]
    form.reason.choices = [("", _("all reasons"))] + [
        (key, str(label)) for key, label in REASON_LABELS.items()
    ]
    form.state.choices = [("", _("open requests"))] + [
        (state, state_label(state)) for state in REQUEST_STATES if state != "draft"
    ]
    form.verdict.choices = [
        ("", _("all")),
        ("eligible", _("eligible")),
        ("not_eligible", _("not eligible")),
    ]
    valid = form.validate()
    unit_id = int(form.unit.data) if valid and form.unit.data else None
    page = queries.hr_queue(
        session,
        unit_id=unit_id,
        reason=form.reason.data if valid else None,
        state=form.state.data if valid else None,
        verdict=form.verdict.data if valid else None,
        search=(form.q.data or "").strip() if valid else "",
        number=page_number(request.args),
        size=current_app.config["PAGE_SIZE"],
    )
    unit_ids = {row.person.unit_id for row in page.items}
    loads = services.current_agreements_of_units(session, unit_ids)
    staff = services.staff_of_units(session, unit_ids)
    rule_book = get_rule_book()
    quotas = {
        row.request.id: services.quota_for(
            row.request,
            unit_name=row.unit_name or "",
            staff=staff.get(row.person.unit_id, 0),
            agreements=loads.get(row.person.unit_id, []),
            rule_book=rule_book,
        )
        for row in page.items
        if row.request.state in OPEN_REQUEST_STATES
    }
    return render_template(
        "agreements/queue.html", page=page, form=form, quotas=quotas, today=_today()
    )


def _load_agreement(agreement_id: int, *, lock: bool = False):
    try:
        return services.load_agreement(get_session(), agreement_id, _me(), lock=lock)
    except services.NotAllowed:
        abort(404)


@bp.get("/agreements/<int:agreement_id>")
@roles_required(EMPLOYEE)
def agreement_detail(agreement_id: int):
    session = get_session()
    agreement, owner = _load_agreement(agreement_id)
    req = session.get(HomeOfficeRequest, agreement.request_id)
    show_health = services.can_see_health_details(_me(), owner)
    if "health" in req.reason_set and show_health and owner.id != _me().id:
        if not recent_login():
            return current_app.login_manager.needs_refresh()
        services.record_health_view(
            session, by=_me(), object_type="agreement", object_id=agreement.id
        )
    return render_template(
        "agreements/agreement_detail.html",
        agreement=agreement,
        req=req,
        owner=owner,
        unit=session.get(Unit, owner.unit_id) if owner.unit_id else None,
        show_health=show_health,
        is_hr=HR in _me().role_set and owner.id != _me().id,
        is_owner=owner.id == _me().id,
        action_form=ActionForm(),
        revocation_form=RevocationForm(),
        people=queries.people_by_id(session, [req.decided_by_id, owner.manager_id]),
    )


@bp.get("/agreements/<int:agreement_id>/print")
@roles_required(EMPLOYEE)
def agreement_print(agreement_id: int):
    session = get_session()
    agreement, owner = _load_agreement(agreement_id)
    req = session.get(HomeOfficeRequest, agreement.request_id)
    return render_template(
        "agreements/agreement_print.html",
        agreement=agreement,
        req=req,
        owner=owner,
        unit=session.get(Unit, owner.unit_id) if owner.unit_id else None,
        show_health=services.can_see_health_details(_me(), owner),
        people=queries.people_by_id(session, [req.decided_by_id, owner.manager_id]),
    )


@bp.post("/agreements/<int:agreement_id>/revoke")
@roles_required(HR)
def revoke(agreement_id: int):
    form = RevocationForm()
    agreement, owner = _load_agreement(agreement_id, lock=True)
    if not form.validate_on_submit():
        flash(_("Please give a reason for the revocation."), "danger")
        return redirect(url_for("agreements.agreement_detail", agreement_id=agreement_id))
    try:
        services.revoke(
            session=get_session(),
            agreement=agreement,
            owner=owner,
            by=_me(),
            reason=form.reason.data,
        )
    except services.NotAllowed:
        abort(404)
    except services.AgreementError as error:
        _refused(error)
    else:
        flash(_("The agreement has been revoked."), "success")
    return redirect(url_for("agreements.agreement_detail", agreement_id=agreement_id))


@bp.post("/agreements/<int:agreement_id>/verify-health")
@roles_required(HR)
def verify_health(agreement_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    agreement, owner = _load_agreement(agreement_id, lock=True)
    try:
        services.verify_health_certificate(
            session=get_session(), agreement=agreement, owner=owner, by=_me()
        )
    except services.NotAllowed:
        abort(404)
    flash(_("The medical certificate is marked as checked."), "success")
    return redirect(url_for("agreements.agreement_detail", agreement_id=agreement_id))


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))
