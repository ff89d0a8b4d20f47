"""The room list for facility management."""

from __future__ import annotations

from flask import Blueprint, render_template
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
