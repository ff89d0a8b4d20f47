"""The room list, the room import and the record of allocation runs, for facility
management."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlmodel import select

from homeoffice.db import get_session
from homeoffice.people.models import FACILITY, Unit
from homeoffice.rooms import services
from homeoffice.rooms.models import MANUAL, PLAN_CHANGE, SCHEDULED, Building, Room
from homeoffice.security import roles_required

bp = Blueprint("rooms", __name__, url_prefix="/rooms")

#: what started a run, as the pages say it
TRIGGER_LABELS = {
    MANUAL: _l("started by hand"),
    SCHEDULED: _l("nightly run"),
    PLAN_CHANGE: _l("after a change of plan"),
}

#: why someone has no room, as the pages say it (see allocation.ConflictReason)
CONFLICT_REASON_LABELS = {
    "office_full": _l("no room they may use had space"),
    "own_unit_full": _l("only rooms of other units had space"),
    "not_allocated": _l("a room had space; allocate again"),
}


@bp.get("/")
@roles_required(FACILITY)
def room_list():
    session = get_session()
    rows = session.exec(
        select(Room, Building.name)
        .join(Building, Building.id == Room.building_id)
        .order_by(Building.name, Room.floor, Room.number)
    ).all()
    unit_names = dict(session.exec(select(Unit.id, Unit.name)).all())
    units = {
        room_id: sorted(unit_names[unit_id] for unit_id in unit_ids)
        for room_id, unit_ids in services.units_by_room(session).items()
    }
    return render_template("rooms/list.html", rows=rows, units=units)


class ImportForm(FlaskForm):
    """The upload carries the CSRF token; the file is read by the service."""


@bp.route("/import", methods=["GET", "POST"])
@roles_required(FACILITY)
def import_rooms():
    """Create or update rooms from an Excel sheet, all or nothing."""
    from homeoffice.devices.services import DeviceError, read_workbook

    form = ImportForm()
    errors: list[str] = []
    if request.method == "POST":
        upload = request.files.get("file")
        if not form.validate_on_submit() or upload is None or not upload.filename:
            errors = [_("Please choose a file.")]
        else:
            try:
                rows = read_workbook(upload.stream)
            except DeviceError as error:
                errors = [str(error.message)]
            else:
                count, errors = services.import_rooms(
                    session=get_session(), rows=rows, by=current_user.person
                )
                if not errors:
                    flash(_("%(count)s rooms imported.", count=count), "success")
                    return redirect(url_for("rooms.room_list"))
    return render_template("rooms/import.html", form=form, errors=errors), (400 if errors else 200)


@bp.get("/allocation-runs")
@roles_required(FACILITY)
def allocation_runs():
    """The latest allocation runs: by hand, nightly and after changes of plan."""
    try:
        runs = services.recent_runs(session=get_session(), by=current_user.person)
    except services.NotAllowed:
        abort(404)
    return render_template(
        "rooms/runs.html",
        runs=runs,
        trigger_labels=TRIGGER_LABELS,
        format_datetime=format_datetime,
    )


@bp.get("/allocation-runs/<int:run_id>")
@roles_required(FACILITY)
def allocation_run(run_id: int):
    """One stored run: its figures, and who had no room with what could be done."""
    try:
        report = services.run_report(session=get_session(), run_id=run_id, by=current_user.person)
    except (services.NotAllowed, LookupError):
        abort(404)
    return render_template(
        "rooms/run.html",
        report=report,
        run=report.run,
        trigger_labels=TRIGGER_LABELS,
        conflict_reason_labels=CONFLICT_REASON_LABELS,
        format_datetime=format_datetime,
    )
