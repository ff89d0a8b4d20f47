"""Administration: the audit log, the role configuration, the rules and the jobs."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import col, select

from homeoffice.agreements.forms import ActionForm
from homeoffice.audit.models import AuditEvent
from homeoffice.db import get_session, utcnow
from homeoffice.pagination import page_number, paginate
from homeoffice.people.models import ADMIN, Person
from homeoffice.security import roles_required
from policies import PolicyFileError

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


@bp.get("/policies")
@roles_required(ADMIN)
def policies_page():
    """The rule sets in force, and the button that re-reads the rule files."""
    from homeoffice.agreements.rules import get_rule_book, last_confirmed, rule_directory

    error = None
    try:
        book = get_rule_book()
    except PolicyFileError as exc:
        book, error = None, str(exc)
    confirmed = last_confirmed(get_session()) or {}
    return render_template(
        "admin/policies.html",
        book=book,
        error=error,
        unconfirmed=bool(book and confirmed.get("fingerprint") != book.fingerprint),
        directory=rule_directory(),
        today=date.today(),
        form=ActionForm(),
    )


@bp.post("/policies/reload")
@roles_required(ADMIN)
def reload_policies():
    from homeoffice.agreements.rules import reload_rule_book

    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        reload_rule_book(session=get_session(), by=current_user.person)
    except PolicyFileError as exc:
        flash(
            _(
                "The rule files have an error; the rules in force stay as they were: %(error)s",
                error=str(exc),
            ),
            "danger",
        )
        return redirect(url_for("admin.policies_page"))
    flash(_("The rule files have been read again."), "success")
    return redirect(url_for("admin.policies_page"))


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


@bp.get("/jobs")
@roles_required(ADMIN)
def jobs():
    """The scheduled jobs: what they do, next and last run, and their history."""
    from homeoffice.jobs import services as jobs_services
    from homeoffice.jobs.runner import JOBS

    session = get_session()
    selected = request.args.get("job") or None
    if selected not in JOBS:
        selected = None
    page = paginate(
        session,
        jobs_services.history(selected),
        number=page_number(request.args),
        size=current_app.config["PAGE_SIZE"],
    )
    return render_template(
        "admin/jobs.html",
        jobs=jobs_services.overview(session, current_app.config, now=utcnow()),
        page=page,
        selected=selected,
        warning=current_app.config["JOB_FAILURE_WARNING"],
        form=ActionForm(),
    )


@bp.post("/jobs/<name>/run")
@roles_required(ADMIN)
def run_job_now(name: str):
    from homeoffice.jobs import services as jobs_services

    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        run = jobs_services.start_now(
            get_session(), current_app._get_current_object(), name=name, by=current_user.person
        )
    except jobs_services.JobNotFound:
        abort(404)
    except jobs_services.NotAllowed:
        abort(403)
    if run is None:
        flash(_("The job is running elsewhere right now; it was not started twice."), "warning")
    elif run.outcome == "failed":
        flash(_("The job failed: %(error)s", error=run.error), "danger")
    else:
        flash(_("The job has run."), "success")
    return redirect(url_for("admin.jobs", job=name))
