"""The JSON API: tokens, permissions as on the screens, JSON errors, bounded queries.

Objects a caller may not see answer 404, exactly like objects that do not exist (as on
the screens), so ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import date, timedelta

import pytest
from sqlmodel import select

from homeoffice.access.models import Credential
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.api import services as tokens
from homeoffice.api.models import ApiToken
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope, utcnow
from homeoffice.devices.models import Device, Handover
from homeoffice.people.models import Person
from tests.agreement_helpers import share_agreement
from tests.conftest import PEOPLE, both_databases, count_queries, csrf_token

API = "/api/v1"


def _person(session, key: str) -> Person:
    return session.exec(select(Person).where(Person.username == PEOPLE[key][0])).one()


def make_token(app, key: str, roles=None, days: int = 30) -> str:
    """A personal token of ``key`` made through the service, as the page does."""
    with app.app_context(), session_scope() as session:
        owner = _person(session, key)
        _row, clear = tokens.create_personal(
            session=session,
            owner=owner,
            name=f"test {key}",
            roles=roles or owner.role_set,
            expires_on=date.today() + timedelta(days=days),
            today=date.today(),
            config=app.config,
        )
    return clear


def service_token(app, roles=("hr",)) -> str:
    with app.app_context(), session_scope() as session:
        _row, clear = tokens.create_service(
            session=session,
            by=_person(session, "admin"),
            system="Personalverwaltung",
            name="Nachtlauf",
            roles=roles,
            expires_on=date.today() + timedelta(days=30),
            today=date.today(),
            config=app.config,
        )
    return clear


def bearer(token: str, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def person_id(app, key: str) -> int:
    with app.app_context(), session_scope() as session:
        return _person(session, key).id


def agreement_for(app, key: str, *, reasons: str = "commute") -> int:
    """An active agreement of ``key`` made directly, with its request."""
    with app.app_context(), session_scope() as session:
        owner = _person(session, key)
        share_agreement(session, owner, start=date.today())
        session.flush()
        agreement = session.exec(select(Agreement).where(Agreement.person_id == owner.id)).one()
        session.get(HomeOfficeRequest, agreement.request_id).reasons = reasons
        return agreement.id


def new_request(**overrides) -> dict:
    """A valid API request body: commute, two fixed weekdays, until revoked."""
    body = {
        "reasons": ["commute"],
        "commute_km": 42.5,
        "pattern": "weekdays",
        "weekdays": [2, 4],
        "start_date": date.today().isoformat(),
        "end_date": None,
        "wants_laptop": True,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v != "omit"}


def assert_error(response, status: int, *words: str) -> dict:
    """The JSON error shape of every refusal under /api/v1."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["status"] == status and error["message"]
    for word in words:
        assert word in error["message"] or word in str(error.get("fields")), (word, error)
    return error


# --- tokens ------------------------------------------------------------------------------


def test_token_is_shown_once_hashed_at_rest_and_works_until_revoked(app, client, auth):
    auth.login("employee")
    page = client.get("/api-tokens")
    assert page.status_code == 200 and "Meine API-Tokens" in page.get_data(as_text=True)
    response = client.post(
        "/api-tokens",
        data={
            "csrf_token": csrf_token(client, "/api-tokens"),
            "name": "Fachverfahren",
            "roles": ["employee"],
            "expires_on": (date.today() + timedelta(days=30)).isoformat(),
        },
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    token = re.search(r'value="(ho_[0-9a-f]{8}_[A-Za-z0-9_-]{43})"', html).group(1)

    with app.app_context(), session_scope() as session:
        row = session.exec(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == token[:11] and row.roles == "employee"
        stored = " ".join(str(v) for v in row.model_dump().values())
        events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "api_token"))
        logged = " ".join(f"{e.before} {e.after} {e.detail}" for e in events)
    assert token not in stored and token not in logged

    # The list shows the prefix only, never the token again.
    listing = client.get("/api-tokens").get_data(as_text=True)
    assert token[:11] in listing and token not in listing

    me = person_id(app, "employee")
    answer = client.get(f"{API}/people/{me}", headers=bearer(token))
    assert answer.status_code == 200 and answer.get_json()["username"] == "e.kaya"
    with app.app_context(), session_scope() as session:
        assert session.exec(select(ApiToken)).one().last_used_at is not None

    revoke = client.post(
        f"/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_token(client, "/api-tokens")}
    )
    assert revoke.status_code == 302
    refused = client.get(f"{API}/people/{me}", headers=bearer(token))
    assert_error(refused, 401, "widerrufen")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    with app.app_context(), session_scope() as session:
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("api_token.created") == 1 and actions.count("api_token.revoked") == 1


def test_making_a_token_asks_for_a_fresh_login(app, client, auth):
    from homeoffice.auth.models import LoginSession

    auth.login("employee")
    with app.app_context(), session_scope() as session:
        for login in session.exec(select(LoginSession)).all():
            login.authenticated_at = utcnow() - timedelta(hours=1)
    response = client.post(
        "/api-tokens",
        data={
            "csrf_token": csrf_token(client, "/api-tokens"),
            "name": "später",
            "roles": ["employee"],
            "expires_on": (date.today() + timedelta(days=5)).isoformat(),
        },
    )
    assert response.status_code == 302 and "/login" in response.location
    with app.app_context(), session_scope() as session:
        assert session.exec(select(ApiToken)).first() is None


def test_nobody_revokes_another_persons_token(app, client, auth):
    make_token(app, "colleague")
    with app.app_context(), session_scope() as session:
        token_id = session.exec(select(ApiToken)).one().id
    auth.login("employee")
    response = client.post(
        f"/api-tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/api-tokens")}
    )
    assert response.status_code == 404
    with app.app_context(), session_scope() as session:
        assert session.get(ApiToken, token_id).revoked_at is None


def test_scope_must_be_within_the_owners_roles(app, client, auth):
    with app.app_context(), session_scope() as session:
        employee = _person(session, "employee")
        with pytest.raises(tokens.TokenError, match="hr") as refused:
            tokens.create_personal(
                session=session,
                owner=employee,
                name="zu viel",
                roles={"employee", "hr"},
                expires_on=date.today() + timedelta(days=5),
                today=date.today(),
                config=app.config,
            )
        assert refused.value.field == "roles"
    # The page offers only the person's own roles; a forged choice is refused.
    auth.login("employee")
    response = client.post(
        "/api-tokens",
        data={
            "csrf_token": csrf_token(client, "/api-tokens"),
            "name": "zu viel",
            "roles": ["hr"],
            "expires_on": (date.today() + timedelta(days=5)).isoformat(),
        },
    )
    assert response.status_code == 400
    with app.app_context(), session_scope() as session:
        assert session.exec(select(ApiToken)).first() is None


def test_expiry_is_required_limited_and_enforced(app, client):
    with app.app_context(), session_scope() as session:
        owner = _person(session, "employee")
        for expires_on in (None, date.today() - timedelta(days=1), date.today() + timedelta(366)):
            with pytest.raises(tokens.TokenError) as refused:
                tokens.create_personal(
                    session=session,
                    owner=owner,
                    name="x",
                    roles={"employee"},
                    expires_on=expires_on,
                    today=date.today(),
                    config=app.config,
                )
            assert refused.value.field == "expires_on"
    token = make_token(app, "employee", days=1)
    me = person_id(app, "employee")
    assert client.get(f"{API}/people/{me}", headers=bearer(token)).status_code == 200
    with app.app_context(), session_scope() as session:
        session.exec(select(ApiToken)).one().expires_at = utcnow() - timedelta(seconds=1)
    assert_error(client.get(f"{API}/people/{me}", headers=bearer(token)), 401, "abgelaufen")


def test_unknown_or_malformed_tokens_are_refused(client):
    assert_error(client.get(f"{API}/units", headers=bearer("ho_00000000_nonsense")), 401)
    malformed = client.get(f"{API}/units", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_error(malformed, 401, "Bearer")
    assert_error(client.get(f"{API}/units", headers=bearer("x" * 5000)), 401)
    nothing = client.get(f"{API}/units")
    assert_error(nothing, 401)
    assert nothing.headers["WWW-Authenticate"] == 'Bearer realm="homeoffice"'


def test_a_token_cannot_do_more_than_its_owner(app, client):
    employee = make_token(app, "employee")
    assert_error(client.get(f"{API}/devices", headers=bearer(employee)), 403)
    assert_error(client.get(f"{API}/rooms/allocations", headers=bearer(employee)), 403)
    # An HR person's token scoped to "employee" sees only what an employee sees.
    agreement_for(app, "colleague")
    own = agreement_for(app, "hr")
    narrow = make_token(app, "hr", roles={"employee"})
    listed = client.get(f"{API}/agreements", headers=bearer(narrow)).get_json()
    assert [a["id"] for a in listed["items"]] == [own]
    wide = make_token(app, "hr")
    assert client.get(f"{API}/agreements", headers=bearer(wide)).get_json()["total"] == 2


def test_owner_loses_a_role_and_the_token_loses_it_at_once(app, client):
    token = make_token(app, "hr")
    agreement_for(app, "colleague")
    assert client.get(f"{API}/agreements", headers=bearer(token)).get_json()["total"] == 1
    with app.app_context(), session_scope() as session:
        _person(session, "hr").roles = "employee"
    assert client.get(f"{API}/agreements", headers=bearer(token)).get_json()["total"] == 0
    assert_error(
        client.post(
            f"{API}/requests/1/decision", json={"decision": "reject"}, headers=bearer(token)
        ),
        403,
    )
    with app.app_context(), session_scope() as session:
        _person(session, "hr").active = False
    assert_error(client.get(f"{API}/units", headers=bearer(token)), 401, "nicht mehr aktiv")


# --- objects of others -------------------------------------------------------------------


def test_employee_cannot_read_anothers_agreement(app, client):
    theirs = agreement_for(app, "colleague")
    own = agreement_for(app, "employee")
    employee = make_token(app, "employee")
    assert client.get(f"{API}/agreements/{own}", headers=bearer(employee)).status_code == 200
    hidden = client.get(f"{API}/agreements/{theirs}", headers=bearer(employee))
    missing = client.get(f"{API}/agreements/999999", headers=bearer(employee))
    assert_error(hidden, 404)
    assert hidden.get_json() == missing.get_json()
    listed = client.get(f"{API}/agreements", headers=bearer(employee)).get_json()
    assert [a["id"] for a in listed["items"]] == [own]
    colleague = person_id(app, "colleague")
    assert_error(client.get(f"{API}/people/{colleague}", headers=bearer(employee)), 404)
    # Their supervisor sees both; a supervisor of another unit neither.
    supervisor = make_token(app, "supervisor")
    assert client.get(f"{API}/agreements", headers=bearer(supervisor)).get_json()["total"] == 2
    outsider = make_token(app, "outsider")
    assert_error(client.get(f"{API}/agreements/{theirs}", headers=bearer(outsider)), 404)


def test_health_reason_only_for_hr_on_the_single_agreement_and_audited(app, client):
    agreement_id = agreement_for(app, "employee", reasons="commute health")
    hr = make_token(app, "hr")
    detail = client.get(f"{API}/agreements/{agreement_id}", headers=bearer(hr)).get_json()
    assert detail["reasons"] == ["commute", "health"]
    listed = client.get(f"{API}/requests", headers=bearer(hr)).get_json()["items"]
    assert listed[0]["reasons"] == ["commute", "personal"]
    for key in ("employee", "supervisor"):
        shown = client.get(f"{API}/agreements/{agreement_id}", headers=bearer(make_token(app, key)))
        assert shown.get_json()["reasons"] == ["commute", "personal"]
        assert '"health"' not in shown.get_data(as_text=True)
    # A service token with the HR role acts for no person: it never sees health.
    service = service_token(app)
    shown = client.get(f"{API}/agreements/{agreement_id}", headers=bearer(service)).get_json()
    assert shown["reasons"] == ["commute", "personal"]
    with app.app_context(), session_scope() as session:
        views = session.exec(select(AuditEvent).where(AuditEvent.action == "health.viewed"))
        assert [(e.object_type, e.object_id) for e in views] == [("agreement", str(agreement_id))]


def test_credentials_never_show_a_secret(app, client):
    agreement_id = agreement_for(app, "employee")
    with app.app_context(), session_scope() as session:
        session.add(
            Credential(
                person_id=_person(session, "employee").id,
                agreement_id=agreement_id,
                kind="terminal_server_secret",
                secret_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            )
        )
    for key in ("it", "employee"):
        response = client.get(f"{API}/credentials", headers=bearer(make_token(app, key)))
        assert response.get_json()["total"] == 1
        text = response.get_data(as_text=True)
        assert "argon2" not in text and "secret_hash" not in text
    colleague = make_token(app, "colleague")
    assert client.get(f"{API}/credentials", headers=bearer(colleague)).get_json()["total"] == 0


def test_handovers_for_it_and_their_holder(app, client):
    agreement_id = agreement_for(app, "employee")
    with app.app_context(), session_scope() as session:
        device = Device(asset_tag="NB-1", serial_number="S1", model="T14", state="issued")
        session.add(device)
        session.flush()
        session.add(
            Handover(
                device_id=device.id,
                person_id=_person(session, "employee").id,
                agreement_id=agreement_id,
                handed_over_on=date.today(),
                handed_over_by_id=_person(session, "it").id,
            )
        )
    it = make_token(app, "it")
    assert client.get(f"{API}/devices", headers=bearer(it)).get_json()["items"][0]["asset_tag"]
    out = client.get(f"{API}/handovers?open=true", headers=bearer(it)).get_json()
    assert out["total"] == 1 and out["items"][0]["asset_tag"] == "NB-1"
    assert client.get(f"{API}/handovers?open=false", headers=bearer(it)).get_json()["total"] == 0
    own = client.get(f"{API}/handovers", headers=bearer(make_token(app, "employee")))
    assert own.get_json()["total"] == 1
    other = client.get(f"{API}/handovers", headers=bearer(make_token(app, "colleague")))
    assert other.get_json()["total"] == 0


def test_presence_of_a_person_and_a_unit_as_on_the_screens(app, client):
    employee, colleague = person_id(app, "employee"), person_id(app, "colleague")
    with app.app_context(), session_scope() as session:
        unit_id = _person(session, "employee").unit_id
    monday = date.today() - timedelta(days=date.today().weekday())
    week = f"from={monday.isoformat()}&to={(monday + timedelta(days=6)).isoformat()}"
    own = client.get(
        f"{API}/presence/people/{employee}?{week}", headers=bearer(make_token(app, "employee"))
    )
    days = own.get_json()["days"]
    assert len(days) == 7 and days[5]["kind"] == "weekend" and "room" in days[0]
    assert_error(
        client.get(
            f"{API}/presence/people/{colleague}?{week}",
            headers=bearer(make_token(app, "employee")),
        ),
        404,
    )
    supervisor = make_token(app, "supervisor")
    assert (
        client.get(
            f"{API}/presence/people/{colleague}?{week}", headers=bearer(supervisor)
        ).status_code
        == 200
    )
    unit = client.get(f"{API}/presence/units/{unit_id}?{week}", headers=bearer(supervisor))
    names = {p["display_name"] for p in unit.get_json()["people"]}
    assert {"Emre Kaya", "Carla Schäfer"} <= names
    outsider = make_token(app, "outsider")
    assert_error(
        client.get(f"{API}/presence/units/{unit_id}?{week}", headers=bearer(outsider)), 403
    )
    facility = make_token(app, "facility")
    assert (
        client.get(f"{API}/presence/units/{unit_id}", headers=bearer(facility)).status_code == 200
    )
    too_long = client.get(
        f"{API}/presence/people/{employee}?from=2026-01-01&to=2026-12-31",
        headers=bearer(facility),
    )
    assert_error(too_long, 400, "92")


# --- writes ------------------------------------------------------------------------------


def test_session_cookie_reads_but_never_writes(app, client, auth):
    auth.login("employee")
    assert client.get(f"{API}/units").status_code == 200
    # With a valid CSRF token even: the API takes no writes from a browser login.
    response = client.post(
        f"{API}/requests",
        json=new_request(),
        headers={"X-CSRFToken": csrf_token(client, "/api-tokens")},
    )
    assert_error(response, 401, "API-Token")
    with app.app_context(), session_scope() as session:
        assert session.exec(select(HomeOfficeRequest)).first() is None


def test_bearer_write_needs_no_csrf_and_answers_201_with_location(app, client):
    token = make_token(app, "employee")
    response = client.post(f"{API}/requests", json=new_request(), headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["state"] == "submitted" and created["weekdays"] == [2, 4]
    assert response.headers["Location"] == f"{API}/requests/{created['id']}"
    again = client.get(response.headers["Location"], headers=bearer(token))
    assert again.get_json()["id"] == created["id"]
    # A second open request is refused as on the screen.
    assert_error(
        client.post(f"{API}/requests", json=new_request(), headers=bearer(token)), 409, "offenen"
    )


def test_request_is_validated_like_the_form(app, client):
    token = make_token(app, "employee")
    refused = client.post(
        f"{API}/requests",
        json=new_request(reasons=["childcare"], pattern="share", weekdays="omit"),
        headers=bearer(token),
    )
    fields = assert_error(refused, 400)["fields"]
    assert set(fields) == {"children_under_14", "share_percent"}
    wrong_types = client.post(
        f"{API}/requests",
        json=new_request(commute_km="viel", weekdays=[9], start_date="2026-02-30", role="admin"),
        headers=bearer(token),
    )
    fields = assert_error(wrong_types, 400)["fields"]
    assert set(fields) == {"commute_km", "weekdays", "start_date", "role"}
    past = client.post(
        f"{API}/requests",
        json=new_request(start_date=(date.today() - timedelta(days=1)).isoformat()),
        headers=bearer(token),
    )
    assert "start_date" in assert_error(past, 400)["fields"]
    assert_error(client.post(f"{API}/requests", data="kein json", headers=bearer(token)), 415)
    assert_error(client.post(f"{API}/requests", json=[1, 2], headers=bearer(token)), 400)
    with app.app_context(), session_scope() as session:
        assert session.exec(select(HomeOfficeRequest)).first() is None


def _endorsed_request(app, client) -> int:
    """The employee asks through the API; the supervisor endorses through the service."""
    from homeoffice.agreements import services

    response = client.post(
        f"{API}/requests", json=new_request(), headers=bearer(make_token(app, "employee"))
    )
    request_id = response.get_json()["id"]
    with app.app_context(), session_scope() as session:
        supervisor = _person(session, "supervisor")
        req, owner = services.load_request(session, request_id, supervisor)
        services.endorse(session=session, req=req, owner=owner, by=supervisor, agree=True, note="")
    return request_id


def test_hr_decides_through_the_api_with_the_rules_of_the_screen(app, client):
    request_id = _endorsed_request(app, client)
    hr = make_token(app, "hr")
    path = f"{API}/requests/{request_id}/decision"
    rejection = client.post(path, json={"decision": "reject"}, headers=bearer(hr))
    assert assert_error(rejection, 409)["fields"] == {
        "reason": rejection.get_json()["error"]["message"]
    }
    over_quota = client.post(path, json={"decision": "approve"}, headers=bearer(hr))
    assert "override_reason" in assert_error(over_quota, 409)["fields"]
    # A service token with the HR role reads, but decides nothing: it is nobody.
    service = service_token(app)
    assert_error(
        client.post(path, json={"decision": "approve"}, headers=bearer(service)), 403, "persön"
    )
    approved = client.post(
        path,
        json={"decision": "approve", "override_reason": "Vertretung geregelt"},
        headers=bearer(hr),
    )
    assert approved.status_code == 200, approved.get_json()
    result = approved.get_json()
    assert result["request"]["state"] == "approved"
    assert result["agreement"]["state"] == "active"
    assert_error(
        client.post(path, json={"decision": "reject", "reason": "zu spät"}, headers=bearer(hr)),
        409,
    )


def test_nobody_decides_their_own_request_through_the_api(app, client):
    hr = make_token(app, "hr")
    own = client.post(f"{API}/requests", json=new_request(), headers=bearer(hr))
    assert own.status_code == 201
    response = client.post(
        f"{API}/requests/{own.get_json()['id']}/decision",
        json={"decision": "approve", "override_reason": "selbst"},
        headers=bearer(hr),
    )
    assert_error(response, 409, "eigenen")


@both_databases
def test_two_decisions_at_once_only_one_counts(app):
    """The request row is locked (SELECT … FOR UPDATE on PostgreSQL), as on the screen."""
    client = app.test_client()
    response = client.post(
        f"{API}/requests", json=new_request(), headers=bearer(make_token(app, "outsider"))
    )
    request_id = response.get_json()["id"]
    hr = make_token(app, "hr")
    barrier = threading.Barrier(2)
    statuses = []

    def act(body):
        own_client = app.test_client()
        barrier.wait()
        answer = own_client.post(
            f"{API}/requests/{request_id}/decision", json=body, headers=bearer(hr)
        )
        statuses.append(answer.status_code)

    bodies = (
        {"decision": "approve", "override_reason": "parallel"},
        {"decision": "reject", "reason": "parallel"},
    )
    threads = [threading.Thread(target=act, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context(), session_scope() as session:
        decided = session.exec(
            select(AuditEvent).where(
                AuditEvent.action.in_(["request.approved", "request.rejected"])
            )
        ).all()
        state = session.get(HomeOfficeRequest, request_id).state
        agreements = session.exec(select(Agreement)).all()
    assert len(decided) == 1 and sorted(statuses)[0] == 200
    assert len(agreements) == (1 if state == "approved" else 0)


# --- errors, documents, limits -----------------------------------------------------------


def test_errors_are_json_in_the_callers_language(app, client):
    token = make_token(app, "employee")
    assert_error(client.get(f"{API}/nowhere", headers=bearer(token)), 404, "Nicht gefunden")
    english = client.get(f"{API}/nowhere", headers=bearer(token, **{"Accept-Language": "en"}))
    assert_error(english, 404, "Not found")
    wrong_method = client.delete(f"{API}/agreements", headers=bearer(token))
    assert_error(wrong_method, 405)
    assert wrong_method.headers["Allow"] == "GET, HEAD"
    # Refused by the router before any API view: still the API's shape and language.
    unusual = client.open(f"{API}/agreements", method="PROPFIND", headers=bearer(token))
    assert_error(unusual, 405, "Methode")
    assert "GET" in unusual.headers["Allow"]
    invalid = client.get(
        f"{API}/agreements?per_page=0&page=-1&from=2026-13-01&state=gone&unit_id=99999999999",
        headers=bearer(token),
    )
    fields = assert_error(invalid, 400)["fields"]
    assert set(fields) == {"per_page", "page", "from", "state", "unit_id"}
    reversed_range = client.get(
        f"{API}/agreements?from=2026-05-02&to=2026-05-01", headers=bearer(token)
    )
    assert set(assert_error(reversed_range, 400)["fields"]) == {"to"}
    huge_id = client.get(f"{API}/agreements/99999999999999999999", headers=bearer(token))
    assert_error(huge_id, 404)


def test_pages_past_the_end_are_empty_and_linked(app, client):
    for key in ("employee", "colleague", "outsider"):
        agreement_for(app, key)
    hr = make_token(app, "hr")
    first = client.get(f"{API}/agreements?per_page=2", headers=bearer(hr))
    body = first.get_json()
    assert (body["total"], len(body["items"]), body["page"]) == (3, 2, 1)
    assert first.headers["Link"] == f'<{API}/agreements?per_page=2&page=2>; rel="next"'
    past = client.get(f"{API}/agreements?per_page=2&page=5", headers=bearer(hr)).get_json()
    assert past["items"] == [] and past["total"] == 3 and past["page"] == 5


def test_lists_send_a_bounded_number_of_queries(app, client):
    tokens_by_role = {key: make_token(app, key) for key in ("hr", "it", "facility")}
    lists = {
        "hr": ["/agreements", "/requests", "/people", "/units"],
        "it": ["/devices", "/handovers", "/credentials"],
        "facility": ["/rooms/allocations"],
    }
    for token in tokens_by_role.values():
        client.get(f"{API}/units", headers=bearer(token))  # last_used_at written once

    def counted() -> dict[str, int]:
        counts = {}
        for key, paths in lists.items():
            for path in paths:
                with count_queries(app) as counter:
                    response = client.get(
                        f"{API}{path}?per_page=100", headers=bearer(tokens_by_role[key])
                    )
                assert response.status_code == 200, path
                assert response.get_json()["items"], path
                counts[path] = counter.count
        return counts

    _many_rows(app, 2, start=0)
    before = counted()
    _many_rows(app, 40, start=2)
    after = counted()
    assert after == before
    # The token (with its owner), the count, the page.
    assert max(after.values()) <= 3, after


def _many_rows(app, n: int, *, start: int) -> None:
    """n people, each with an agreement, a laptop handed over, a credential and a room."""
    from homeoffice.rooms.models import Building, Room, RoomAllocation

    with app.app_context(), session_scope() as session:
        it = _person(session, "it")
        building = session.exec(select(Building)).first() or Building(name="Rathaus")
        session.add(building)
        session.flush()
        for i in range(start, start + n):
            person = Person(
                username=f"p{i}", dn=f"uid=p{i}", dn_key=f"uid=p{i}", display_name=f"P {i}"
            )
            room = Room(building_id=building.id, number=f"R{i}")
            session.add_all([person, room])
            session.flush()
            share_agreement(session, person, start=date.today())
            session.flush()
            agreement = session.exec(
                select(Agreement).where(Agreement.person_id == person.id)
            ).one()
            device = Device(asset_tag=f"NB{i}", serial_number=f"S{i}", model="T14")
            session.add(device)
            session.flush()
            session.add(
                Handover(
                    device_id=device.id,
                    person_id=person.id,
                    agreement_id=agreement.id,
                    handed_over_on=date.today(),
                    handed_over_by_id=it.id,
                )
            )
            session.add(
                Credential(person_id=person.id, agreement_id=agreement.id, kind="vpn_group")
            )
            session.add(RoomAllocation(day=date.today(), person_id=person.id, room_id=room.id))


def test_an_unexpected_error_is_a_json_500_that_reveals_nothing(app, client):
    view = app.view_functions["api.units"]

    def failing():
        raise RuntimeError("database password is hunter2")

    failing.access, failing.access_check = view.access, view.access_check
    app.view_functions["api.units"] = failing
    response = client.get(f"{API}/units", headers=bearer(make_token(app, "employee")))
    assert_error(response, 500)
    assert "hunter2" not in response.get_data(as_text=True)


def test_openapi_document_and_reference_page(app, client, auth):
    token = make_token(app, "employee")
    spec = client.get(f"{API}/openapi.json", headers=bearer(token)).get_json()
    assert spec["openapi"].startswith("3.") and "/agreements" in spec["paths"]
    assert spec["paths"]["/requests"]["post"]["security"] == [{"bearerAuth": []}]
    assert_error(client.get(f"{API}/openapi.json"), 401)
    german = client.get(f"{API}/docs", headers=bearer(token)).get_data(as_text=True)
    assert "Vereinbarungen" in german and "<script" not in german
    english = client.get(
        f"{API}/docs", headers=bearer(token, **{"Accept-Language": "en"})
    ).get_data(as_text=True)
    assert "Home-office agreements" in english
    auth.login("employee")
    assert client.get(f"{API}/docs").status_code == 200


def test_report_figures_for_hr_and_admin_without_health(app, client):
    for key in ("employee", "colleague", "outsider"):
        agreement_for(app, key, reasons="health")
    hr = make_token(app, "hr")
    figures = client.get(f"{API}/report", headers=bearer(hr)).get_json()
    assert figures["staff"]["active"] == len(PEOPLE)
    assert "health" not in {row["key"] for row in figures["by_reason"]}
    assert client.get(f"{API}/report", headers=bearer(make_token(app, "admin"))).status_code == 200
    assert_error(client.get(f"{API}/report", headers=bearer(make_token(app, "it"))), 403)
    future = (date.today() + timedelta(days=1)).isoformat()
    assert (
        "since"
        in assert_error(client.get(f"{API}/report?since={future}", headers=bearer(hr)), 400)[
            "fields"
        ]
    )


def test_service_tokens_are_made_by_admins_and_only_read(app, client, auth):
    auth.login("admin")
    response = client.post(
        "/admin/service-tokens",
        data={
            "csrf_token": csrf_token(client, "/admin/service-tokens"),
            "system": "Fachverfahren Personal",
            "name": "Abgleich",
            "roles": ["hr"],
            "expires_on": (date.today() + timedelta(days=10)).isoformat(),
        },
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r'value="(ho_[^"]+)"', response.get_data(as_text=True)).group(1)
    agreement_for(app, "employee")
    assert client.get(f"{API}/agreements", headers=bearer(token)).get_json()["total"] == 1
    assert_error(
        client.post(f"{API}/requests", json=new_request(), headers=bearer(token)), 403, "persön"
    )
    assert_error(client.get(f"{API}/devices", headers=bearer(token)), 403)
    # Department roles only: no "employee" scope for a system.
    with app.app_context(), session_scope() as session:
        with pytest.raises(tokens.TokenError):
            tokens.create_service(
                session=session,
                by=_person(session, "admin"),
                system="x",
                name="y",
                roles={"employee"},
                expires_on=date.today() + timedelta(days=1),
                today=date.today(),
                config=app.config,
            )
    auth.logout()
    auth.login("hr")
    assert client.get("/admin/service-tokens").status_code == 403
