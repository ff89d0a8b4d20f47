"""Settings: the documented order, and refusal to start when unsafe."""

import pytest

from homeoffice import ConfigError, create_app


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    for key in ("HOMEOFFICE_SECRET_KEY", "HOMEOFFICE_DATABASE_URL", "HOMEOFFICE_DIRECTORY"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def test_defaults_use_sqlite_in_instance_and_local_directory(instance):
    app = create_app({"TESTING": True})
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'homeoffice.db'}"
    assert app.config["DIRECTORY"] == "local"
    assert app.config["LDAP_USER_FILTER"] == "(uid={username})"
    assert set(app.config["ROLE_GROUPS"]) == {"hr", "it", "admin", "facility"}
    assert app.config["BABEL_DEFAULT_LOCALE"] == "de"


def test_refuses_default_secret_key_outside_debug_and_testing(instance):
    with pytest.raises(ConfigError, match="HOMEOFFICE_SECRET_KEY"):
        create_app()


def test_refuses_short_secret_key(instance, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        create_app()


def test_order_defaults_instance_file_environment_test_config(instance, monkeypatch):
    (instance / "config.py").write_text(
        'SECRET_KEY = "from-the-instance-file-0123456789"\nLDAP_TIMEOUT = 7\nPAGE_SIZE = 20\n'
    )
    monkeypatch.setenv("HOMEOFFICE_PAGE_SIZE", "30")
    monkeypatch.setenv("HOMEOFFICE_DATABASE_URL", "sqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("HOMEOFFICE_ROLE_GROUPS", '{"hr": "cn=personal,ou=groups,dc=x"}')
    app = create_app({"LDAP_TIMEOUT": 9})
    assert app.config["SECRET_KEY"] == "from-the-instance-file-0123456789"  # file over default
    assert app.config["PAGE_SIZE"] == 30  # environment over file, parsed as JSON
    assert app.config["LDAP_TIMEOUT"] == 9  # test config over file
    assert app.config["DATABASE_URL"] == "sqlite:////tmp/elsewhere.db"
    assert app.config["ROLE_GROUPS"] == {"hr": "cn=personal,ou=groups,dc=x"}
    assert app.config["SESSION_COOKIE_SECURE"] is True  # production default


def test_ldap_directory_needs_its_settings(instance):
    with pytest.raises(ConfigError) as error:
        create_app({"TESTING": True, "DIRECTORY": "ldap", "LDAP_URL": ""})
    message = str(error.value)
    assert "HOMEOFFICE_LDAP_URL is required" in message
    assert "HOMEOFFICE_LDAP_BIND_DN is required" in message


def test_unknown_directory_kind_and_role_refused(instance):
    with pytest.raises(ConfigError, match="'local' or 'ldap'"):
        create_app({"TESTING": True, "DIRECTORY": "nis"})
    with pytest.raises(ConfigError, match="ROLE_GROUPS"):
        create_app({"TESTING": True, "ROLE_GROUPS": {"superuser": "cn=x"}})


def test_user_filter_must_take_the_username(instance):
    with pytest.raises(ConfigError, match="LDAP_USER_FILTER"):
        create_app(
            {
                "TESTING": True,
                "DIRECTORY": "ldap",
                "LDAP_URL": "ldap://127.0.0.1:1",
                "LDAP_BIND_DN": "cn=x",
                "LDAP_BIND_PASSWORD": "y",
                "LDAP_USER_FILTER": "(uid=*)",
            }
        )
