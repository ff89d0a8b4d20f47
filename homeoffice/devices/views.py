"""The laptop inventory, handovers and returns: thin handlers that call a service."""

from __future__ import annotations

from datetime import date

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

from homeoffice.db import get_session
from homeoffice.devices import queries, services
from homeoffice.devices.forms import ConfirmForm, HandoverForm, ImportForm, ReturnForm
from homeoffice.devices.models import DEVICE_STATES, Device
from homeoffice.pagination import page_number, paginate
from homeoffice.people.models import EMPLOYEE, IT, Person
from homeoffice.security import roles_required

bp = Blueprint("devices", __name__, url_prefix="/devices")

#: row errors shown under the import form; the rest is counted
SHOWN_IMPORT_ERRORS = 100


def _me() -> Person:
    return current_user.person


def _today() -> date:
    return date.today()


@bp.get("/")
@roles_required(IT)
def inventory():
    state = request.args.get("state")
    statement = select(Device).order_by(Device.asset_tag)
    if state in DEVICE_STATES:
        statement = statement.where(Device.state == state)
    else:
        state = None
    page = paginate(
        get_session(),
        statement,
        number=page_number(request.args),
        size=current_app.config["PAGE_SIZE"],
    )
    return render_template("devices/inventory.html", page=page, state=state, states=DEVICE_STATES)


def _device_page(
    device_id: int,
    *,
    handover_form: HandoverForm | None = None,
    return_form: ReturnForm | None = None,
    status: int = 200,
):
    session = get_session()
    device = session.get(Device, device_id)
    if device is None:
        abort(404)
    history = queries.device_history(session, device_id)
    current = next((row for row in history if row.handover.returned_on is None), None)
    if handover_form is None:
        handover_form = HandoverForm(formdata=None, today=_today())
        handover_form.handed_over_on.data = _today()
    if return_form is None:
        return_form = ReturnForm(formdata=None, today=_today())
        return_form.returned_on.data = _today()
    return render_template(
        "devices/device.html",
        device=device,
        history=history,
        current=current,
        handover_form=handover_form,
        return_form=return_form,
    ), status


@bp.get("/<int:device_id>")
@roles_required(IT)
def device_detail(device_id: int):
    return _device_page(device_id)


@bp.post("/<int:device_id>/hand-over")
@roles_required(IT)
def hand_over(device_id: int):
    session = get_session()
    form = HandoverForm(today=_today())
    if not form.validate_on_submit():
        return _device_page(device_id, handover_form=form, status=400)
    try:
        person, agreement = services.recipient(session, form.person.data)
        handover = services.hand_over(
            session=session,
            device_id=device_id,
            person=person,
            agreement=agreement,
            by=_me(),
            accessories=form.accessories.data,
            on=form.handed_over_on.data,
        )
    except services.NotAllowed:
        abort(404)
    except services.DeviceError as error:
        flash(str(error.message), "danger")
        return _device_page(device_id, handover_form=form, status=409)
    flash(
        _(
            "The laptop %(asset_tag)s has been handed to %(name)s.",
            asset_tag=session.get(Device, device_id).asset_tag,
            name=person.display_name,
        ),
        "success",
    )
    return redirect(url_for("devices.handover_detail", handover_id=handover.id))


@bp.post("/handovers/<int:handover_id>/take-back")
@roles_required(IT)
def take_back(handover_id: int):
    session = get_session()
    try:
        handover = services.load_handover(session, handover_id, _me(), lock=True)
    except services.NotAllowed:
        abort(404)
    form = ReturnForm(today=_today())
    if not form.validate_on_submit():
        return _device_page(handover.device_id, return_form=form, status=400)
    try:
        services.take_back(
            session=session,
            handover=handover,
            by=_me(),
            on=form.returned_on.data,
            note=form.note.data,
            repair=bool(form.repair.data),
        )
    except services.DeviceError as error:
        flash(str(error.message), "danger")
        return _device_page(handover.device_id, return_form=form, status=409)
    device = session.get(Device, handover.device_id)
    flash(_("The laptop %(asset_tag)s has been taken back.", asset_tag=device.asset_tag), "success")
    return redirect(url_for("devices.device_detail", device_id=device.id))


def _visible_handover(handover_id: int) -> queries.HandoverRow:
    row = queries.handover_row(get_session(), handover_id)
    if row is None or not services.can_see_handover(_me(), row.handover):
        abort(404)
    return row


@bp.get("/handovers/<int:handover_id>")
@roles_required(EMPLOYEE, IT)
def handover_detail(handover_id: int):
    row = _visible_handover(handover_id)
    return render_template(
        "devices/handover.html",
        row=row,
        is_recipient=row.person.id == _me().id,
        is_it=IT in _me().role_set,
        confirm_form=ConfirmForm(),
    )


@bp.get("/handovers/<int:handover_id>/print")
@roles_required(EMPLOYEE, IT)
def handover_print(handover_id: int):
    return render_template("devices/handover_print.html", row=_visible_handover(handover_id))


@bp.post("/handovers/<int:handover_id>/confirm")
@roles_required(EMPLOYEE, IT)
def confirm(handover_id: int):
    session = get_session()
    try:
        handover = services.load_handover(session, handover_id, _me(), lock=True)
    except services.NotAllowed:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.confirm_handover(session=session, handover=handover, by=_me())
    except services.NotAllowed:
        abort(403)  # IT sees the record but only the recipient confirms it
    except services.DeviceError as error:
        flash(str(error.message), "danger")
    else:
        flash(_("Thank you. You have confirmed the receipt."), "success")
    if request.form.get("next") == "mine":
        return redirect(url_for("devices.mine"))
    return redirect(url_for("devices.handover_detail", handover_id=handover_id))


@bp.get("/mine")
@roles_required(EMPLOYEE)
def mine():
    return render_template(
        "devices/mine.html",
        rows=queries.open_handovers_of(get_session(), _me()),
        confirm_form=ConfirmForm(),
    )


@bp.get("/overdue")
@roles_required(IT)
def overdue():
    today = _today()
    return render_template(
        "devices/overdue.html", rows=services.overdue(get_session(), today), today=today
    )


@bp.route("/import", methods=["GET", "POST"])
@roles_required(IT)
def import_devices():
    form = ImportForm()
    report = None
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        try:
            rows = services.read_workbook(upload.stream)
            report = services.import_devices(
                session=get_session(), rows=rows, by=_me(), source=upload.filename or ""
            )
        except services.DeviceError as error:
            form.file.errors.append(error.message)
            status = 400
        else:
            if report.ok:
                flash(
                    _(
                        "%(created)d devices created, %(updated)d updated, "
                        "%(unchanged)d unchanged.",
                        created=report.created,
                        updated=report.updated,
                        unchanged=report.unchanged,
                    ),
                    "success",
                )
                return redirect(url_for("devices.inventory"))
            status = 400
    elif request.method == "POST":
        status = 400
    return render_template(
        "devices/import.html", form=form, report=report, shown=SHOWN_IMPORT_ERRORS
    ), status
