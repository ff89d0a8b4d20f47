"""The OpenAPI 3.1 document of ``/api/v1``, built as a plain dict.

A dict rather than apispec or annotations: the API is small, its views check their
input by hand (``params.py``), and one literal document is easy to read next to them;
the schema tests (tests/test_api_schema.py) keep both in step. Summaries and
descriptions are translated, so the document and the reference page (``/api/v1/docs``)
come in the caller's language. The limits stated here are the ones the views enforce.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _

from homeoffice.access.models import CREDENTIAL_KINDS
from homeoffice.agreements.forms import REASON_FIELDS
from homeoffice.agreements.models import AGREEMENT_STATES, PATTERNS, REQUEST_KINDS, REQUEST_STATES
from homeoffice.api.params import (
    DEFAULT_PER_PAGE,
    FIRST_DAY,
    LAST_DAY,
    MAX_ID,
    MAX_PAGE,
    MAX_PER_PAGE,
)
from homeoffice.api.shapes import PERSONAL_REASON
from homeoffice.devices.models import DEVICE_STATES
from homeoffice.people.models import ALL_ROLES

VERSION = "1.0.0"
DAY_KINDS = ("office", "home", "absent", "holiday", "weekend")

_cache: dict[str, dict[str, Any]] = {}


def document() -> dict[str, Any]:
    """The document in the current language, built once per language and process."""
    language = str(get_locale() or "de")
    if language not in _cache:
        _cache[language] = _build()
    return _cache[language]


# --- schema building blocks --------------------------------------------------------------

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
NUMBER = {"type": "number"}
DATE = {"type": "string", "format": "date"}
MOMENT = {"type": "string", "format": "date-time"}
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    result = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        result["enum"] = [*schema["enum"], None]
    return result


def _enum(values) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _object(properties: dict[str, Any], *, required=None, description: str | None = None):
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: str) -> dict[str, Any]:
    return _object(
        {
            "items": {"type": "array", "items": _ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
        }
    )


def _schemas() -> dict[str, Any]:
    reason_values = [*REASON_FIELDS, PERSONAL_REASON]
    reasons = {
        "type": "array",
        "items": _enum(reason_values),
        "description": _(
            "Reasons of the request. A health reason is shown as “personal” to everyone "
            "but HR, and to HR only on a single request or agreement."
        ),
    }
    agreement = {
        "id": INTEGER,
        "person_id": INTEGER,
        "person_name": STRING,
        "unit_id": _nullable(INTEGER),
        "request_id": INTEGER,
        "replaces_id": _nullable(INTEGER),
        "state": _enum(AGREEMENT_STATES),
        "kind": _enum(("ordinary", "temporary")),
        "start_date": DATE,
        "end_date": {**_nullable(DATE), "description": _("None: until revoked.")},
        "pattern": _enum(PATTERNS),
        "share_percent": _nullable(INTEGER),
        "weekdays": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5}},
        "days_per_week": NUMBER,
        "rule_set": STRING,
        "created_at": MOMENT,
        "activated_at": _nullable(MOMENT),
        "ended_at": _nullable(MOMENT),
    }
    request_summary = {
        "id": INTEGER,
        "person_id": INTEGER,
        "person_name": STRING,
        "unit_id": _nullable(INTEGER),
        "kind": _enum(REQUEST_KINDS),
        "agreement_id": _nullable(INTEGER),
        "state": _enum(REQUEST_STATES),
        "reasons": reasons,
        "pattern": _enum(PATTERNS),
        "share_percent": _nullable(INTEGER),
        "weekdays": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5}},
        "start_date": DATE,
        "end_date": _nullable(DATE),
        "eligible": _nullable(BOOLEAN),
        "rule_set": _nullable(STRING),
        "created_at": MOMENT,
        "submitted_at": _nullable(MOMENT),
        "decided_at": _nullable(MOMENT),
    }
    request_detail = {
        **request_summary,
        "children_under_14": INTEGER,
        "youngest_child_age": _nullable(INTEGER),
        "care_level": _nullable(INTEGER),
        "commute_km": _nullable(NUMBER),
        "commute_minutes": _nullable(INTEGER),
        "health_certificate": {
            **_nullable(BOOLEAN),
            "description": _("Shown to HR only; null for everyone else."),
        },
        "other_text": _nullable(STRING),
        "wants_laptop": BOOLEAN,
        "wants_vpn": BOOLEAN,
        "wants_terminal_server": BOOLEAN,
        "uses_private_computer": BOOLEAN,
        "priority": INTEGER,
        "endorsed_by_id": _nullable(INTEGER),
        "endorsed_at": _nullable(MOMENT),
        "endorsement_note": _nullable(STRING),
        "decided_by_id": _nullable(INTEGER),
        "decision_reason": _nullable(STRING),
        "override_reason": _nullable(STRING),
        "withdrawn_at": _nullable(MOMENT),
    }
    day_status = {
        "day": DATE,
        "kind": _enum(DAY_KINDS),
        "reason": STRING,
        "group": _nullable(INTEGER),
        "holiday": _nullable(STRING),
    }
    weekday_list = {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 5},
        "uniqueItems": True,
    }
    return {
        "Error": _object(
            {
                "error": _object(
                    {
                        "status": INTEGER,
                        "message": STRING,
                        "fields": {
                            "type": "object",
                            "additionalProperties": STRING,
                            "description": _("A message per field that is not valid."),
                        },
                    },
                    required=["status", "message"],
                )
            }
        ),
        "Index": _object({"version": STRING, "openapi": STRING, "documentation": STRING}),
        "Person": _object(
            {
                "id": INTEGER,
                "username": STRING,
                "display_name": STRING,
                "mail": _nullable(STRING),
                "employee_number": _nullable(STRING),
                "unit_id": _nullable(INTEGER),
                "unit_name": _nullable(STRING),
                "manager_id": _nullable(INTEGER),
                "roles": {"type": "array", "items": _enum(ALL_ROLES)},
                "active": BOOLEAN,
            }
        ),
        "PersonPage": _page("Person"),
        "Unit": _object(
            {
                "id": INTEGER,
                "name": STRING,
                "cost_centre": _nullable(STRING),
                "head_id": _nullable(INTEGER),
                "active": BOOLEAN,
            }
        ),
        "UnitPage": _page("Unit"),
        "Agreement": _object(agreement),
        "AgreementPage": _page("Agreement"),
        "AgreementDetail": _object(
            {
                **agreement,
                "conditions": _nullable(STRING),
                "end_reason": _nullable(STRING),
                "reasons": reasons,
                "health_verified": {
                    **_nullable(BOOLEAN),
                    "description": _("Shown to HR only; null for everyone else."),
                },
            }
        ),
        "Request": _object(request_summary),
        "RequestPage": _page("Request"),
        "RequestDetail": _object(request_detail),
        "NewRequest": _object(
            {
                "kind": {**_enum(REQUEST_KINDS), "default": "new"},
                "submit": {
                    **BOOLEAN,
                    "default": True,
                    "description": _("false keeps the request as a draft."),
                },
                "reasons": {
                    "type": "array",
                    "items": _enum(REASON_FIELDS),
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "children_under_14": _nullable({"type": "integer", "minimum": 0, "maximum": 15}),
                "youngest_child_age": _nullable({"type": "integer", "minimum": 0, "maximum": 13}),
                "care_level": _nullable({"type": "integer", "minimum": 1, "maximum": 5}),
                "commute_km": _nullable({"type": "number", "minimum": 0, "maximum": 500}),
                "commute_minutes": _nullable({"type": "integer", "minimum": 0, "maximum": 600}),
                "health_certificate": BOOLEAN,
                "other_text": _nullable({"type": "string", "maxLength": 1000}),
                "pattern": _enum(PATTERNS),
                "share_percent": _nullable({"type": "integer", "minimum": 10, "maximum": 100}),
                "weekdays": weekday_list,
                "start_date": {
                    **DATE,
                    "description": _("The first day; not in the past."),
                },
                "end_date": {
                    **_nullable(DATE),
                    "description": _("The last day, or null for “until revoked”."),
                },
                "wants_laptop": BOOLEAN,
                "wants_vpn": BOOLEAN,
                "wants_terminal_server": BOOLEAN,
                "uses_private_computer": BOOLEAN,
            },
            required=["reasons", "pattern", "start_date", "end_date"],
            description=_(
                "The fields of the request form, checked by the same rules (e.g. the number "
                "of children for childcare, a share of the week for the pattern “share”)."
            ),
        ),
        "Decision": _object(
            {
                "decision": _enum(("approve", "reject")),
                "reason": {
                    "type": "string",
                    "maxLength": 2000,
                    "description": _("Required for a rejection."),
                },
                "override_reason": {
                    "type": "string",
                    "maxLength": 2000,
                    "description": _(
                        "Required to approve a request that is not eligible or beyond the "
                        "unit's quota."
                    ),
                },
                "conditions": {"type": "string", "maxLength": 4000},
            },
            required=["decision"],
        ),
        "DecisionResult": _object(
            {
                "request": _ref("RequestDetail"),
                "agreement": {
                    "oneOf": [_ref("AgreementDetail"), {"type": "null"}],
                    "description": _("The new agreement of an approval; null for a rejection."),
                },
            }
        ),
        "Device": _object(
            {
                "id": INTEGER,
                "asset_tag": STRING,
                "serial_number": STRING,
                "model": STRING,
                "purchase_date": _nullable(DATE),
                "state": _enum(DEVICE_STATES),
            }
        ),
        "DevicePage": _page("Device"),
        "Handover": _object(
            {
                "id": INTEGER,
                "device_id": INTEGER,
                "asset_tag": STRING,
                "person_id": INTEGER,
                "agreement_id": _nullable(INTEGER),
                "handed_over_on": DATE,
                "handed_over_by_id": INTEGER,
                "accessories": _nullable(STRING),
                "expected_return": _nullable(DATE),
                "confirmed_at": _nullable(MOMENT),
                "returned_on": _nullable(DATE),
                "returned_to_id": _nullable(INTEGER),
            }
        ),
        "HandoverPage": _page("Handover"),
        "Credential": _object(
            {
                "id": INTEGER,
                "person_id": INTEGER,
                "agreement_id": INTEGER,
                "kind": _enum(CREDENTIAL_KINDS),
                "state": _enum(("active", "revoked")),
                "expires_on": _nullable(DATE),
                "issued_at": MOMENT,
                "revoked_at": _nullable(MOMENT),
                "certificate_serial": _nullable(STRING),
                "certificate_fingerprint": _nullable(STRING),
                "certificate_not_after": _nullable(MOMENT),
                "wireguard_public_key": _nullable(STRING),
                "wireguard_address": _nullable(STRING),
            },
            description=_("Remote access issued; secrets and their hashes are never shown."),
        ),
        "CredentialPage": _page("Credential"),
        "DayStatus": _object(day_status),
        "PersonDay": _object(
            {
                **day_status,
                "room": _nullable(
                    _object(
                        {
                            "room_id": INTEGER,
                            "number": STRING,
                            "floor": INTEGER,
                            "building": STRING,
                        }
                    )
                ),
            }
        ),
        "PersonPresence": _object(
            {
                "person_id": INTEGER,
                "from": DATE,
                "to": DATE,
                "days": {"type": "array", "items": _ref("PersonDay")},
            }
        ),
        "UnitPresence": _object(
            {
                "unit_id": INTEGER,
                "from": DATE,
                "to": DATE,
                "people": {
                    "type": "array",
                    "items": _object(
                        {
                            "person_id": INTEGER,
                            "display_name": STRING,
                            "days": {"type": "array", "items": _ref("DayStatus")},
                        }
                    ),
                },
            }
        ),
        "RoomAllocation": _object(
            {
                "day": DATE,
                "person_id": INTEGER,
                "person_name": STRING,
                "room_id": INTEGER,
                "room_number": STRING,
                "floor": INTEGER,
                "building_id": INTEGER,
                "building": STRING,
            }
        ),
        "RoomAllocationPage": _page("RoomAllocation"),
        **_report_schemas(),
    }


def _report_schemas() -> dict[str, Any]:
    """The status report as ``homeoffice.reports.services.StatusReport.as_dict()`` gives it."""
    cell = _ref("Cell")
    share = _ref("Share")
    category = _object({"key": STRING, "label": STRING, "count": cell})
    decisions = {
        "approved": cell,
        "rejected": cell,
        "total": cell,
        "median_days": _nullable(NUMBER),
        "median_suppressed": BOOLEAN,
    }
    return {
        "Cell": _object(
            {"count": _nullable(INTEGER), "suppressed": BOOLEAN, "display": STRING},
            description=_(
                "A number of people; counts from 1 to min_cell - 1 (and cells that would "
                "reveal them) are hidden: count null, suppressed true."
            ),
        ),
        "Share": _object(
            {
                "numerator": cell,
                "denominator": INTEGER,
                "percent": _nullable(NUMBER),
                "suppressed": BOOLEAN,
            }
        ),
        "Report": _object(
            {
                "today": DATE,
                "min_cell": INTEGER,
                "home_office_today": cell,
                "before": _nullable(_object({"day": DATE, "count": cell})),
                "staff": _object(
                    {
                        "active": INTEGER,
                        "eligible": INTEGER,
                        "excluded_units": {"type": "array", "items": STRING},
                    }
                ),
                "share_of_staff": share,
                "share_of_eligible": share,
                "months": {
                    "type": "array",
                    "items": _object({"month": STRING, "day": DATE, "count": cell}),
                },
                "by_reason": {"type": "array", "items": category},
                "by_kind": {"type": "array", "items": category},
                "by_unit": {
                    "type": "array",
                    "items": _object(
                        {
                            "unit_id": _nullable(INTEGER),
                            "unit": STRING,
                            "eligible": BOOLEAN,
                            "staff": INTEGER,
                            "count": cell,
                            "share": share,
                        }
                    ),
                },
                "equipment": _object(
                    {
                        "laptops_issued": cell,
                        "vpn_active": cell,
                        "terminal_server_active": cell,
                        "devices_overdue": cell,
                    }
                ),
                "decisions": _object(
                    {
                        "period": _object({"start": DATE, "end": DATE}),
                        "in_period": _object(decisions),
                        "all_time": _object(
                            decisions, required=["total", "median_days", "median_suppressed"]
                        ),
                    }
                ),
            },
            description=_(
                "The figures of the status report. Reasons are counted without health: it "
                "is part of “other or personal”."
            ),
        ),
    }


# --- parameters and responses ------------------------------------------------------------


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _parameters() -> dict[str, Any]:
    id_filter = ID_SCHEMA
    return {
        "page": _query(
            "page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            _("Page number; a page past the end is empty."),
        ),
        "per_page": _query(
            "per_page",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PER_PAGE,
                "default": DEFAULT_PER_PAGE,
            },
            _("Items per page."),
        ),
        "unit_id": _query("unit_id", id_filter, _("Only rows of people of this unit.")),
        "person_id": _query("person_id", id_filter, _("Only rows of this person.")),
        "from": _query("from", DATE, _("Start of the date range (YYYY-MM-DD).")),
        "to": _query("to", DATE, _("End of the date range, inclusive (YYYY-MM-DD).")),
        "plan_from": _query(
            "from",
            DATE,
            _(
                "First day (default: today). Days from %(first)s to %(last)s.",
                first=FIRST_DAY.isoformat(),
                last=LAST_DAY.isoformat(),
            ),
        ),
        "plan_to": _query(
            "to",
            DATE,
            _("Last day (default: six days after the first); at most 92 days in all."),
        ),
    }


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _error(_("Input not valid; `fields` names each field and why.")),
        "Unauthorized": _error(
            _("No valid token (or browser login for reading)."),
            {"WWW-Authenticate": {"schema": STRING, "description": "Bearer"}},
        ),
        "Forbidden": _error(_("The caller's roles or the token's scope do not allow this.")),
        "NotFound": _error(_("Not found, or not visible to the caller.")),
        "Conflict": _error(_("Refused by the rules in the current state.")),
        "UnsupportedMediaType": _error(_("The body is not JSON.")),
    }


def _r(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _p(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": ID_SCHEMA,
        "description": description,
    }


READ = [{"bearerAuth": []}, {"cookieAuth": []}]
WRITE = [{"bearerAuth": []}]


def _get(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    schema: str,
    *,
    parameters: list | None = None,
    not_found: bool = False,
    link: bool = False,
) -> dict[str, Any]:
    ok: dict[str, Any] = {
        "description": _("Success."),
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if link:
        ok["headers"] = {
            "Link": {
                "schema": STRING,
                "description": _("Links to the next and previous page (rel=next, rel=prev)."),
            }
        }
    responses = {"200": ok, "401": _r("Unauthorized"), "403": _r("Forbidden")}
    if parameters:
        responses["400"] = _r("BadRequest")
    if not_found:
        responses["404"] = _r("NotFound")
    return {
        "get": {
            "operationId": operation_id,
            "tags": [tag],
            "summary": summary,
            "description": description,
            "security": READ,
            "parameters": parameters or [],
            "responses": responses,
        }
    }


def _paths() -> dict[str, Any]:
    paging = [_p("page"), _p("per_page")]
    dated = [_p("from"), _p("to")]
    for_person = _("A service token acts for no person: this needs a personal token (answer 403).")
    hidden = _("Rows the caller may not see answer 404, like rows that do not exist.")
    return {
        "/": _get("index", "api", _("Where the API's description is"), "", "Index"),
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["api"],
                "summary": _("This document"),
                "description": "",
                "security": READ,
                "parameters": [],
                "responses": {
                    "200": {
                        "description": _("Success."),
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "401": _r("Unauthorized"),
                    "403": _r("Forbidden"),
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "documentation",
                "tags": ["api"],
                "summary": _("This document as a web page"),
                "description": "",
                "security": READ,
                "parameters": [],
                "responses": {
                    "200": {
                        "description": _("Success."),
                        "content": {"text/html": {"schema": STRING}},
                    },
                    "401": _r("Unauthorized"),
                    "403": _r("Forbidden"),
                },
            }
        },
        "/people": _get(
            "listPeople",
            "people",
            _("Staff"),
            _(
                "Active staff (active=false: those who left). HR and admin see everyone, "
                "supervisors their team and themselves, everyone else themselves."
            ),
            "PersonPage",
            parameters=[
                *paging,
                _p("unit_id"),
                _query("active", BOOLEAN, _("false: people who have left.")),
                _query(
                    "q",
                    {"type": "string", "maxLength": 100},
                    _("Part of the name or user name."),
                ),
            ],
            link=True,
        ),
        "/people/{person_id}": {
            **_get(
                "getPerson",
                "people",
                _("One member of staff"),
                hidden,
                "Person",
                parameters=[_path_id("person_id", _("The person's id."))],
                not_found=True,
            )
        },
        "/units": _get(
            "listUnits",
            "people",
            _("Organisational units"),
            _("Every caller may read the units."),
            "UnitPage",
            parameters=[*paging, _query("active", BOOLEAN, _("Only active or inactive units."))],
            link=True,
        ),
        "/agreements": _get(
            "listAgreements",
            "agreements",
            _("Home-office agreements"),
            _(
                "HR and IT see all agreements, supervisors their team's and their own, "
                "everyone else their own. from/to: agreements in force on some day of the "
                "range. Reasons are not listed."
            ),
            "AgreementPage",
            parameters=[
                *paging,
                _p("unit_id"),
                _p("person_id"),
                _query("state", _enum(AGREEMENT_STATES), _("Only agreements in this state.")),
                *dated,
            ],
            link=True,
        ),
        "/agreements/{agreement_id}": _get(
            "getAgreement",
            "agreements",
            _("One agreement with its reasons"),
            hidden
            + " "
            + _(
                "HR sees a health reason here (each view is logged); everyone else reads "
                "“personal”."
            ),
            "AgreementDetail",
            parameters=[_path_id("agreement_id", _("The agreement's id."))],
            not_found=True,
        ),
        "/requests": {
            **_get(
                "listRequests",
                "agreements",
                _("Home-office requests"),
                _(
                    "HR sees all sent requests, supervisors their team's, everyone their own "
                    "(drafts only their author)."
                ),
                "RequestPage",
                parameters=[
                    *paging,
                    _p("unit_id"),
                    _p("person_id"),
                    _query("state", _enum(REQUEST_STATES), _("Only requests in this state.")),
                    *dated,
                ],
                link=True,
            ),
            "post": {
                "operationId": "createRequest",
                "tags": ["agreements"],
                "summary": _("Ask for home office"),
                "description": _(
                    "A request of the token's owner, checked like the request form. %(note)s",
                    note=for_person,
                ),
                "security": WRITE,
                "parameters": [],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewRequest")}},
                },
                "responses": {
                    "201": {
                        "description": _("The request, stored."),
                        "headers": {
                            "Location": {"schema": STRING, "description": _("Its address.")}
                        },
                        "content": {"application/json": {"schema": _ref("RequestDetail")}},
                    },
                    "400": _r("BadRequest"),
                    "401": _r("Unauthorized"),
                    "403": _r("Forbidden"),
                    "409": _r("Conflict"),
                    "415": _r("UnsupportedMediaType"),
                },
            },
        },
        "/requests/{request_id}": _get(
            "getRequest",
            "agreements",
            _("One request"),
            hidden,
            "RequestDetail",
            parameters=[_path_id("request_id", _("The request's id."))],
            not_found=True,
        ),
        "/requests/{request_id}/decision": {
            "post": {
                "operationId": "decideRequest",
                "tags": ["agreements"],
                "summary": _("HR's decision on a request"),
                "description": _(
                    "For HR, with the rules of the screen: nobody decides their own request, "
                    "a rejection needs a reason, approving a request that is not eligible or "
                    "beyond the quota needs an override reason. %(note)s",
                    note=for_person,
                ),
                "security": WRITE,
                "parameters": [_path_id("request_id", _("The request's id."))],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Decision")}},
                },
                "responses": {
                    "200": {
                        "description": _("Decided."),
                        "content": {"application/json": {"schema": _ref("DecisionResult")}},
                    },
                    "400": _r("BadRequest"),
                    "401": _r("Unauthorized"),
                    "403": _r("Forbidden"),
                    "404": _r("NotFound"),
                    "409": _r("Conflict"),
                    "415": _r("UnsupportedMediaType"),
                },
            }
        },
        "/devices": _get(
            "listDevices",
            "devices",
            _("Laptop inventory"),
            _("For IT."),
            "DevicePage",
            parameters=[*paging, _query("state", _enum(DEVICE_STATES), _("Only this state."))],
            link=True,
        ),
        "/handovers": _get(
            "listHandovers",
            "devices",
            _("Laptop handovers"),
            _("IT sees all, everyone else their own. from/to: the day of the handover."),
            "HandoverPage",
            parameters=[
                *paging,
                _p("person_id"),
                _p("unit_id"),
                _query("open", BOOLEAN, _("true: laptops still out; false: returned.")),
                *dated,
            ],
            link=True,
        ),
        "/credentials": _get(
            "listCredentials",
            "devices",
            _("Remote access issued"),
            _("IT sees all, everyone else their own. Never a secret or its hash."),
            "CredentialPage",
            parameters=[
                *paging,
                _p("person_id"),
                _p("unit_id"),
                _query("kind", _enum(CREDENTIAL_KINDS), _("Only this kind.")),
                _query("state", _enum(("active", "revoked")), _("Only this state.")),
            ],
            link=True,
        ),
        "/presence/people/{person_id}": _get(
            "personPresence",
            "presence",
            _("A person's days: office, home, absent, and their room"),
            _(
                "For the person, a supervisor of their unit, HR and facility management. "
                "Every day of the range, weekends included."
            )
            + " "
            + hidden,
            "PersonPresence",
            parameters=[
                _path_id("person_id", _("The person's id.")),
                _p("plan_from"),
                _p("plan_to"),
            ],
            not_found=True,
        ),
        "/presence/units/{unit_id}": _get(
            "unitPresence",
            "presence",
            _("A unit's working days"),
            _("For those who lead the unit, HR and facility management.") + " " + hidden,
            "UnitPresence",
            parameters=[
                _path_id("unit_id", _("The unit's id.")),
                _p("plan_from"),
                _p("plan_to"),
            ],
            not_found=True,
        ),
        "/report": _get(
            "statusReport",
            "reports",
            _("The status report's figures"),
            _("For HR and admin. Small counts are hidden as in the report on the screen."),
            "Report",
            parameters=[
                _query(
                    "since",
                    DATE,
                    _("First day of the decision period (default: a year ago); not after today."),
                )
            ],
        ),
        "/rooms/allocations": _get(
            "roomAllocations",
            "presence",
            _("Who sits in which single office on a day"),
            _("For facility management."),
            "RoomAllocationPage",
            parameters=[
                *paging,
                _query("day", DATE, _("The day (default: today).")),
                _query("building_id", ID_SCHEMA, _("Only this building.")),
            ],
            link=True,
        ),
    }


def _build() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": _("Home office API"),
            "version": VERSION,
            "description": _(
                "The JSON API of the home-office service, with the same permissions as "
                "the screens. Send a token as “Authorization: Bearer …” (made under “My API "
                "tokens”); a browser login may read. Lists are paged (page, per_page up to "
                '100). Errors come as {"error": {"status", "message", "fields"}} in '
                "the language of Accept-Language (German by default)."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "tags": [
            {"name": "api", "description": _("The API itself")},
            {"name": "people", "description": _("Staff and units")},
            {"name": "agreements", "description": _("Requests and agreements")},
            {"name": "devices", "description": _("Laptops and remote access")},
            {"name": "presence", "description": _("Office days and rooms")},
            {"name": "reports", "description": _("Figures for committees")},
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": _(
                        "A personal token (your roles, within its scope) or a service "
                        "token (reading only)."
                    ),
                },
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": current_app.config["SESSION_COOKIE_NAME"],
                    "description": _("The browser login; for reading only."),
                },
            },
        },
    }


# --- the reference page ------------------------------------------------------------------


def type_text(schema: dict[str, Any]) -> str:
    """A short reading of a schema for the reference page: ``integer 1–100``,
    ``date or null``, ``list of Person``, ``one of: active, ended``."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "oneOf" in schema:
        return " | ".join(type_text(part) for part in schema["oneOf"])
    types = schema.get("type", "object")
    types = types if isinstance(types, list) else [types]
    parts = []
    for kind in types:
        if kind == "null":
            continue
        if "enum" in schema:
            text = ", ".join(str(v) for v in schema["enum"] if v is not None)
            parts.append(_("one of") + ": " + text)
        elif kind == "array":
            parts.append(_("list of") + " " + type_text(schema.get("items", {})))
        elif kind == "string" and "format" in schema:
            parts.append(schema["format"])
        else:
            parts.append(kind)
    text = " / ".join(parts)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        text += f" {'' if low is None else low}–{'' if high is None else high}"
    if "maxLength" in schema:
        text += " " + _("up to %(count)s characters", count=schema["maxLength"])
    if "null" in types:
        text += " " + _("or null")
    return text


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation with its parameters resolved, in the document's order."""
    parameters = spec["components"]["parameters"]
    result = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            resolved = [
                parameters[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p
                for p in operation.get("parameters", [])
            ]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            responses = []
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                content = next(iter(response.get("content", {}).values()), {})
                schema = content.get("schema")
                responses.append(
                    (status, response["description"], type_text(schema) if schema else "")
                )
            result.append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": spec["servers"][0]["url"] + path,
                    "tag": operation["tags"][0],
                    "summary": operation["summary"],
                    "description": operation.get("description", ""),
                    "token_only": operation["security"] == WRITE,
                    "parameters": resolved,
                    "body": type_text(body["schema"]) if body else None,
                    "responses": responses,
                }
            )
    return result
