"""Staff lists: everybody for HR and admins, the own team for supervisors."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from homeoffice.db import get_session
from homeoffice.pagination import page_number
from homeoffice.people import queries
from homeoffice.people.models import ADMIN, HR, SUPERVISOR
from homeoffice.security import roles_required

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.get("/")
@roles_required(HR, ADMIN)
def staff():
    search = (request.args.get("q") or "").strip()[:100]
    page = queries.staff_page(
        get_session(),
        search=search,
        number=page_number(request.args),
        size=current_app.config["PAGE_SIZE"],
    )
    return render_template("people/staff.html", page=page, search=search)


@bp.get("/team")
@roles_required(SUPERVISOR)
def team():
    members = queries.team_of(get_session(), current_user.person)
    return render_template("people/team.html", members=members)
