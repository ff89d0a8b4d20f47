"""Roster downloads: POST with CSRF and a fresh login, no-store, audited."""

from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, render_template, send_file
from flask_login import current_user
from sqlmodel import select

from homeoffice.db import get_session, utcnow
from homeoffice.exports import rosters
from homeoffice.exports.forms import ExportForm
from homeoffice.people.models import FACILITY, HR, IT, Unit
from homeoffice.security import login_manager, recent_login, roles_required

bp = Blueprint("exports", __name__, url_prefix="/exports")

#: who may download which roster
ALLOWED = {
    "devices": {IT},
    "vpn": {IT},
    "terminal-server": {IT},
    "roster": {IT, HR},
    "agreements": {HR, IT},
    "plan": {HR, FACILITY},
}


def _units():
    return get_session().exec(select(Unit).order_by(Unit.name)).all()


@bp.get("/")
@roles_required(IT, HR, FACILITY)
def index():
    kinds = [kind for kind in rosters.KINDS if current_user.has_role(*ALLOWED[kind])]
    form = ExportForm(formdata=None)
    form.set_units(_units())
    return render_template("exports/index.html", kinds=kinds, form=form)


@bp.post("/<kind>.xlsx")
@roles_required(IT, HR, FACILITY)
def download(kind: str):
    if kind not in ALLOWED:
        abort(404)
    if not current_user.has_role(*ALLOWED[kind]):
        abort(403)
    # Rosters list people and their access: only for someone who just proved their password.
    if not recent_login():
        return login_manager.needs_refresh()
    units = _units()
    form = ExportForm()
    form.set_units(units)
    if not form.validate_on_submit():
        abort(400)
    unit = next((u for u in units if str(u.id) == form.unit.data), None)
    if (
        kind == "plan"
        and form.start.data
        and form.end.data
        and (form.end.data < form.start.data or (form.end.data - form.start.data).days > 366)
    ):
        abort(400)
    buffer = io.BytesIO()
    rosters.export(
        session=get_session(),
        kind=kind,
        target=buffer,
        export_filter=rosters.ExportFilter(
            unit.id if unit else None,
            unit.name if unit else None,
            form.start.data,
            form.end.data,
        ),
        by=current_user.person,
        by_name=current_user.person.display_name,
        config=current_app.config,
    )
    buffer.seek(0)
    response = send_file(
        buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=rosters.filename(kind, utcnow()),
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
