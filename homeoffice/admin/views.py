"""Administration: the audit log and the role configuration."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlmodel import col, select

from homeoffice.audit.models import AuditEvent
from homeoffice.db import get_session
from homeoffice.pagination import page_number, paginate
from homeoffice.people.models import ADMIN, Person
from homeoffice.security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/audit")
@roles_required(ADMIN)
def audit_log():
    action = (request.args.get("action") or "").strip()[:100]
    statement = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        statement = statement.where(AuditEvent.action == action)
    page = paginate(
        get_session(),
        statement,
        number=page_number(request.args),
        size=current_app.config["PAGE_SIZE"],
    )
    return render_template("admin/audit.html", page=page, action=action)


@bp.get("/roles")
@roles_required(ADMIN)
def roles():
    """Which directory group gives which role, and who holds each role now."""
    role_groups = current_app.config["ROLE_GROUPS"]
    holders = {role: [] for role in role_groups}
    # Everybody holds "employee" and supervisors hold "supervisor": only the rest
    # can hold a directory role, which keeps this one short query.
    people = (
        get_session()
        .exec(
            select(Person)
            .where(
                col(Person.active).is_(True),
                Person.roles.not_in(["employee", "employee supervisor"]),
            )  # noqa: E712
            .order_by(Person.display_name)
        )
        .all()
    )
    for person in people:
        for role in person.role_set & set(role_groups):
            holders[role].append(person)
    return render_template("admin/roles.html", role_groups=role_groups, holders=holders)
