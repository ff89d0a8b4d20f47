"""The room list for facility management."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlmodel import select

from homeoffice.db import get_session
from homeoffice.people.models import FACILITY, Unit
from homeoffice.rooms.models import Building, Room
from homeoffice.security import roles_required

bp = Blueprint("rooms", __name__, url_prefix="/rooms")


@bp.get("/")
@roles_required(FACILITY)
def room_list():
    rows = (
        get_session()
        .exec(
            select(Room, Building.name, Unit.name)
            .join(Building, Building.id == Room.building_id)
            .outerjoin(Unit, Unit.id == Room.unit_id)
            .order_by(Building.name, Room.floor, Room.number)
        )
        .all()
    )
    return render_template("rooms/list.html", rows=rows)


class ImportForm(FlaskForm):
    """The upload carries the CSRF token; the file is read by the service."""


@bp.route("/import", methods=["GET", "POST"])
@roles_required(FACILITY)
def import_rooms():
    """Create or update rooms from an Excel sheet, all or nothing."""
    from homeoffice.devices.services import DeviceError, read_workbook
    from homeoffice.rooms.services import import_rooms as import_

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
                count, errors = import_(session=get_session(), rows=rows, by=current_user.person)
                if not errors:
                    flash(_("%(count)s rooms imported.", count=count), "success")
                    return redirect(url_for("rooms.room_list"))
    return render_template("rooms/import.html", form=form, errors=errors), (400 if errors else 200)
