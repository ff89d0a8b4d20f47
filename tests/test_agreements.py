"""Requests, endorsement, decision and agreements through the pages."""

import threading

import pytest
from sqlmodel import func, select

from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.notifications.models import OutboxMessage
from homeoffice.tasks.models import ItTask
from tests.agreement_helpers import (
    agreement_of,
    decide,
    endorse,
    in_days,
    load,
    post_request,
    request_form,
    request_id_from,
    requests_of,
)
from tests.conftest import both_databases, csrf_token


def _switch(client, auth, role):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login(role)


@both_databases
def test_request_endorse_approve_gives_an_active_agreement_and_it_tasks(app, client, auth):
    auth.login("employee")
    response = post_request(client)
    assert response.status_code == 302
    request_id = request_id_from(response)
    assert load(app, HomeOfficeRequest, request_id).state == "submitted"

    _switch(client, auth, "supervisor")
    assert endorse(client, request_id).status_code == 302
    assert load(app, HomeOfficeRequest, request_id).state == "endorsed"

    _switch(client, auth, "hr")
    # The test Bürgerbüro has three staff and must keep six present: over the quota.
    refused = decide(client, request_id, conditions="Erreichbar 9 bis 15 Uhr", override="")
    assert refused.status_code == 409 and "überschreiten" in refused.get_data(as_text=True)
    assert load(app, HomeOfficeRequest, request_id).state == "endorsed"
    response = decide(
        client,
        request_id,
        conditions="Erreichbar 9 bis 15 Uhr",
        override="Vertretung durch das Ordnungsamt geregelt",
    )
    assert response.status_code == 302 and "/homeoffice/agreements/" in response.location
    agreement = agreement_of(app, "employee")
    assert agreement.state == "active" and agreement.rule_set
    assert agreement.conditions == "Erreichbar 9 bis 15 Uhr"
    with app.app_context(), session_scope() as session:
        kinds = {t.kind for t in session.exec(select(ItTask)).all()}
        assert kinds == {"issue_laptop", "grant_vpn"}
        events = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
        assert ["request.submitted", "request.endorsed", "request.approved"] == [
            e for e in events if e.startswith("request.")
        ]
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() >= 4

    _switch(client, auth, "employee")
    html = client.get("/homeoffice/").get_data(as_text=True)
    assert "aktiv" in html
    printed = client.get(f"/homeoffice/agreements/{agreement.id}/print").get_data(as_text=True)
    assert "Dienstvereinbarung" in printed and agreement.rule_set in printed


def test_check_shows_the_verdict_without_saving(app, client, auth):
    auth.login("employee")
    response = post_request(client, send=None, check="Berechtigung prüfen")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Berechtigt" in html or "berechtigt" in html
    assert "42" in html
    assert requests_of(app, "employee") == []


def test_not_eligible_request_can_still_be_sent(app, client, auth):
    auth.login("employee")
    response = post_request(
        client,
        reason_commute=None,
        commute_km=None,
        reason_other="y",
        other_text="Ruhiger arbeiten",
    )
    assert response.status_code == 302
    (req,) = requests_of(app, "employee")
    assert req.eligible is False and req.verdict["explanation_de"]


def test_bad_input_is_explained_next_to_the_field_and_changes_nothing(app, client, auth):
    auth.login("employee")
    response = post_request(
        client,
        reason_commute=None,
        commute_km=None,
        start_date=in_days(-3),
        until_revoked=None,
        tuesday=None,
        thursday=None,
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Bitte wählen Sie mindestens einen Grund." in html
    assert "Der erste Tag kann nicht in der Vergangenheit liegen." in html
    assert "Bitte wählen Sie mindestens einen Wochentag." in html
    assert 'aria-invalid="true"' in html
    assert requests_of(app, "employee") == []


def test_end_before_start_refused(app, client, auth):
    auth.login("employee")
    response = post_request(client, until_revoked=None, start_date=in_days(10), end_date=in_days(5))
    assert response.status_code == 400
    assert "Der letzte Tag darf nicht vor dem ersten Tag liegen." in response.get_data(as_text=True)


def test_rejection_needs_a_reason_and_the_employee_sees_it(app, client, auth):
    auth.login("employee")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, "supervisor")
    assert endorse(client, request_id, decision="object").status_code == 409
    assert load(app, HomeOfficeRequest, request_id).state == "submitted"  # reason missing
    endorse(client, request_id, decision="object", note="Schalter muss besetzt sein")
    assert load(app, HomeOfficeRequest, request_id).state == "objected"
    _switch(client, auth, "hr")
    decide(client, request_id, decision="reject")
    assert load(app, HomeOfficeRequest, request_id).state == "objected"
    decide(client, request_id, decision="reject", reason="Publikumsverkehr")
    assert load(app, HomeOfficeRequest, request_id).state == "rejected"
    _switch(client, auth, "employee")
    html = client.get(f"/homeoffice/requests/{request_id}").get_data(as_text=True)
    assert "abgelehnt" in html and "Publikumsverkehr" in html


def test_withdraw_an_open_request(app, client, auth):
    auth.login("employee")
    request_id = request_id_from(post_request(client))
    token = csrf_token(client, f"/homeoffice/requests/{request_id}")
    client.post(f"/homeoffice/requests/{request_id}/withdraw", data={"csrf_token": token})
    assert load(app, HomeOfficeRequest, request_id).state == "withdrawn"
    again = post_request(client)  # a new request is possible now
    assert again.status_code == 302


def test_draft_then_send(app, client, auth):
    auth.login("employee")
    request_id = request_id_from(post_request(client, send=None, save_draft="Entwurf"))
    assert load(app, HomeOfficeRequest, request_id).state == "draft"
    token = csrf_token(client, f"/homeoffice/requests/{request_id}")
    client.post(f"/homeoffice/requests/{request_id}/submit", data={"csrf_token": token})
    assert load(app, HomeOfficeRequest, request_id).state == "submitted"


def test_only_one_open_request(app, client, auth):
    auth.login("employee")
    post_request(client)
    second = post_request(client)
    assert second.status_code == 409
    assert "Sie haben schon einen offenen Antrag." in second.get_data(as_text=True)
    assert len(requests_of(app, "employee")) == 1


def test_invalid_transitions_are_refused_with_a_message(app, client, auth):
    auth.login("employee")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, "hr")
    response = decide(client, request_id)
    assert load(app, HomeOfficeRequest, request_id).state == "submitted"
    assert response.status_code == 409
    assert "Die Vorgesetzte oder der Vorgesetzte hat den Antrag noch nicht bewertet." in (
        response.get_data(as_text=True)
    )
    _switch(client, auth, "supervisor")
    endorse(client, request_id)
    endorse(client, request_id, decision="object", note="doch nicht")
    assert load(app, HomeOfficeRequest, request_id).state == "endorsed"


def test_nobody_decides_their_own_request(app, client, auth):
    auth.login("hr")  # h.lang has no manager, so HR could decide straight away
    request_id = request_id_from(post_request(client))
    response = decide(client, request_id)
    assert load(app, HomeOfficeRequest, request_id).state == "submitted"
    assert "Niemand darf über den eigenen Antrag entscheiden." in response.get_data(as_text=True)


@pytest.mark.parametrize("intruder", ["colleague", "outsider", "it", "facility", "admin"])
def test_others_cannot_open_or_change_a_request_by_id(app, client, auth, intruder):
    auth.login("employee")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, intruder)
    assert client.get(f"/homeoffice/requests/{request_id}").status_code == 404
    token = csrf_token(client, "/")
    for action in ("withdraw", "submit"):
        response = client.post(
            f"/homeoffice/requests/{request_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 404
    assert load(app, HomeOfficeRequest, request_id).state == "submitted"


def test_supervisor_of_another_unit_sees_nothing(app, client, auth):
    auth.login("outsider")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, "supervisor")
    assert client.get(f"/homeoffice/requests/{request_id}").status_code == 404
    assert "Otto Weiß" not in client.get("/homeoffice/team").get_data(as_text=True)
    token = csrf_token(client, "/")
    response = client.post(
        f"/homeoffice/requests/{request_id}/endorse",
        data={"decision": "endorse", "csrf_token": token},
    )
    assert response.status_code == 404


def test_posting_state_or_another_person_changes_nothing(app, client, auth):
    auth.login("employee")
    with app.app_context(), session_scope() as session:
        from homeoffice.people.models import Person

        colleague = session.exec(select(Person).where(Person.username == "c.schaefer")).one()
    response = post_request(
        client,
        state="approved",
        person_id=str(colleague.id),
        eligible="y",
        rule_set="hacked@9",
        decided_by_id="1",
    )
    request_id = request_id_from(response)
    req = load(app, HomeOfficeRequest, request_id)
    assert req.state == "submitted" and req.person_id != colleague.id
    assert req.rule_set != "hacked@9" and req.decided_by_id is None
    assert requests_of(app, "colleague") == []


def test_health_reason_is_visible_to_hr_only_and_views_are_audited(app, client, auth):
    auth.login("employee")
    request_id = request_id_from(
        post_request(
            client, reason_commute=None, commute_km=None, reason_health="y", health_certificate="y"
        )
    )
    own = client.get(f"/homeoffice/requests/{request_id}").get_data(as_text=True)
    assert "gesundheitliche Gründe" in own
    _switch(client, auth, "supervisor")
    html = client.get(f"/homeoffice/requests/{request_id}").get_data(as_text=True)
    assert "gesundheitliche Gründe" not in html and "persönlicher Grund liegt vor" in html
    team = client.get("/homeoffice/team").get_data(as_text=True)
    assert "gesundheitliche Gründe" not in team and "persönlicher Grund liegt vor" in team
    endorse(client, request_id)
    _switch(client, auth, "hr")
    html = client.get(f"/homeoffice/requests/{request_id}").get_data(as_text=True)
    assert "gesundheitliche Gründe" in html and "Ärztliche Bescheinigung" in html
    with app.app_context(), session_scope() as session:
        views = session.exec(select(AuditEvent).where(AuditEvent.action == "health.viewed")).all()
        assert len(views) == 1 and views[0].actor_name == "h.lang"
        assert views[0].detail is None and views[0].after is None
    decide(client, request_id)
    agreement = agreement_of(app, "employee")
    _switch(client, auth, "supervisor")
    html = client.get(f"/homeoffice/agreements/{agreement.id}").get_data(as_text=True)
    assert "gesundheitliche Gründe" not in html and "Bescheinigung" not in html


def test_amendment_replaces_the_agreement(app, client, auth):
    auth.login("outsider")  # no manager: HR decides directly
    first = request_id_from(post_request(client))
    _switch(client, auth, "hr")
    decide(client, first)
    old = agreement_of(app, "outsider")
    _switch(client, auth, "outsider")
    response = post_request(client, "/homeoffice/requests/new?kind=amendment", tuesday=None)
    second = request_id_from(response)
    assert load(app, HomeOfficeRequest, second).agreement_id == old.id
    _switch(client, auth, "hr")
    decide(client, second)
    assert load(app, Agreement, old.id).state == "ended"
    new = agreement_of(app, "outsider")
    assert new.id != old.id and new.state == "active" and new.replaces_id == old.id
    assert new.weekday_set == {4}


def test_revocation_needs_reason_and_creates_return_tasks(app, client, auth):
    auth.login("outsider")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, "hr")
    decide(client, request_id)
    agreement = agreement_of(app, "outsider")
    path = f"/homeoffice/agreements/{agreement.id}"
    client.post(f"{path}/revoke", data={"reason": "", "csrf_token": csrf_token(client, path)})
    assert load(app, Agreement, agreement.id).state == "active"
    client.post(
        f"{path}/revoke",
        data={"reason": "Stelle gewechselt", "csrf_token": csrf_token(client, path)},
    )
    assert load(app, Agreement, agreement.id).state == "revoked"
    with app.app_context(), session_scope() as session:
        tasks = {(t.kind, t.state) for t in session.exec(select(ItTask)).all()}
    assert ("revoke_access", "open") in tasks and ("return_laptop", "open") in tasks
    assert ("issue_laptop", "cancelled") in tasks


def test_mail_failure_never_undoes_the_decision(app, client, auth):
    from tests.servers import free_port

    app.config.update(
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=free_port(),
        SMTP_STARTTLS=False,
        SMTP_TIMEOUT=1,
    )
    auth.login("outsider")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, "hr")
    decide(client, request_id)
    assert load(app, HomeOfficeRequest, request_id).state == "approved"
    from homeoffice.notifications.services import deliver_pending

    with app.app_context(), session_scope() as session:
        sent, failed = deliver_pending(session, app.config)
    assert sent == 0 and failed > 0
    with app.app_context(), session_scope() as session:
        messages = session.exec(select(OutboxMessage)).all()
    assert messages and all(m.sent_at is None for m in messages)
    assert all(m.last_error and m.next_attempt_at for m in messages)
    assert load(app, HomeOfficeRequest, request_id).state == "approved"
    assert agreement_of(app, "outsider").state == "active"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_hr_clerks_deciding_at_once_only_one_counts(app, client, auth):
    from tests.conftest import AuthActions

    auth.login("outsider")
    request_id = request_id_from(post_request(client))
    clerks = []
    for _ in range(2):
        c = app.test_client()
        AuthActions(c).login("hr")
        clerks.append((c, csrf_token(c, f"/homeoffice/requests/{request_id}")))
    barrier = threading.Barrier(2)
    results = []

    def act(c, token, decision):
        barrier.wait()
        response = c.post(
            f"/homeoffice/requests/{request_id}/decide",
            data={"decision": decision, "reason": "parallel", "csrf_token": token},
        )
        results.append(response.status_code)

    threads = [
        threading.Thread(target=act, args=(c, t, d))
        for (c, t), d in zip(clerks, ("approve", "reject"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context(), session_scope() as session:
        decisions = session.exec(
            select(AuditEvent).where(
                AuditEvent.action.in_(["request.approved", "request.rejected"])
            )
        ).all()
        agreements = session.exec(select(func.count()).select_from(Agreement)).one()
        state = session.get(HomeOfficeRequest, request_id).state
    assert len(decisions) == 1
    assert state in ("approved", "rejected")
    assert agreements == (1 if state == "approved" else 0)


def test_request_form_defaults_are_valid():
    assert request_form()["pattern"] == "weekdays"


def test_future_agreement_starts_and_ends_by_date(app, client, auth, runner):
    from datetime import date, timedelta

    auth.login("outsider")
    request_id = request_id_from(
        post_request(client, start_date=in_days(7), until_revoked=None, end_date=in_days(30))
    )
    _switch(client, auth, "hr")
    decide(client, request_id)
    agreement = agreement_of(app, "outsider")
    assert agreement.state == "approved"
    day = (date.today() + timedelta(days=7)).isoformat()
    assert "1 agreements activated" in runner.invoke(args=["apply-dates", "--today", day]).output
    assert load(app, Agreement, agreement.id).state == "active"
    again = runner.invoke(args=["apply-dates", "--today", day]).output
    assert "0 agreements activated, 0 expired" in again  # idempotent
    after_end = (date.today() + timedelta(days=31)).isoformat()
    assert "1 expired" in runner.invoke(args=["apply-dates", "--today", after_end]).output
    assert load(app, Agreement, agreement.id).state == "expired"
    with app.app_context(), session_scope() as session:
        kinds = {t.kind for t in session.exec(select(ItTask)).all()}
    assert "revoke_access" in kinds


def test_health_details_ask_for_a_fresh_login(app, client, auth):
    from datetime import timedelta

    from homeoffice.auth.models import LoginSession

    auth.login("employee")
    request_id = request_id_from(
        post_request(
            client, reason_commute=None, commute_km=None, reason_health="y", health_certificate="y"
        )
    )
    _switch(client, auth, "hr")
    with app.app_context(), session_scope() as session:
        for row in session.exec(select(LoginSession)).all():
            row.authenticated_at -= timedelta(minutes=app.config["FRESH_LOGIN_MINUTES"] + 1)
    response = client.get(f"/homeoffice/requests/{request_id}")
    assert response.status_code == 302 and response.location.startswith("/login")
    with app.app_context(), session_scope() as session:
        assert not session.exec(
            select(AuditEvent).where(AuditEvent.action == "health.viewed")
        ).all()


@pytest.mark.parametrize(("typed", "stored"), [("42,5", 42.5), ("42.5", 42.5), ("31", 31.0)])
def test_distance_typed_the_german_way(app, client, auth, typed, stored):
    auth.login("employee")
    request_id = request_id_from(post_request(client, commute_km=typed))
    assert load(app, HomeOfficeRequest, request_id).commute_km == stored


def test_distance_that_is_no_number_is_explained(app, client, auth):
    auth.login("employee")
    response = post_request(client, commute_km="zweiundvierzig")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Bitte geben Sie eine Zahl ein, zum Beispiel 42,5." in html
    assert "Bitte geben Sie die Strecke oder die Zeit an." not in html


def test_refused_decision_keeps_what_hr_typed_next_to_the_field(app, client, auth):
    auth.login("outsider")
    request_id = request_id_from(post_request(client))
    _switch(client, auth, "hr")
    response = decide(client, request_id, override="", conditions="Erreichbar ab 8 Uhr")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Erreichbar ab 8 Uhr" in html  # the conditions are still there
    assert 'id="override_reason-error"' in html and "überschreiten" in html
    rejected = decide(client, request_id, decision="reject", reason="")
    assert rejected.status_code == 409
    assert 'id="reason-error"' in rejected.get_data(as_text=True)
