"""The laptop inventory for IT."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlmodel import select

from homeoffice.db import get_session
from homeoffice.devices.models import DEVICE_STATES, Device
from homeoffice.pagination import page_number, paginate
from homeoffice.people.models import IT
from homeoffice.security import roles_required

bp = Blueprint("devices", __name__, url_prefix="/devices")


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
