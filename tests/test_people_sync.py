"""Directory sync against the local directory: create, update, deactivate, roles."""

from sqlmodel import select

from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import LocalDirectoryUser
from homeoffice.people.models import Person, Unit
from homeoffice.people.services import sync_people
from tests.conftest import ROLE_GROUPS, both_databases, password_hash


def _person(session, username):
    return session.exec(select(Person).where(Person.username == username)).one()


@both_databases
def test_seed_sync_sets_units_managers_heads_and_roles(app):
    with app.app_context(), session_scope() as session:
        employee = _person(session, "e.kaya")
        supervisor = _person(session, "b.vogt")
        assert employee.manager_id == supervisor.id
        assert employee.roles == "employee"
        assert supervisor.roles == "employee supervisor"
        assert _person(session, "h.lang").roles == "employee hr"
        unit = session.get(Unit, employee.unit_id)
        assert unit.name == "Bürgerbüro" and unit.head_id == supervisor.id


@both_databases
def test_sync_reports_created_updated_deactivated_and_keeps_history(app, runner):
    with app.app_context(), session_scope() as session:
        session.add(
            LocalDirectoryUser(
                username="n.neu",
                dn="uid=n.neu,ou=people,dc=musterstadt,dc=de",
                display_name="Nora Neu",
                unit="Kämmerei",
                password_hash=password_hash(),
            )
        )
        moved = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == "c.schaefer")
        ).one()
        moved.unit = "Ordnungsamt"
        gone = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == "o.weiss")
        ).one()
        session.delete(gone)
    result = runner.invoke(args=["sync-directory"])
    assert result.exit_code == 0, result.output
    assert "1 created, 1 updated, 1 deactivated" in result.output
    with app.app_context(), session_scope() as session:
        gone = _person(session, "o.weiss")  # still there, never deleted
        assert gone.active is False and gone.deactivated_at is not None
        assert session.get(Unit, _person(session, "c.schaefer").unit_id).name == "Ordnungsamt"
        assert _person(session, "n.neu").active
        actions = {e.action for e in session.exec(select(AuditEvent)).all()}
        assert {
            "person.created",
            "person.updated",
            "person.deactivated",
            "directory.sync",
        } <= actions
    again = runner.invoke(args=["sync-directory"])
    assert "0 created, 0 updated, 0 deactivated" in again.output


def test_deactivated_person_cannot_log_in(app, auth, client):
    with app.app_context(), session_scope() as session:
        gone = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == "e.kaya")
        ).one()
        session.delete(gone)
        sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)
    auth.login("employee")
    assert client.get("/").status_code == 302


def test_sync_ends_sessions_of_people_who_left(app, auth, client):
    auth.login("employee")
    assert client.get("/").status_code == 200
    with app.app_context(), session_scope() as session:
        gone = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == "e.kaya")
        ).one()
        session.delete(gone)
        sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)
    assert client.get("/").status_code == 302
