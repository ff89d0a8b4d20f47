"""Presence pages: my week, the unit's month, swaps, the day's occupancy, contacts, and
the calendar feed."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime, timedelta

from flask import (
    Blueprint,
    Response,
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
from sqlmodel import col, select

from homeoffice.agreements.rules import get_rule_book
from homeoffice.db import get_session
from homeoffice.people.models import EMPLOYEE, FACILITY, SUPERVISOR, Person, Unit
from homeoffice.presence import plan, services
from homeoffice.presence.forms import (
    AbsenceForm,
    CalendarForm,
    ContactForm,
    RotationForm,
    SwapForm,
)
from homeoffice.presence.models import Swap
from homeoffice.rooms import services as rooms
from homeoffice.rooms.models import Building
from homeoffice.security import public, roles_required

bp = Blueprint("presence", __name__, url_prefix="/presence")


def _me() -> Person:
    return current_user.person


def _parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _holidays(start: date, end: date) -> dict[date, str]:
    return rooms.holidays_for(current_app.config, start, end)


def _statuses(unit: Unit, start: date, end: date):
    inputs = services.load_unit(get_session(), unit, start=start, end=end)
    return inputs, plan.unit_statuses(
        inputs.inputs,
        start=start,
        end=end,
        rotations=inputs.rotations,
        holidays=_holidays(start, end),
    )


@bp.get("/")
@roles_required(EMPLOYEE)
def my_week():
    today = date.today()
    monday = _parse_day(request.args.get("week"), today)
    monday -= timedelta(days=monday.weekday())
    friday = monday + timedelta(days=4)
    days, seats = services.person_days(
        get_session(), _me(), start=monday, end=friday, holidays=_holidays(monday, friday)
    )
    return render_template(
        "presence/week.html",
        monday=monday,
        days=days,
        seats=seats,
        previous=monday - timedelta(days=7),
        following=monday + timedelta(days=7),
        absence_form=AbsenceForm(formdata=None),
        calendar_form=CalendarForm(),
    )


@bp.post("/absences")
@roles_required(EMPLOYEE)
def add_absence():
    form = AbsenceForm()
    if not form.validate_on_submit():
        flash(_("Please enter the first and the last day."), "danger")
        return redirect(url_for("presence.my_week"))
    try:
        services.add_absence(
            session=get_session(), person=_me(), by=_me(), start=form.start.data, end=form.end.data
        )
    except services.PresenceError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("presence.my_week"))
    services.replan(session=get_session(), config=current_app.config, today=date.today(), by=_me())
    flash(_("Your absence has been entered."), "success")
    return redirect(url_for("presence.my_week", week=form.start.data.isoformat()))


def _led_units() -> list[Unit]:
    session = get_session()
    units = session.exec(select(Unit).where(col(Unit.active).is_(True)).order_by(Unit.name)).all()
    return [u for u in units if services.heads(session, u, _me())]


def _unit_or_404(unit_id: int) -> Unit:
    unit = get_session().get(Unit, unit_id)
    if unit is None or not services.heads(get_session(), unit, _me()):
        abort(404)
    return unit


@bp.get("/unit")
@roles_required(SUPERVISOR)
def unit_month():
    units = _led_units()
    if not units:
        return render_template("presence/unit.html", unit=None, units=[])
    unit = next((u for u in units if str(u.id) == request.args.get("unit")), units[0])
    today = date.today()
    try:
        first = datetime.strptime(request.args.get("month", ""), "%Y-%m").date()
    except ValueError:
        first = today.replace(day=1)
    last = first.replace(day=monthrange(first.year, first.month)[1])
    inputs, statuses = _statuses(unit, first, last)
    office = plan.people_by_kind(statuses, plan.OFFICE)
    rule_set = get_rule_book().active_on(today)[0]
    gaps = plan.staffing_gaps(
        office,
        min_present=rule_set.quota_for(unit.name).min_present,
        candidates_by_day=plan.people_by_kind(statuses, plan.HOME),
    )
    groups = {}
    for person_id, person_inputs in inputs.inputs.items():
        current = [m for m in person_inputs.memberships if m.valid_from <= last]
        groups[person_id] = current[-1].group if current else None
    form = RotationForm(formdata=None)
    form.valid_from.data = today
    return render_template(
        "presence/unit.html",
        unit=unit,
        units=units,
        first=first,
        statuses=statuses,
        people=inputs.people,
        gaps=gaps,
        groups=groups,
        rotations=inputs.rotations,
        form=form,
        previous=(first - timedelta(days=1)).replace(day=1),
        following=last + timedelta(days=1),
        names={p.id: p.display_name for p in inputs.people},
    )


@bp.post("/unit/<int:unit_id>/rotation")
@roles_required(SUPERVISOR)
def set_rotation(unit_id: int):
    unit = _unit_or_404(unit_id)
    form = RotationForm()
    if not form.validate_on_submit():
        flash(_("Please check the rotation: kind, number of groups and first day."), "danger")
        return redirect(url_for("presence.unit_month", unit=unit.id))
    try:
        services.set_rotation(
            session=get_session(),
            unit=unit,
            by=_me(),
            kind=form.kind.data,
            groups=form.groups.data,
            valid_from=form.valid_from.data,
            office_weekdays=None,
            today=date.today(),
        )
    except services.PresenceError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("presence.unit_month", unit=unit.id))
    services.replan(session=get_session(), config=current_app.config, today=date.today(), by=_me())
    flash(
        _("The rotation applies from %(day)s.", day=form.valid_from.data.strftime("%d.%m.%Y")),
        "success",
    )
    return redirect(url_for("presence.unit_month", unit=unit.id))


@bp.post("/unit/<int:unit_id>/groups")
@roles_required(SUPERVISOR)
def set_groups(unit_id: int):
    unit = _unit_or_404(unit_id)
    form = CalendarForm()  # carries the CSRF token only
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    members = {p.id for p in session.exec(select(Person).where(Person.unit_id == unit.id))}
    assignment = {}
    for key, value in request.form.items():
        if key.startswith("group-") and value.isdigit():
            person_id = int(key.removeprefix("group-"))
            if person_id in members and int(value) < 10:
                assignment[person_id] = int(value)
    valid_from = _parse_day(request.form.get("valid_from"), date.today())
    try:
        services.assign_groups(
            session=session,
            unit=unit,
            by=_me(),
            groups=assignment,
            valid_from=valid_from,
            today=date.today(),
        )
    except services.PresenceError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("presence.unit_month", unit=unit.id))
    services.replan(session=get_session(), config=current_app.config, today=date.today(), by=_me())
    flash(_("The groups apply from %(day)s.", day=valid_from.strftime("%d.%m.%Y")), "success")
    return redirect(url_for("presence.unit_month", unit=unit.id))


@bp.post("/unit/<int:unit_id>/override")
@roles_required(SUPERVISOR)
def override_day(unit_id: int):
    """Put one person of the unit in or out of the office on one day."""
    unit = _unit_or_404(unit_id)
    if not CalendarForm().validate_on_submit():
        abort(400)
    session = get_session()
    person = session.get(Person, request.form.get("person", type=int) or 0)
    day = _parse_day(request.form.get("day"), date.min)
    if person is None or person.unit_id != unit.id or day == date.min:
        flash(_("Please choose a person and a day."), "danger")
        return redirect(url_for("presence.unit_month", unit=unit.id))
    try:
        services.override_day(
            session=session,
            person=person,
            by=_me(),
            day=day,
            in_office=request.form.get("where") == "office",
            today=date.today(),
        )
    except services.NotAllowed:
        abort(404)
    except services.PresenceError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("presence.unit_month", unit=unit.id))
    services.replan(session=session, config=current_app.config, today=date.today(), by=_me())
    flash(_("The day has been changed."), "success")
    return redirect(url_for("presence.unit_month", unit=unit.id, month=day.strftime("%Y-%m")))


@bp.post("/unit/<int:unit_id>/propose")
@roles_required(SUPERVISOR)
def propose_groups(unit_id: int):
    unit = _unit_or_404(unit_id)
    if not CalendarForm().validate_on_submit():
        abort(400)
    today = date.today()
    horizon = (today, today + timedelta(weeks=4))
    inputs, _statuses_ = _statuses(unit, *horizon)
    if not inputs.rotations or inputs.rotations[-1].kind == "none":
        flash(_("Set a rotation with groups first."), "danger")
        return redirect(url_for("presence.unit_month", unit=unit.id))
    rotation = inputs.rotations[-1]
    fixed = {}
    for person_id, person_inputs in inputs.inputs.items():
        weekdays = [t.weekdays for t in person_inputs.terms if t.weekdays]
        if weekdays:
            fixed[person_id] = weekdays[-1]
    rule_set = get_rule_book().active_on(today)[0]
    proposal = plan.propose_groups(
        [p.id for p in inputs.people],
        groups=rotation.groups,
        rotation=rotation,
        fixed_home_weekdays=fixed,
        min_present=rule_set.quota_for(unit.name).min_present,
        horizon=horizon,
        holidays=_holidays(*horizon),
    )
    services.assign_groups(
        session=get_session(),
        unit=unit,
        by=_me(),
        groups=proposal.assignment,
        valid_from=max(today, rotation.valid_from),
        today=today,
    )
    services.replan(session=get_session(), config=current_app.config, today=today, by=_me())
    if proposal.short_days:
        flash(
            _(
                "Groups proposed and set. %(count)s days still fall short of the minimum staffing.",
                count=len(proposal.short_days),
            ),
            "warning",
        )
    else:
        flash(_("Groups proposed and set; every day keeps the minimum staffing."), "success")
    return redirect(url_for("presence.unit_month", unit=unit.id))


@bp.get("/swaps")
@roles_required(EMPLOYEE)
def swaps():
    session = get_session()
    me = _me()
    mine = session.exec(
        select(Swap)
        .where((Swap.requester_id == me.id) | (Swap.colleague_id == me.id))
        .order_by(Swap.created_at.desc())
    ).all()
    colleagues = (
        session.exec(
            select(Person)
            .where(Person.unit_id == me.unit_id, Person.id != me.id, col(Person.active).is_(True))
            .order_by(Person.display_name)
        ).all()
        if me.unit_id
        else []
    )
    form = SwapForm(formdata=None)
    form.set_colleagues(colleagues)
    names = {p.id: p.display_name for p in colleagues} | {me.id: me.display_name}
    return render_template(
        "presence/swaps.html", swaps=mine, form=form, names=names, answer_form=CalendarForm()
    )


@bp.post("/swaps")
@roles_required(EMPLOYEE)
def propose_swap():
    session = get_session()
    me = _me()
    colleagues = (
        session.exec(select(Person).where(Person.unit_id == me.unit_id, Person.id != me.id)).all()
        if me.unit_id
        else []
    )
    form = SwapForm()
    form.set_colleagues(colleagues)
    if not form.validate_on_submit() or me.unit_id is None:
        flash(_("Please choose a colleague and two days."), "danger")
        return redirect(url_for("presence.swaps"))
    colleague = session.get(Person, int(form.colleague.data))
    unit = session.get(Unit, me.unit_id)
    start = min(form.my_day.data, form.their_day.data)
    end = max(form.my_day.data, form.their_day.data)
    _inputs, statuses = _statuses(unit, start, end)
    by_person: dict[int, dict] = {}
    for day, day_statuses in statuses.items():
        for person_id, status in day_statuses.items():
            by_person.setdefault(person_id, {})[day] = status
    by_person.setdefault(me.id, {})
    by_person.setdefault(colleague.id, {})
    try:
        services.propose_swap(
            session=session,
            requester=me,
            colleague=colleague,
            requester_day=form.my_day.data,
            colleague_day=form.their_day.data,
            statuses=by_person,
            today=date.today(),
        )
    except services.PresenceError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("presence.swaps"))
    flash(_("Your colleague has been asked to confirm the swap."), "success")
    return redirect(url_for("presence.swaps"))


@bp.post("/swaps/<int:swap_id>/answer")
@roles_required(EMPLOYEE)
def answer_swap(swap_id: int):
    if not CalendarForm().validate_on_submit():
        abort(400)
    session = get_session()
    swap = session.get(Swap, swap_id)
    if swap is None or _me().id not in (swap.requester_id, swap.colleague_id):
        abort(404)
    try:
        services.answer_swap(
            session=session, swap=swap, by=_me(), accept=request.form.get("answer") == "accept"
        )
    except services.NotAllowed:
        abort(404)
    except services.PresenceError as error:
        flash(str(error.message), "danger")
        return redirect(url_for("presence.swaps"))
    services.replan(session=get_session(), config=current_app.config, today=date.today(), by=_me())
    flash(_("Your answer has been recorded."), "success")
    return redirect(url_for("presence.swaps"))


@bp.get("/occupancy")
@roles_required(FACILITY)
def occupancy():
    session = get_session()
    day = _parse_day(request.args.get("day"), date.today())
    buildings = session.exec(select(Building).order_by(Building.name)).all()
    building_id = request.args.get("building", type=int)
    rows = rooms.occupancy(session, day, building_id)
    return render_template(
        "presence/occupancy.html",
        day=day,
        rows=rows,
        buildings=buildings,
        building_id=building_id,
        form=CalendarForm(),
    )


@bp.post("/allocate")
@roles_required(FACILITY)
def allocate():
    if not CalendarForm().validate_on_submit():
        abort(400)
    summary = rooms.run_allocation(
        session=get_session(), today=date.today(), config=current_app.config, by=_me()
    )
    # Post/redirect/get: the result is stored, so a reload shows it and runs nothing.
    return redirect(url_for("rooms.allocation_run", run_id=summary.run.id))


@bp.get("/contacts")
@roles_required(FACILITY)
def contacts():
    session = get_session()
    form = ContactForm(request.args, meta={"csrf": False})
    report = None
    if request.args and form.validate():
        person = session.exec(
            select(Person).where(Person.username == form.username.data.strip())
        ).first()
        if person is None:
            form.username.errors.append(_("Nobody with this user name was found."))
        else:
            report = rooms.contact_report(
                session=session, person=person, start=form.start.data, end=form.end.data, by=_me()
            )
    export_form = None
    if report is not None:
        export_form = ContactForm(formdata=None)
        export_form.username.data = form.username.data
        export_form.start.data, export_form.end.data = form.start.data, form.end.data
    return render_template(
        "presence/contacts.html", form=form, report=report, export_form=export_form
    )


@bp.post("/contacts.xlsx")
@roles_required(FACILITY)
def contacts_export():
    """The contact report as an Excel file for the health office (audited, no-store)."""
    import io

    from flask import send_file

    from homeoffice.audit.services import record
    from homeoffice.exports.xlsx import Column, Sheet, write_workbook
    from homeoffice.templating import CONTACT_KIND_LABELS

    form = ContactForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    person = session.exec(
        select(Person).where(Person.username == form.username.data.strip())
    ).first()
    if person is None:
        abort(404)
    report = rooms.contact_report(
        session=session, person=person, start=form.start.data, end=form.end.data, by=_me()
    )
    buffer = io.BytesIO()
    write_workbook(
        buffer,
        [
            Sheet(
                title=_("Contacts"),
                columns=[
                    Column("own_day", _("Day of the person"), "date"),
                    Column("room", _("Room")),
                    Column("name", _("Name")),
                    Column("day", _("Their day in the room"), "date"),
                    Column("mail", _("E-mail")),
                    Column("kind", _("Contact")),
                ],
                rows=(
                    {
                        "own_day": c.own_day,
                        "day": c.day,
                        "room": c.room,
                        "name": c.person.display_name,
                        "mail": c.person.mail,
                        "kind": str(CONTACT_KIND_LABELS.get(c.kind, c.kind)),
                    }
                    for c in report
                ),
            )
        ],
        about=[
            (_("Person"), person.display_name),
            (_("Filter"), f"{form.start.data:%d.%m.%Y} – {form.end.data:%d.%m.%Y}"),
            (_("Exported by"), _me().display_name),
        ],
        about_title=_("About this export"),
    )
    record(
        session,
        action="export.contacts",
        actor=_me(),
        object_type="person",
        object_id=person.id,
        after={"start": str(form.start.data), "end": str(form.end.data)},
    )
    buffer.seek(0)
    response = send_file(
        buffer,
        as_attachment=True,
        download_name=f"kontakte-{person.username}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/calendar")
@roles_required(EMPLOYEE)
def new_calendar():
    if not CalendarForm().validate_on_submit():
        abort(400)
    token = services.new_feed(session=get_session(), person=_me())
    url = url_for("presence.feed", token=token, _external=True)
    # The address is shown once; only its hash is kept.
    return render_template("presence/calendar.html", url=url)


@bp.post("/calendar/revoke")
@roles_required(EMPLOYEE)
def revoke_calendar():
    if not CalendarForm().validate_on_submit():
        abort(400)
    services.revoke_feed(session=get_session(), person=_me())
    flash(_("Your calendar address no longer works."), "success")
    return redirect(url_for("presence.my_week"))


@bp.get("/calendar/<token>.ics")
@public
def feed(token: str):
    """Office days for calendar clients; the secret in the address is the only key."""
    from icalendar import Calendar, Event

    session = get_session()
    person = services.person_for_feed(session, token)
    if person is None or person.unit_id is None:
        abort(404)
    start = date.today() - timedelta(days=14)
    end = date.today() + timedelta(weeks=8)
    days, rooms_by_day = services.person_days(
        session, person, start=start, end=end, holidays=_holidays(start, end)
    )
    seats = {
        day: f"{building.name} {room.number}" for day, (room, building) in rooms_by_day.items()
    }
    calendar = Calendar()
    calendar.add("prodid", "-//Stadtverwaltung//homeoffice//DE")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Bürotage")
    for day, status in sorted(days.items()):
        if status.kind not in (plan.OFFICE, plan.HOME):
            continue
        event = Event()
        event.add("uid", f"{person.id}-{day.isoformat()}@homeoffice")
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        where = seats.get(day)
        event.add(
            "summary",
            ("Büro" + (f": {where}" if where else ""))
            if status.kind == plan.OFFICE
            else "Homeoffice",
        )
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    response = Response(calendar.to_ical(), mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
