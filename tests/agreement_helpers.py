"""Shared steps of the agreement tests: fill the request form, endorse, decide."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlmodel import select

from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.db import session_scope
from homeoffice.people.models import Person
from tests.conftest import PEOPLE, csrf_token


def request_form(**overrides) -> dict:
    """A valid commute request starting today, two fixed weekdays, until revoked."""
    data = {
        "reason_commute": "y",
        "commute_km": "42",
        "pattern": "weekdays",
        "tuesday": "y",
        "thursday": "y",
        "start_date": date.today().isoformat(),
        "until_revoked": "y",
        "wants_laptop": "y",
        "wants_vpn": "y",
        "send": "Antrag senden",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_request(client, path="/homeoffice/requests/new", **overrides):
    data = request_form(**overrides)
    data["csrf_token"] = csrf_token(client, path)
    return client.post(path, data=data)


def request_id_from(response) -> int:
    match = re.search(r"/homeoffice/requests/(\d+)", response.location or "")
    assert match, response.get_data(as_text=True)[:2000]
    return int(match.group(1))


def endorse(client, request_id: int, decision="endorse", note=""):
    token = csrf_token(client, f"/homeoffice/requests/{request_id}")
    return client.post(
        f"/homeoffice/requests/{request_id}/endorse",
        data={"decision": decision, "note": note, "csrf_token": token},
    )


def decide(
    client,
    request_id: int,
    decision="approve",
    reason="",
    override="Vertretung geregelt",
    conditions="",
):
    """HR's decision. The tests' units are tiny, so approvals carry a quota override by
    default; the quota refusal itself is tested with ``override=""``."""
    token = csrf_token(client, f"/homeoffice/requests/{request_id}")
    return client.post(
        f"/homeoffice/requests/{request_id}/decide",
        data={
            "decision": decision,
            "reason": reason,
            "override_reason": override,
            "conditions": conditions,
            "csrf_token": token,
        },
    )


def load(app, model, object_id):
    with app.app_context(), session_scope() as session:
        return session.get(model, object_id)


def agreement_of(app, key: str) -> Agreement | None:
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == PEOPLE[key][0])).one()
        return session.exec(
            select(Agreement).where(Agreement.person_id == person.id).order_by(Agreement.id.desc())
        ).first()


def requests_of(app, key: str) -> list[HomeOfficeRequest]:
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == PEOPLE[key][0])).one()
        return list(
            session.exec(
                select(HomeOfficeRequest).where(HomeOfficeRequest.person_id == person.id)
            ).all()
        )


def in_days(n: int) -> str:
    return (date.today() + timedelta(days=n)).isoformat()


def share_agreement(session, person, *, start: date) -> None:
    """An active share-of-week agreement made directly: the person then follows the
    unit's rotation (people without an agreement are in the office every day)."""
    req = HomeOfficeRequest(
        person_id=person.id,
        state="approved",
        reasons="commute",
        pattern="share",
        share_percent=50,
        start_date=start,
        eligible=True,
        rule_set="ordinary@1",
    )
    session.add(req)
    session.flush()
    session.add(
        Agreement(
            person_id=person.id,
            request_id=req.id,
            state="active",
            start_date=start,
            pattern="share",
            share_percent=50,
            days_per_week=2.5,
            rule_set="ordinary@1",
        )
    )
