"""Rule files in the running service: the admin page, reloading, and decided
agreements that keep the rules they were decided under."""

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

import policies
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from tests.agreement_helpers import decide, load, post_request, request_id_from
from tests.conftest import csrf_token


@pytest.fixture
def rule_dir(app, tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(Path(policies.__file__).parent / "rules", target)
    app.config["POLICY_DIRECTORY"] = str(target)
    return target


def _new_version(rule_dir: Path, **changes) -> None:
    """Archive ordinary@1 and put ordinary@2 with changed values in force."""
    current = rule_dir / "ordinary.toml"
    (rule_dir / "archive").mkdir(exist_ok=True)
    shutil.copy(current, rule_dir / "archive" / "ordinary.v1.toml")
    text = current.read_text().replace("version = 1", "version = 2")
    for old, new in changes.items():
        text = text.replace(old, new)
    current.write_text(text)


def test_admin_sees_rule_sets_and_reload_is_audited(app, client, auth, rule_dir):
    auth.login("admin")
    html = client.get("/admin/policies").get_data(as_text=True)
    assert "Dienstvereinbarung Homeoffice (Regelbetrieb)" in html
    _new_version(rule_dir, **{"min_km = 30": "min_km = 50"})
    response = client.post(
        "/admin/policies/reload", data={"csrf_token": csrf_token(client, "/admin/policies")}
    )
    assert response.status_code == 302
    with app.app_context(), session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "policies.reloaded")
        ).one()
    assert "ordinary@2" in event.after["versions"] and event.actor_name == "a.berg"
    assert event.before is None  # the first confirmation
    html = client.get("/admin/policies").get_data(as_text=True)
    assert "unterscheiden sich" not in html
    (rule_dir / "ordinary.toml").write_text(
        (rule_dir / "ordinary.toml").read_text().replace("version = 2", "version = 3")
    )
    page = client.get("/admin/policies").get_data(as_text=True)
    assert "unterscheiden sich" in page, page[page.find("<main"):]
    client.post(
        "/admin/policies/reload", data={"csrf_token": csrf_token(client, "/admin/policies")}
    )
    with app.app_context(), session_scope() as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "policies.reloaded")
            .order_by(AuditEvent.id)
        ).all()
    assert events[1].before["fingerprint"] == events[0].after["fingerprint"]
    assert events[1].after["fingerprint"] != events[0].after["fingerprint"]


def test_broken_rule_file_is_refused_and_the_old_rules_stay(app, client, auth, rule_dir):
    auth.login("admin")
    client.get("/admin/policies")  # rules loaded
    (rule_dir / "ordinary.toml").write_text(
        (rule_dir / "ordinary.toml").read_text().replace("min_km = 30", "min_km = -5")
    )
    response = client.post(
        "/admin/policies/reload", data={"csrf_token": csrf_token(client, "/admin/policies")}
    )
    html = client.get(response.location).get_data(as_text=True)
    assert "ordinary.toml, line" in html and "min_km" in html


def test_reload_needs_admin_and_post(client, auth, rule_dir):
    auth.login("hr")
    assert client.get("/admin/policies").status_code == 403
    assert (
        client.post(
            "/admin/policies/reload", data={"csrf_token": csrf_token(client, "/")}
        ).status_code
        == 403
    )


def test_rule_change_leaves_decided_agreements_untouched(app, client, auth, rule_dir):
    auth.login("outsider")
    request_id = request_id_from(post_request(client))  # commute 42 km: eligible under @1
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("hr")
    decide(client, request_id)
    with app.app_context(), session_scope() as session:
        agreement = session.exec(select(Agreement)).one()
        before = (agreement.rule_set, agreement.state, agreement.start_date)
        verdict_before = session.get(HomeOfficeRequest, request_id).verdict
    assert before[0] == "ordinary@1"

    _new_version(rule_dir, **{"min_km = 30": "min_km = 50"})
    auth.logout()
    auth.login("outsider")
    client.get("/homeoffice/")  # the changed files are picked up on the next request
    with app.app_context(), session_scope() as session:
        agreement = session.exec(select(Agreement)).one()
        assert (agreement.rule_set, agreement.state, agreement.start_date) == before
        assert session.get(HomeOfficeRequest, request_id).verdict == verdict_before

    # The same facts are not eligible under the new version, still eligible under the old.
    book = policies.load_rule_book(rule_dir)
    facts = policies.Request(
        reasons=frozenset({"commute"}),
        commute_km=42,
        days_per_week=2,
        start=load(app, Agreement, agreement.id).start_date,
    )
    person = policies.Person(unit="Ordnungsamt")
    now = policies.evaluate(facts, person, policies.Context(on=facts.start, rule_book=book))
    then = policies.evaluate(
        facts, person, policies.Context(on=facts.start, rule_book=book, rule_set="ordinary@1")
    )
    assert not now.eligible and now.rule_set == "ordinary@2"
    assert then.eligible and then.rule_set == "ordinary@1"
