"""The JSON API under ``/api/v1``: thin handlers that check input, query what the
caller may see and call the same services as the screens.

Objects the caller may not see answer 404, exactly like objects that do not exist, so
ids cannot be probed (as on the screens). Writes need a personal token: they act for a
person, and a service token has none.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from sqlmodel import col, or_, select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter
from werkzeug.routing.exceptions import RoutingException

from homeoffice.access.models import CREDENTIAL_KINDS, Credential
from homeoffice.agreements import services as agreements
from homeoffice.agreements.forms import REASON_FIELDS, WEEKDAY_FIELDS, RequestForm
from homeoffice.agreements.models import (
    AGREEMENT_STATES,
    NEW,
    PATTERNS,
    REQUEST_KINDS,
    REQUEST_STATES,
    Agreement,
    HomeOfficeRequest,
)
from homeoffice.agreements.rules import get_rule_book
from homeoffice.api import errors, openapi, shapes
from homeoffice.api.auth import api_roles, current_principal
from homeoffice.api.errors import ApiError
from homeoffice.api.params import FIRST_DAY, LAST_DAY, Body, Query, json_object
from homeoffice.api.queries import (
    ApiPage,
    name_pattern,
    page_of,
    visible_people,
    visible_requests,
)
from homeoffice.api.services import ApiPrincipal
from homeoffice.db import get_session
from homeoffice.devices.models import DEVICE_STATES, Device, Handover
from homeoffice.people.models import (
    ADMIN,
    ALL_ROLES,
    EMPLOYEE,
    FACILITY,
    HR,
    IT,
    SUPERVISOR,
    Person,
    Unit,
)
from homeoffice.presence import plan
from homeoffice.presence import services as presence
from homeoffice.rooms import services as rooms
from homeoffice.rooms.models import Building, Room, RoomAllocation
from homeoffice.security import csrf


class IdConverter(BaseConverter):
    """An id in a path: 1 … 2147483647 (a 32-bit integer column), no sign, no leading
    zero. The bound is in the pattern, not in a check after matching (werkzeug ends the
    matching there): a path that does not fit then reaches `unknown` and its JSON 404,
    and no number too large for the database ever reaches a query."""

    regex = (
        r"(?:[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}"
        r"|2147[0-3][0-9]{5}|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}"
        r"|21474836[0-3][0-9]|214748364[0-7])"
    )
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class RestConverter(BaseConverter):
    """Any rest of a path, also with line breaks or other control characters, which the
    ``path`` converter does not match: every address under /api/v1 reaches `unknown`."""

    regex = r"[\s\S]+"
    part_isolating = False


def _add_converters(state) -> None:
    state.app.url_map.converters.setdefault("api_id", IdConverter)
    state.app.url_map.converters.setdefault("api_rest", RestConverter)


bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Before the routes: their rules need the converters when the blueprint is registered.
bp.record_once(_add_converters)
errors.register(bp)
# Writes need a bearer token and a session cookie alone may only read, so a forged
# cross-site request can change nothing: the CSRF token has no work to do here.
csrf.exempt(bp)

ID = "api_id"
#: the longest date range of the presence endpoints (a quarter)
MAX_PLAN_DAYS = 92
#: who sees every row of a resource (the rest: their own, supervisors their team's)
PEOPLE_FOR_ALL = (HR, ADMIN)
AGREEMENTS_FOR_ALL = (HR, IT)
REQUESTS_FOR_ALL = (HR,)
DEVICES_FOR_ALL = (IT,)


def _listing(page: ApiPage, shape) -> object:
    """A page of items with a ``Link`` header to the pages before and after."""
    response = jsonify(
        {
            "items": [shape(row) for row in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
        }
    )
    links = []
    if page.has_next:
        links.append(f'<{_page_url(page.page + 1)}>; rel="next"')
    if page.page > 1:
        links.append(f'<{_page_url(page.page - 1)}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def _page_url(number: int) -> str:
    args = request.args.to_dict()
    args["page"] = str(number)
    return f"{request.path}?{urlencode(args)}"


def _acting_person() -> Person:
    """The person a write acts for: a personal token's owner (`check_access` refuses
    writes by service tokens)."""
    return current_principal().person


def _show_health(principal: ApiPrincipal) -> bool:
    """Health as a reason: for HR only, and for a browser only after a recent password
    check, as on the screens (SECURITY.md items 12 and 16)."""
    return principal.person is not None and principal.has_role(HR) and principal.fresh


# --- the API itself ----------------------------------------------------------------------


@bp.get("/")
@api_roles(*ALL_ROLES)
def index():
    return jsonify(
        {"version": "1", "openapi": "/api/v1/openapi.json", "documentation": "/api/v1/docs"}
    )


@bp.get("/openapi.json")
@api_roles(*ALL_ROLES)
def openapi_document():
    return jsonify(openapi.document())


@bp.get("/docs")
@api_roles(*ALL_ROLES)
def documentation():
    spec = openapi.document()
    return render_template(
        "api/docs.html",
        spec=spec,
        operations=openapi.operations(spec),
        type_text=openapi.type_text,
    )


@bp.route("/<api_rest:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@api_roles(*ALL_ROLES)
def unknown(rest: str):
    """Any other address under /api/v1: 405 where the path exists with other methods,
    404 otherwise, both as JSON (the app's error pages do not know the API's shape)."""
    allowed = _methods_of(request.path)
    if allowed:
        raise ApiError(405, headers={"Allow": ", ".join(sorted(allowed))})
    raise ApiError(404)


def _methods_of(path: str) -> set[str]:
    adapter = current_app.create_url_adapter(request)
    allowed = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _args = adapter.match(path, method=method)
        except (HTTPException, RoutingException):
            continue
        if endpoint != request.endpoint:
            allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")
    return allowed


# --- people and units --------------------------------------------------------------------


def _people_statement(principal: ApiPrincipal):
    return (
        select(Person, Unit.name)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .where(visible_people(principal, everyone=PEOPLE_FOR_ALL, team=True))
    )


@bp.get("/people")
@api_roles(EMPLOYEE, SUPERVISOR, HR, ADMIN)
def people():
    query = Query()
    page, per_page = query.page()
    unit_id = query.integer("unit_id")
    active = query.boolean("active")
    search = query.text("q", max_length=100)
    query.done()
    statement = _people_statement(current_principal()).order_by(Person.id)
    statement = statement.where(col(Person.active).is_(True if active is None else active))
    if unit_id is not None:
        statement = statement.where(Person.unit_id == unit_id)
    if search:
        pattern = name_pattern(search)
        statement = statement.where(
            or_(col(Person.display_name).ilike(pattern), col(Person.username).ilike(pattern))
        )
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(found, lambda row: shapes.person(*row))


@bp.get(f"/people/<{ID}:person_id>")
@api_roles(EMPLOYEE, SUPERVISOR, HR, ADMIN)
def person(person_id: int):
    row = (
        get_session()
        .exec(_people_statement(current_principal()).where(Person.id == person_id))
        .first()
    )
    if row is None:
        raise ApiError(404)
    return jsonify(shapes.person(*row))


@bp.get("/units")
@api_roles(*ALL_ROLES)
def units():
    query = Query()
    page, per_page = query.page()
    active = query.boolean("active")
    query.done()
    statement = select(Unit).order_by(Unit.id)
    if active is not None:
        statement = statement.where(col(Unit.active).is_(active))
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(found, shapes.unit)


# --- agreements and requests -------------------------------------------------------------


def _agreements_statement(principal: ApiPrincipal, *person):
    """Agreements the caller may see, with ``person`` (the entity, or the columns a
    list needs: loading 100 whole people per page would double its time)."""
    return (
        select(Agreement, *person)
        .join(Person, Person.id == Agreement.person_id)
        .where(visible_people(principal, everyone=AGREEMENTS_FOR_ALL, team=True))
    )


def _filtered_listing(statement, model, states, shape):
    """A page of agreements or requests with the filters both lists share, on ``model``
    (Agreement or HomeOfficeRequest, both with person, state and a term), in id order;
    ``shape`` turns a row into its JSON."""
    query = Query()
    page, per_page = query.page()
    unit_id = query.integer("unit_id")
    person_id = query.integer("person_id")
    state = query.choice("state", states)
    start, end = query.date_range()
    query.done()
    statement = statement.order_by(model.id)
    if unit_id is not None:
        statement = statement.where(Person.unit_id == unit_id)
    if person_id is not None:
        statement = statement.where(model.person_id == person_id)
    if state:
        statement = statement.where(model.state == state)
    # In force at some day of the range: starts before its end, ends after its start.
    if end is not None:
        statement = statement.where(model.start_date <= end)
    if start is not None:
        statement = statement.where(
            or_(col(model.end_date).is_(None), col(model.end_date) >= start)
        )
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(found, shape)


@bp.get("/agreements")
@api_roles(EMPLOYEE, SUPERVISOR, HR, IT)
def agreement_list():
    return _filtered_listing(
        _agreements_statement(current_principal(), Person.display_name, Person.unit_id),
        Agreement,
        AGREEMENT_STATES,
        lambda row: shapes.agreement(*row),
    )


@bp.get(f"/agreements/<{ID}:agreement_id>")
@api_roles(EMPLOYEE, SUPERVISOR, HR, IT)
def agreement_detail(agreement_id: int):
    session = get_session()
    principal = current_principal()
    row = session.exec(
        _agreements_statement(principal, Person).where(Agreement.id == agreement_id)
    ).first()
    if row is None:
        raise ApiError(404)
    agreement, owner = row
    req = session.get(HomeOfficeRequest, agreement.request_id)
    show_health = _show_health(principal)
    if show_health and req is not None and "health" in req.reason_set:
        _record_health_view(principal, owner, "agreement", agreement.id)
    return jsonify(shapes.agreement_detail(agreement, owner, req, show_health=show_health))


def _record_health_view(principal: ApiPrincipal, owner: Person, kind: str, object_id: int):
    """Every view of someone else's health reason is logged, as on the screens."""
    if principal.person.id != owner.id:
        agreements.record_health_view(
            get_session(), by=principal.person, object_type=kind, object_id=object_id
        )


def _requests_statement(principal: ApiPrincipal, *person):
    return (
        select(HomeOfficeRequest, *person)
        .join(Person, Person.id == HomeOfficeRequest.person_id)
        .where(visible_requests(principal, everyone=REQUESTS_FOR_ALL))
    )


@bp.get("/requests")
@api_roles(EMPLOYEE, SUPERVISOR, HR)
def request_list():
    return _filtered_listing(
        _requests_statement(current_principal(), Person.display_name, Person.unit_id),
        HomeOfficeRequest,
        REQUEST_STATES,
        lambda row: shapes.request_summary(*row),
    )


def _visible_request(request_id: int):
    row = (
        get_session()
        .exec(
            _requests_statement(current_principal(), Person).where(
                HomeOfficeRequest.id == request_id
            )
        )
        .first()
    )
    if row is None:
        raise ApiError(404)
    return row


def _request_answer(req: HomeOfficeRequest, owner: Person) -> dict:
    principal = current_principal()
    show_health = _show_health(principal)
    if show_health and "health" in req.reason_set:
        _record_health_view(principal, owner, "request", req.id)
    return shapes.request_detail(req, owner, show_health=show_health)


@bp.get(f"/requests/<{ID}:request_id>")
@api_roles(EMPLOYEE, SUPERVISOR, HR)
def request_detail(request_id: int):
    return jsonify(_request_answer(*_visible_request(request_id)))


#: the fields of a new request and the form field each one fills
REQUEST_FIELDS = (
    "kind",
    "submit",
    "reasons",
    "children_under_14",
    "youngest_child_age",
    "care_level",
    "commute_km",
    "commute_minutes",
    "health_certificate",
    "other_text",
    "pattern",
    "share_percent",
    "weekdays",
    "start_date",
    "end_date",
    "wants_laptop",
    "wants_vpn",
    "wants_terminal_server",
    "uses_private_computer",
)
_FORM_FIELD_NAMES = {
    **{name: "reasons" for name in REASON_FIELDS.values()},
    **{name: "weekdays" for name in WEEKDAY_FIELDS.values()},
    "until_revoked": "end_date",
}


def _request_form(body: Body) -> tuple[RequestForm, str, bool]:
    """The JSON body as the request form's data, checked by the form's own rules, so
    that the API accepts exactly what the screen accepts."""
    kind = body.choice("kind", REQUEST_KINDS) or NEW
    submit = body.boolean("submit", default=True)
    pairs: list[tuple[str, str]] = []
    for reason in body.choices("reasons", tuple(REASON_FIELDS), required=True) or ():
        pairs.append((REASON_FIELDS[reason], "y"))
    for name in (
        "children_under_14",
        "youngest_child_age",
        "care_level",
        "commute_minutes",
        "share_percent",
    ):
        value = body.integer(name)
        if value is not None:
            pairs.append((name, str(value)))
    km = body.number("commute_km")
    if km is not None:
        pairs.append(("commute_km", repr(km)))
    for name in (
        "health_certificate",
        "wants_laptop",
        "wants_vpn",
        "wants_terminal_server",
        "uses_private_computer",
    ):
        if body.boolean(name):
            pairs.append((name, "y"))
    other = body.text("other_text", max_length=1000)
    if other is not None:
        pairs.append(("other_text", other))
    pattern = body.choice("pattern", PATTERNS, required=True)
    if pattern is not None:
        pairs.append(("pattern", pattern))
    for day in body.choices("weekdays", tuple(WEEKDAY_FIELDS)) or ():
        pairs.append((WEEKDAY_FIELDS[day], "y"))
    start = body.day("start_date", required=True)
    if start is not None:
        pairs.append(("start_date", start.isoformat()))
    # end_date must be there: a date, or null for "until revoked".
    if "end_date" not in body.data:
        body.errors["end_date"] = _("This field is required (null: until revoked).")
    elif body.data["end_date"] is None:
        pairs.append(("until_revoked", "y"))
    else:
        end = body.day("end_date")
        if end is not None:
            pairs.append(("end_date", end.isoformat()))
    body.done()
    form = RequestForm(formdata=MultiDict(pairs), meta={"csrf": False}, today=date.today())
    if not form.validate():
        fields: dict[str, list[str]] = {}
        for name, messages in form.errors.items():
            fields.setdefault(_FORM_FIELD_NAMES.get(name, name), []).extend(map(str, messages))
        raise ApiError(
            400,
            _("Some fields are not valid."),
            fields={name: " ".join(messages) for name, messages in fields.items()},
        )
    return form, kind, submit


@bp.post("/requests")
@api_roles(EMPLOYEE)
def create_request():
    me = _acting_person()
    form, kind, submit = _request_form(Body(json_object(), REQUEST_FIELDS))
    session = get_session()
    current = agreements.current_agreement(session, me)
    try:
        req = agreements.create_request(
            session=session,
            person=me,
            data=form.to_data(),
            rule_book=get_rule_book(),
            submit=submit,
            kind=kind,
            agreement_id=current.id if current is not None and kind != NEW else None,
        )
    except agreements.AgreementError as error:
        raise _conflict(error) from None
    response = jsonify(_request_answer(req, me))
    response.status_code = 201
    response.headers["Location"] = f"{bp.url_prefix}/requests/{req.id}"
    return response


def _conflict(error: agreements.AgreementError) -> ApiError:
    fields = {error.field: error.message} if error.field else None
    return ApiError(409, error.message, fields=fields)


@bp.post(f"/requests/<{ID}:request_id>/decision")
@api_roles(HR)
def decide(request_id: int):
    """HR's decision, with the rules of the screen: nobody decides their own request,
    an exception or quota override needs a reason, the request row is locked."""
    me = _acting_person()
    body = Body(json_object(), ("decision", "reason", "override_reason", "conditions"))
    decision = body.choice("decision", ("approve", "reject"), required=True)
    reason = body.text("reason", max_length=2000)
    override_reason = body.text("override_reason", max_length=2000)
    conditions = body.text("conditions", max_length=4000)
    body.done()
    _visible_request(request_id)
    session = get_session()
    try:
        req, owner = agreements.load_request(session, request_id, me, lock=True)
        agreement = agreements.decide(
            session=session,
            req=req,
            owner=owner,
            by=me,
            approve=decision == "approve",
            reason=reason or "",
            override_reason=override_reason or "",
            conditions=conditions or "",
            rule_book=get_rule_book(),
            today=date.today(),
        )
    except agreements.NotAllowed:
        raise ApiError(404) from None
    except agreements.AgreementError as error:
        raise _conflict(error) from None
    req_shape = _request_answer(req, owner)
    agreement_shape = None
    if agreement is not None:
        agreement_shape = shapes.agreement_detail(
            agreement, owner, req, show_health=_show_health(current_principal())
        )
    return jsonify({"request": req_shape, "agreement": agreement_shape})


# --- devices, handovers, credentials -----------------------------------------------------


@bp.get("/devices")
@api_roles(IT)
def devices():
    query = Query()
    page, per_page = query.page()
    state = query.choice("state", DEVICE_STATES)
    query.done()
    statement = select(Device).order_by(Device.id)
    if state:
        statement = statement.where(Device.state == state)
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(found, shapes.device)


@bp.get("/handovers")
@api_roles(EMPLOYEE, IT)
def handovers():
    """IT sees every handover, everyone else their own (``can_see_handover``)."""
    query = Query()
    page, per_page = query.page()
    person_id = query.integer("person_id")
    unit_id = query.integer("unit_id")
    still_out = query.boolean("open")
    start, end = query.date_range()
    query.done()
    statement = (
        select(Handover, Device.asset_tag)
        .join(Device, Device.id == Handover.device_id)
        .join(Person, Person.id == Handover.person_id)
        .where(visible_people(current_principal(), everyone=DEVICES_FOR_ALL, team=False))
        .order_by(Handover.id)
    )
    if person_id is not None:
        statement = statement.where(Handover.person_id == person_id)
    if unit_id is not None:
        statement = statement.where(Person.unit_id == unit_id)
    if still_out is not None:
        returned = col(Handover.returned_on)
        statement = statement.where(returned.is_(None) if still_out else returned.is_not(None))
    if start is not None:
        statement = statement.where(Handover.handed_over_on >= start)
    if end is not None:
        statement = statement.where(Handover.handed_over_on <= end)
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(found, lambda row: shapes.handover(*row))


@bp.get("/credentials")
@api_roles(EMPLOYEE, IT)
def credentials():
    """Remote access issued: IT sees all, everyone else their own; never a secret."""
    query = Query()
    page, per_page = query.page()
    person_id = query.integer("person_id")
    unit_id = query.integer("unit_id")
    kind = query.choice("kind", CREDENTIAL_KINDS)
    state = query.choice("state", ("active", "revoked"))
    query.done()
    statement = (
        select(Credential)
        .join(Person, Person.id == Credential.person_id)
        .where(visible_people(current_principal(), everyone=DEVICES_FOR_ALL, team=False))
        .order_by(Credential.id)
    )
    if person_id is not None:
        statement = statement.where(Credential.person_id == person_id)
    if unit_id is not None:
        statement = statement.where(Person.unit_id == unit_id)
    if kind:
        statement = statement.where(Credential.kind == kind)
    if state:
        statement = statement.where(Credential.state == state)
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(found, shapes.credential)


# --- presence and rooms ------------------------------------------------------------------


def _plan_range() -> tuple[date, date]:
    """``from`` and ``to`` of a presence query: a week from today by default, at most
    MAX_PLAN_DAYS days, within the years the holiday calendar is asked for."""
    query = Query()
    start, end = query.date_range()
    for name, value in (("from", start), ("to", end)):
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            query.errors[name] = _(
                "Please give a day from %(first)s to %(last)s.",
                first=FIRST_DAY.isoformat(),
                last=LAST_DAY.isoformat(),
            )
    query.done()
    if start is None:
        start = max(FIRST_DAY, end - timedelta(days=6)) if end else date.today()
    if end is None:
        end = min(LAST_DAY, start + timedelta(days=6))
    if end < start:
        query.errors["to"] = _("The end of the range must not be before its start.")
    elif (end - start).days >= MAX_PLAN_DAYS:
        query.errors["to"] = _("At most %(days)s days at once, please.", days=MAX_PLAN_DAYS)
    query.done()
    return start, end


def _leads(person: Person, unit: Unit) -> bool:
    return presence.heads(get_session(), unit, person)


@bp.get(f"/presence/people/<{ID}:person_id>")
@api_roles(EMPLOYEE, SUPERVISOR, HR, FACILITY)
def person_presence(person_id: int):
    """A person's days: for the person, a supervisor of their unit, HR and facility
    (who see everyone's plan in the presence export)."""
    start, end = _plan_range()
    session = get_session()
    principal = current_principal()
    owner = session.get(Person, person_id)
    if owner is None or not _may_see_presence(principal, owner):
        raise ApiError(404)
    days, seats = presence.person_days(
        session,
        owner,
        start=start,
        end=end,
        holidays=rooms.holidays_for(current_app.config, start, end),
    )
    result = []
    for day in sorted(days):
        entry = shapes.day_status(day, days[day])
        seat = seats.get(day)
        entry["room"] = (
            {
                "room_id": seat[0].id,
                "number": seat[0].number,
                "floor": seat[0].floor,
                "building": seat[1].name,
            }
            if seat
            else None
        )
        result.append(entry)
    return jsonify(
        {"person_id": owner.id, "from": start.isoformat(), "to": end.isoformat(), "days": result}
    )


def _may_see_presence(principal: ApiPrincipal, owner: Person) -> bool:
    if principal.has_role(HR, FACILITY):
        return True
    me = principal.person
    if me is None:
        return False
    if me.id == owner.id:
        return principal.has_role(EMPLOYEE)
    if not principal.has_role(SUPERVISOR) or owner.unit_id is None:
        return False
    unit = get_session().get(Unit, owner.unit_id)
    return unit is not None and _leads(me, unit)


@bp.get(f"/presence/units/<{ID}:unit_id>")
@api_roles(SUPERVISOR, HR, FACILITY)
def unit_presence(unit_id: int):
    """A unit's working days: for those who lead it, HR and facility."""
    start, end = _plan_range()
    session = get_session()
    principal = current_principal()
    unit = session.get(Unit, unit_id)
    allowed = principal.has_role(HR, FACILITY) or (
        unit is not None
        and principal.person is not None
        and principal.has_role(SUPERVISOR)
        and _leads(principal.person, unit)
    )
    if unit is None or not allowed:
        raise ApiError(404)
    inputs = presence.load_unit(session, unit, start=start, end=end)
    statuses = plan.unit_statuses(
        inputs.inputs,
        start=start,
        end=end,
        rotations=inputs.rotations,
        holidays=rooms.holidays_for(current_app.config, start, end),
    )
    people_days = [
        {
            "person_id": member.id,
            "display_name": member.display_name,
            "days": [
                shapes.day_status(day, by_person[member.id])
                for day, by_person in sorted(statuses.items())
                if member.id in by_person
            ],
        }
        for member in inputs.people
    ]
    return jsonify(
        {
            "unit_id": unit.id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "people": people_days,
        }
    )


@bp.get("/rooms/allocations")
@api_roles(FACILITY)
def room_allocations():
    """Who sits in which single office on a day (the occupancy screen, paged)."""
    query = Query()
    page, per_page = query.page()
    day = query.day("day", default=date.today())
    building_id = query.integer("building_id")
    query.done()
    statement = (
        select(RoomAllocation, Room, Building, Person.display_name)
        .join(Room, Room.id == RoomAllocation.room_id)
        .join(Building, Building.id == Room.building_id)
        .join(Person, Person.id == RoomAllocation.person_id)
        .where(RoomAllocation.day == day)
        .order_by(Building.name, Room.floor, Room.number, RoomAllocation.id)
    )
    if building_id is not None:
        statement = statement.where(Building.id == building_id)
    found = page_of(get_session(), statement, page=page, per_page=per_page)
    return _listing(
        found,
        lambda row: {
            "day": row[0].day.isoformat(),
            "person_id": row[0].person_id,
            "person_name": row[3],
            "room_id": row[1].id,
            "room_number": row[1].number,
            "floor": row[1].floor,
            "building_id": row[2].id,
            "building": row[2].name,
        },
    )


# --- the status report -------------------------------------------------------------------


@bp.get("/report")
@api_roles(HR, ADMIN)
def report():
    """The committee status report's figures, small counts hidden as on the page."""
    from homeoffice.reports.services import status_report

    query = Query()
    since = query.day("since")
    today = date.today()
    if since is not None and not FIRST_DAY <= since <= today:
        query.errors["since"] = _(
            "Please give a day from %(first)s to %(last)s.",
            first=FIRST_DAY.isoformat(),
            last=today.isoformat(),
        )
    query.done()
    figures = status_report(
        get_session(),
        today=today,
        config=current_app.config,
        rule_book=get_rule_book(),
        period_start=since,
    )
    return jsonify(figures.as_dict())
