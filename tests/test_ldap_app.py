"""The app against a real slapd: login, roles, health and the directory sync."""

import pytest
from sqlmodel import func, select

from homeoffice.db import session_scope
from homeoffice.people.models import Person, Unit
from homeoffice.people.services import sync_people
from tests.conftest import both_databases, csrf_token, make_app
from tests.servers.slapd import PEOPLE, ROLE_GROUPS, generate_people, ldap_config
from vpn.directory import DirectoryUnavailable
from vpn.ldap import LdapDirectory

pytestmark = pytest.mark.ldap

UNREACHABLE = "Der Verzeichnisdienst ist gerade nicht erreichbar."
WRONG = "Benutzername oder Passwort ist falsch."


@pytest.fixture
def ldap_app(database_url, tmp_path, slapd, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(
        database_url, tmp_path, DIRECTORY="ldap", ROLE_GROUPS=ROLE_GROUPS, **ldap_config(slapd)
    )
    yield app
    app.extensions["homeoffice.engine"].dispose()


def _login(client, username, password):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )


def _people(app):
    with app.app_context(), session_scope() as session:
        return session.exec(select(func.count()).select_from(Person)).one()


@both_databases
def test_login_of_a_person_whose_dn_holds_a_comma_and_umlauts(ldap_app):
    client = ldap_app.test_client()
    person = PEOPLE["jmueller"]
    assert "\\2C" in person.dn or "\\," in person.dn
    response = _login(client, "jmueller", person.password)
    assert response.status_code == 302, response.get_data(as_text=True)
    html = client.get("/").get_data(as_text=True)
    assert "Müller, Jürgen" in html
    assert 'href="/rooms/"' in html  # facility role from the directory group
    with ldap_app.app_context(), session_scope() as session:
        stored = session.exec(select(Person).where(Person.username == "jmueller")).one()
        assert stored.role_set == {"employee", "facility"}
        assert session.get(Unit, stored.unit_id).name == "Bürgerbüro"


def test_umlaut_password_and_name(ldap_app):
    client = ldap_app.test_client()
    assert _login(client, "agroesse", "Größe-Kennwort-ß").status_code == 302
    assert "Größe, Ängelika" in client.get("/").get_data(as_text=True)


def test_wrong_password_refused(ldap_app):
    client = ldap_app.test_client()
    response = _login(client, "jmueller", "Kennwort-falsch")
    assert response.status_code == 200 and WRONG in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("password", ["", " "])
def test_empty_password_refused_without_asking_the_directory(ldap_app, slapd, password):
    client = ldap_app.test_client()
    token = csrf_token(client)
    # With the directory down, any bind attempt would surface as "not reachable";
    # the refusal shows that no bind was even tried.
    slapd.stop()
    response = client.post(
        "/login", data={"username": "jmueller", "password": password, "csrf_token": token}
    )
    assert UNREACHABLE not in response.get_data(as_text=True)
    assert response.status_code in (200, 400)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("username", ["*)(uid=*", "*", "jmueller)(|(uid=*", "*)(|(objectClass=*"])
def test_filter_injection_login_names_are_refused(ldap_app, username):
    client = ldap_app.test_client()
    for password in ("x", PEOPLE["jmueller"].password):
        response = _login(client, username, password)
        assert response.status_code == 200
        assert WRONG in response.get_data(as_text=True)
        assert client.get("/").status_code == 302


def test_directory_down_gives_a_clear_message_and_health_503(ldap_app, slapd):
    client = ldap_app.test_client()
    assert client.get("/health").json == {
        "status": "ok", "database": "ok", "directory": "ok", "jobs": "ok"
    }
    slapd.stop()
    response = _login(client, "jmueller", PEOPLE["jmueller"].password)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert UNREACHABLE in html and WRONG not in html
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json["directory"] == "unavailable" and health.json["database"] == "ok"
    assert _people(ldap_app) == 0  # nothing half-done
    slapd.start()
    assert _login(client, "jmueller", PEOPLE["jmueller"].password).status_code == 302


def test_person_removed_from_role_group_loses_the_role_at_next_login(ldap_app, slapd):
    client = ldap_app.test_client()
    assert _login(client, "pkoenig", PEOPLE["pkoenig"].password).status_code == 302
    assert client.get("/people/").status_code == 200
    with LdapDirectory.from_config(ldap_config(slapd)) as directory:
        directory.remove_from_group(ROLE_GROUPS["hr"], PEOPLE["pkoenig"].dn)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert _login(client, "pkoenig", PEOPLE["pkoenig"].password).status_code == 302
    assert client.get("/people/").status_code == 403


@both_databases
def test_sync_imports_2500_entries_paged_and_deactivates_a_removed_one(ldap_app, slapd):
    generate_people(slapd, 2500)
    ldap_app.config["LDAP_PAGE_SIZE"] = 200
    runner = ldap_app.test_cli_runner()
    result = runner.invoke(args=["sync-directory"])
    assert result.exit_code == 0, result.output
    total = 2500 + len(PEOPLE)
    assert f"{total} created, 0 updated, 0 deactivated" in result.output
    with ldap_app.app_context(), session_scope() as session:
        people = {p.username: p for p in session.exec(select(Person))}
        assert len(people) == total
        assert people["jmueller"].manager_id == people["mschmidt"].id
        assert "supervisor" in people["mschmidt"].role_set
        assert "hr" in people["pkoenig"].role_set
        assert people["gen02500"].display_name
    connection = slapd.admin_connection()
    connection.delete(f"uid=gen01234,{'ou=people,dc=musterstadt,dc=de'}")
    connection.unbind()
    again = runner.invoke(args=["sync-directory"])
    assert "0 created, 0 updated, 1 deactivated" in again.output, again.output
    with ldap_app.app_context(), session_scope() as session:
        gone = session.exec(select(Person).where(Person.username == "gen01234")).one()
        assert gone.active is False


def test_directory_stopped_in_the_middle_of_a_sync_changes_nothing(ldap_app, slapd):
    generate_people(slapd, 1200)
    config = ldap_config(slapd, LDAP_PAGE_SIZE=100)

    class StopsMidway(LdapDirectory):
        def iter_people(self):
            for count, entry in enumerate(super().iter_people(), start=1):
                if count == 450:
                    slapd.stop()
                yield entry

    directory = StopsMidway.from_config(config)
    with pytest.raises(DirectoryUnavailable):
        with ldap_app.app_context(), session_scope() as session:
            sync_people(session=session, directory=directory, role_groups=ROLE_GROUPS)
    directory.close()
    assert _people(ldap_app) == 0
    slapd.start()
    result = ldap_app.test_cli_runner().invoke(args=["sync-directory"])
    assert result.exit_code == 0 and f"{1200 + len(PEOPLE)} created" in result.output


def test_sync_command_reports_directory_down_and_changes_nothing(ldap_app, slapd):
    slapd.stop()
    result = ldap_app.test_cli_runner().invoke(args=["sync-directory"])
    assert result.exit_code != 0
    assert "Directory sync failed, nothing changed" in result.output
    assert _people(ldap_app) == 0
