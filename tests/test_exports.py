"""Roster downloads through the pages and the command line, read back with openpyxl."""

import io
from datetime import date

from openpyxl import load_workbook
from sqlmodel import select

from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.people.models import Person
from tests.agreement_helpers import decide, post_request, request_id_from
from tests.conftest import csrf_token


def _approved_health_agreement(client, auth):
    auth.login("outsider")
    request_id = request_id_from(post_request(
        client, reason_commute=None, commute_km=None, reason_health="y", health_certificate="y",
        wants_vpn="y", wants_laptop="y"))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("hr")
    decide(client, request_id)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def _download(client, kind, unit=""):
    token = csrf_token(client, "/exports/")
    return client.post(f"/exports/{kind}.xlsx", data={"csrf_token": token, "unit": unit})


def test_agreements_export_has_no_health_reason_and_is_audited(app, client, auth):
    _approved_health_agreement(client, auth)
    with app.app_context(), session_scope() as session:
        session.exec(select(Person).where(Person.username == "o.weiss")).one().display_name = (
            "=HYPERLINK(\"http://evil.example\")"
        )
    auth.login("hr")
    response = _download(client, "agreements")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]][:4] == ["Nummer", "Name", "Personalnummer", "Amt"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    row = [c for c in sheet[2]]
    values = [c.value for c in row]
    assert "persönlicher Grund liegt vor" in values
    assert not any("gesundheit" in str(v).lower() for v in values)
    name = row[1]
    assert name.value == '=HYPERLINK("http://evil.example")' and name.data_type == "s"
    assert isinstance(row[6].value, date) or row[6].is_date
    about = book.worksheets[-1]
    about_values = [c.value for r in about.iter_rows() for c in r]
    assert "Hilde Lang" in about_values and "alle Ämter" in about_values
    with app.app_context(), session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "export.agreements")
        ).one()
    assert event.actor_name == "h.lang" and event.after["filter"] == "alle Ämter"


def test_roster_for_it_and_role_limits(app, client, auth):
    _approved_health_agreement(client, auth)
    auth.login("it")
    roster = load_workbook(io.BytesIO(_download(client, "roster").data)).worksheets[0]
    header = [c.value for c in roster[1]]
    assert "Kostenstelle" in header and "Zugang bis" in header
    assert roster.max_row == 2
    assert _download(client, "devices").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("hr")
    assert _download(client, "devices").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login("employee")
    assert client.post("/exports/roster.xlsx", data={"csrf_token": csrf_token(client, "/")}
                       ).status_code == 403


def test_export_is_a_post_and_needs_a_token(client, auth):
    auth.login("it")
    assert client.get("/exports/roster.xlsx").status_code == 405
    assert client.post("/exports/roster.xlsx", data={}).status_code == 400


def test_command_line_export(app, runner, tmp_path, client, auth):
    _approved_health_agreement(client, auth)
    for kind in ("devices", "vpn", "terminal-server", "roster", "agreements"):
        target = tmp_path / f"{kind}.xlsx"
        result = runner.invoke(args=["export", kind, str(target)])
        assert result.exit_code == 0, result.output
        assert load_workbook(target).worksheets[0].max_row >= 1
    bad = runner.invoke(args=["export", "roster", str(tmp_path / "x.xlsx"), "--unit", "Nirgendwo"])
    assert bad.exit_code != 0 and "Nirgendwo" in bad.output
    with app.app_context(), session_scope() as session:
        assert len(session.exec(select(AuditEvent).where(
            AuditEvent.action.like("export.%"))).all()) == 5


def test_presence_plan_export(app, runner, tmp_path, client, auth):
    from datetime import timedelta

    target = tmp_path / "plan.xlsx"
    start = date.today()
    result = runner.invoke(args=["export", "plan", str(target), "--start", start.isoformat(),
                                 "--end", (start + timedelta(days=13)).isoformat()])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(target).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["Tag", "Name", "Personalnummer", "Amt", "Wo"]
    days = {row[0].value for row in sheet.iter_rows(min_row=2)}
    assert days and all(d.weekday() < 5 for d in days)
    assert {row[4].value for row in sheet.iter_rows(min_row=2)} <= {
        "im Büro", "Homeoffice", "abwesend", "Feiertag"}
    auth.login("facility")
    token = csrf_token(client, "/exports/")
    response = client.post("/exports/plan.xlsx", data={
        "csrf_token": token, "unit": "", "start": start.isoformat(),
        "end": (start + timedelta(days=6)).isoformat()})
    assert response.status_code == 200
    assert client.post("/exports/devices.xlsx", data={"csrf_token": token}).status_code == 403


def test_allocation_and_retention_commands(app, runner):
    allocated = runner.invoke(args=["allocate-rooms", "--weeks", "1"])
    assert allocated.exit_code == 0 and "office days have a room" in allocated.output
    deleted = runner.invoke(args=["delete-expired-contacts"])
    assert deleted.exit_code == 0 and "room allocations deleted" in deleted.output
