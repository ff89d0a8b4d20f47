"""The demo city: idempotent, the promised logins, a few hundred staff."""

import re

from sqlmodel import func, select

from homeoffice.db import session_scope
from homeoffice.devices.models import Device
from homeoffice.people.models import Person, Unit
from homeoffice.rooms.models import AllocationRun, Room, RoomUnit
from tests.conftest import csrf_token


def _counts(app):
    with app.app_context(), session_scope() as session:
        return tuple(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Person, Unit, Room, Device, RoomUnit, AllocationRun)
        )


def test_demo_data_is_idempotent_and_logins_work(tmp_path, monkeypatch):
    from tests.conftest import make_app

    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(
        f"sqlite:///{tmp_path / 'demo.db'}",
        tmp_path,
        ROLE_GROUPS={
            "hr": "cn=homeoffice-hr,ou=groups,dc=musterstadt,dc=de",
            "it": "cn=homeoffice-it,ou=groups,dc=musterstadt,dc=de",
            "admin": "cn=homeoffice-admin,ou=groups,dc=musterstadt,dc=de",
            "facility": "cn=homeoffice-facility,ou=groups,dc=musterstadt,dc=de",
        },
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0, first.output
    generated = re.search(r"Password: (\S+)", first.output).group(1)
    counts = _counts(app)
    second = runner.invoke(args=["demo-data", "--password", "Demo-Passwort-1"])
    assert second.exit_code == 0
    assert _counts(app) == counts  # nothing twice
    people, units, rooms, devices, room_units, runs = counts
    assert 300 <= people <= 400 and 8 <= units <= 12 and rooms > 0 and devices > 0
    # every room has its unit, a few a neighbouring unit too; the rooms were allocated
    # once, at the end, not after every approval of the history
    assert rooms < room_units < rooms * 1.3 and runs == 1
    for login in (
        "demo.employee",
        "demo.supervisor",
        "demo.hr",
        "demo.it",
        "demo.facility",
        "demo.admin",
    ):
        assert login in first.output

    with app.app_context(), session_scope() as session:
        roles = {
            p.username: p.role_set
            for p in session.exec(select(Person).where(Person.username.startswith("demo.")))
        }
        employee = session.exec(select(Person).where(Person.username == "demo.employee")).one()
        supervisor = session.exec(select(Person).where(Person.username == "demo.supervisor")).one()
        assert employee.manager_id == supervisor.id
        assert session.get(Unit, employee.unit_id).name == "Bürgerbüro"
        assert session.get(Unit, supervisor.unit_id).head_id == supervisor.id
    assert "supervisor" in roles["demo.supervisor"]
    assert roles["demo.employee"] == {"employee"}
    for role in ("hr", "it", "facility", "admin"):
        assert role in roles[f"demo.{role}"]

    from homeoffice.agreements.models import Agreement, HomeOfficeRequest

    with app.app_context(), session_scope() as session:
        agreements = session.exec(select(Agreement)).all()
        requests = session.exec(select(HomeOfficeRequest)).all()
    active_ordinary = [a for a in agreements if a.kind == "ordinary" and a.state == "active"]
    temporary = [a for a in agreements if a.kind == "temporary"]
    assert 12 <= len(active_ordinary) <= 18 and 25 <= len(temporary) <= 35
    assert all(a.rule_set == "infection_control@1" for a in temporary)
    states = {r.state for r in requests}
    assert {"submitted", "endorsed", "rejected", "withdrawn", "approved"} <= states
    assert any(a.state == "expired" for a in agreements)
    assert "Home office: 15 ordinary agreements in force" in first.output

    client = app.test_client()
    old = client.post(
        "/login",
        data={"username": "demo.hr", "password": generated, "csrf_token": csrf_token(client)},
    )
    assert old.status_code == 200  # the second run set the new password
    new = client.post(
        "/login",
        data={
            "username": "demo.hr",
            "password": "Demo-Passwort-1",
            "csrf_token": csrf_token(client),
        },
    )
    assert new.status_code == 302


def test_demo_data_refuses_ldap_directory(app):
    app.config["DIRECTORY"] = "ldap"
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code != 0 and "local directory" in result.output
