"""LdapDirectory against a real slapd: login, lookup, paging, group writes, outages.

SECURITY.md items 1 (no blank password reaches a bind), 2 (escaping in filters and
DNs), 4 (timeouts, directory down), 5 (paged reads) and 6 (minimal service rights).
The fixtures ``slapd`` and ``slapd_server`` come from ``tests/servers/slapd.py`` through
``tests/conftest.py``.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import ldap3
import pytest
from ldap3.core.exceptions import LDAPInsufficientAccessRightsResult
from ldap3.utils.dn import parse_dn

from tests.servers import free_port
from tests.servers.slapd import (
    GROUP_BASE,
    PEOPLE,
    PEOPLE_BASE,
    ROLE_GROUPS,
    SERVICE_DN,
    SERVICE_PASSWORD,
    TERMINAL_SERVER_GROUP,
    VPN_GROUP,
    SlapdServer,
    generate_people,
    ldap_config,
    ldif_entry,
    require_slapd,
    seed_members,
)
from vpn.directory import DirectoryError, DirectoryPerson, DirectoryUnavailable, normalize_dn
from vpn.ldap import LdapDirectory, person_dn

pytestmark = pytest.mark.ldap


def dns(values: Any) -> set[str]:
    """DNs in one spelling (slapd writes ``\\2C`` where the seed may hold ``\\,``)."""
    return {normalize_dn(value) for value in values}


class CountingDirectory(LdapDirectory):
    """Records every connection the directory opens, i.e. every bind it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binds: list[str] = []

    def _connect(self, user: str, password: str) -> ldap3.Connection:
        self.binds.append(user)
        return super()._connect(user, password)


@pytest.fixture
def directory(slapd: SlapdServer) -> Iterator[CountingDirectory]:
    with CountingDirectory.from_config(ldap_config(slapd)) as directory:
        yield directory


def service_connection(server: SlapdServer) -> ldap3.Connection:
    """A plain ldap3 connection with the service account's rights, to probe the ACL."""
    return ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE, connect_timeout=2),
        SERVICE_DN, SERVICE_PASSWORD, auto_bind=True, raise_exceptions=True, receive_timeout=5,
    )


# Login ------------------------------------------------------------------------------------

def test_login_with_comma_and_umlauts_in_the_dn(directory: LdapDirectory) -> None:
    seeded = PEOPLE["jmueller"]

    person = directory.authenticate("jmueller", seeded.password)

    assert isinstance(person, DirectoryPerson)
    assert person.username == "jmueller"
    assert person.display_name == "Müller, Jürgen"
    assert "\\2C" in person.dn or "\\," in person.dn  # the comma stays escaped
    assert normalize_dn(person.dn) == normalize_dn(seeded.dn)
    assert person.unit == "Bürgerbüro"
    assert person.mail == "jmueller@musterstadt.de"
    assert person.employee_number == "10002"
    assert normalize_dn(person.manager_dn or "") == normalize_dn(PEOPLE["mschmidt"].dn)
    assert dns(person.groups) == dns(
        {ROLE_GROUPS["facility"], VPN_GROUP, TERMINAL_SERVER_GROUP}
    )


def test_login_with_umlauts_in_name_and_password(directory: LdapDirectory) -> None:
    person = directory.authenticate("agroesse", "Größe-Kennwort-ß")

    assert person is not None
    assert person.display_name == "Größe, Ängelika"
    assert ROLE_GROUPS["hr"] in person.groups


def test_wrong_password_and_unknown_user_are_none(directory: LdapDirectory) -> None:
    assert directory.authenticate("jmueller", "falsch") is None
    assert directory.authenticate("jmueller", PEOPLE["jmueller"].password + " ") is None
    assert directory.authenticate("niemand", "Kennwort-niemand-1") is None
    # the service connection survives a refused login
    assert directory.find_person("jmueller") is not None


@pytest.mark.parametrize("password", ["", " ", "\t \n"])
def test_blank_password_sends_no_bind(
    slapd: SlapdServer, directory: CountingDirectory, password: str
) -> None:
    assert directory.authenticate("jmueller", password) is None
    assert directory.binds == []

    # With the server gone any network traffic would raise DirectoryUnavailable.
    slapd.stop()
    assert directory.authenticate("jmueller", password) is None
    assert directory.binds == []


@pytest.mark.parametrize("username", ["", "   "])
def test_blank_username_sends_no_bind(directory: CountingDirectory, username: str) -> None:
    assert directory.authenticate(username, "irgendwas") is None
    assert directory.binds == []


@pytest.mark.parametrize(
    "username",
    ["*)(uid=*", "jmueller)(|(uid=*", "*", "jmueller*", "j*r", "jmueller)(uid=jmueller",
     "jmueller\x00", "(uid=jmueller)"],
)
def test_filter_injection_in_login_name(directory: CountingDirectory, username: str) -> None:
    for password in (PEOPLE["jmueller"].password, PEOPLE["mschmidt"].password):
        assert directory.authenticate(username, password) is None
    assert directory.find_person(username) is None
    assert directory.binds == [SERVICE_DN]  # only the service account ever bound


# Reading ----------------------------------------------------------------------------------

def test_find_person(directory: LdapDirectory) -> None:
    person = directory.find_person("sbecker")

    assert person is not None
    assert person.dn == PEOPLE["sbecker"].dn
    assert person.display_name == "Stefan Becker"
    assert person.mail == "sbecker@musterstadt.de"  # first of two values
    assert person.manager_dn is None  # head of unit: attribute missing
    assert person.groups == {ROLE_GROUPS["it"], ROLE_GROUPS["admin"], VPN_GROUP}
    assert directory.find_person("niemand") is None


def test_attribute_names_come_from_the_configuration(slapd: SlapdServer) -> None:
    """Nothing assumes OpenLDAP's names: log in by mail, show displayName, unit from ou."""
    config = ldap_config(
        slapd,
        LDAP_USER_FILTER="(mail={username})",
        LDAP_ATTRIBUTES={"username": "mail", "display_name": "displayName", "unit": "ou",
                         "manager": None, "employee_number": None},
    )
    with LdapDirectory.from_config(config) as directory:
        person = directory.authenticate("jmueller@musterstadt.de", PEOPLE["jmueller"].password)

    assert person is not None
    assert person.username == "jmueller@musterstadt.de"
    assert person.display_name == "Jürgen Müller"
    assert person.unit == "Bürgerbüro"
    assert person.manager_dn is None and person.employee_number is None


def test_iter_people_reads_all_pages(slapd: SlapdServer) -> None:
    generated = generate_people(slapd, 2500, ["Bürgerbüro", "Personalamt", "IT", "Bauhof"])

    # Without paging the server stops at 1,000 entries, as Active Directory does.
    with service_connection(slapd) as plain:
        plain.search(PEOPLE_BASE, "(objectClass=inetOrgPerson)", attributes=["uid"])
        assert len(plain.entries) == 1000

    with LdapDirectory.from_config(ldap_config(slapd, LDAP_PAGE_SIZE=200)) as directory:
        people = {person.username: person for person in directory.iter_people()}

    assert len(people) == 2500 + len(PEOPLE)
    assert set(people) == {p.username for p in generated} | set(PEOPLE)
    sample = generated[1]
    assert people[sample.username].display_name == sample.cn
    assert any("ü" in person.display_name for person in people.values())
    assert normalize_dn(people[sample.username].dn) == normalize_dn(sample.dn)
    assert people["jmueller"].unit == "Bürgerbüro"


def test_members_of(directory: LdapDirectory) -> None:
    assert dns(directory.members_of(VPN_GROUP)) == dns(seed_members(VPN_GROUP))
    assert directory.members_of(f"cn=gibt-es-nicht,{GROUP_BASE}") == set()


def test_check_reports_the_service_account(directory: LdapDirectory) -> None:
    ok, message = directory.check()

    assert ok, message
    assert SERVICE_DN in message


# Writing ----------------------------------------------------------------------------------

def test_add_and_remove_are_idempotent(directory: LdapDirectory) -> None:
    tbauer = PEOPLE["tbauer"].dn

    directory.add_to_group(VPN_GROUP, tbauer)
    directory.add_to_group(VPN_GROUP, tbauer)
    assert dns(directory.members_of(VPN_GROUP)) == dns(seed_members(VPN_GROUP) | {tbauer})

    directory.remove_from_group(VPN_GROUP, tbauer)
    directory.remove_from_group(VPN_GROUP, tbauer)
    assert dns(directory.members_of(VPN_GROUP)) == dns(seed_members(VPN_GROUP))


def test_dn_with_comma_in_group_writes(directory: LdapDirectory) -> None:
    jmueller = directory.find_person("jmueller")
    assert jmueller is not None and ROLE_GROUPS["hr"] not in jmueller.groups

    directory.add_to_group(ROLE_GROUPS["hr"], jmueller.dn)  # slapd's spelling: \2C
    # the same DN spelled with ldap3's escape_rdn (\,) is recognised as the same member
    directory.add_to_group(ROLE_GROUPS["hr"], person_dn("cn", "Müller, Jürgen", PEOPLE_BASE))

    members = [normalize_dn(dn) for dn in directory.members_of(ROLE_GROUPS["hr"])]
    assert members.count(normalize_dn(jmueller.dn)) == 1
    person = directory.authenticate("jmueller", PEOPLE["jmueller"].password)
    assert person is not None and ROLE_GROUPS["hr"] in person.groups

    directory.remove_from_group(ROLE_GROUPS["hr"], person_dn("cn", "Müller, Jürgen", PEOPLE_BASE))
    assert normalize_dn(jmueller.dn) not in dns(directory.members_of(ROLE_GROUPS["hr"]))


def test_removed_role_is_gone_at_next_login(directory: LdapDirectory) -> None:
    agroesse = PEOPLE["agroesse"]
    before = directory.authenticate("agroesse", agroesse.password)
    assert before is not None and ROLE_GROUPS["hr"] in before.groups

    directory.remove_from_group(ROLE_GROUPS["hr"], before.dn)

    after = directory.authenticate("agroesse", agroesse.password)
    assert after is not None
    assert ROLE_GROUPS["hr"] not in after.groups
    assert TERMINAL_SERVER_GROUP in after.groups


def test_refused_write_is_a_directory_error(directory: LdapDirectory) -> None:
    with pytest.raises(DirectoryError) as refused:
        directory.add_to_group(f"cn=gibt-es-nicht,{GROUP_BASE}", PEOPLE["tbauer"].dn)
    assert not isinstance(refused.value, DirectoryUnavailable)

    # member of people is outside the service account's rights
    with pytest.raises(DirectoryError) as refused:
        directory.add_to_group(PEOPLE["tbauer"].dn, PEOPLE["aweiss"].dn)
    assert "insufficientAccessRights" in str(refused.value)


def test_names_written_to_the_directory_stay_one_rdn(slapd: SlapdServer) -> None:
    name = "Evil,ou=groups+cn=x"
    dn = person_dn("cn", name, PEOPLE_BASE)
    slapd.add_ldif(ldif_entry(dn, {"objectClass": ["inetOrgPerson"], "cn": name, "sn": "x",
                                   "uid": "evil"}))

    with LdapDirectory.from_config(ldap_config(slapd)) as directory:
        person = directory.find_person("evil")

    assert person is not None
    assert person.display_name == name
    assert normalize_dn(person.dn) == normalize_dn(dn)
    first, *rest = parse_dn(person.dn)
    assert first[0] == "cn"  # one RDN below ou=people, no cn=x or ou=groups of its own
    assert [(attr, value) for attr, value, _ in rest] == [
        ("ou", "people"), ("dc", "musterstadt"), ("dc", "de")
    ]


def test_service_account_has_minimal_rights(slapd: SlapdServer) -> None:
    target = PEOPLE["tbauer"].dn
    with service_connection(slapd) as conn:
        conn.search(target, "(objectClass=*)", ldap3.BASE, attributes=["*"])
        assert "userPassword" not in conn.entries[0].entry_attributes
        conn.modify(target, {"shadowExpire": [(ldap3.MODIFY_REPLACE, ["20000"])]})
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.modify(target, {"mail": [(ldap3.MODIFY_REPLACE, ["x@example.org"])]})
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.add(f"uid=neu,{PEOPLE_BASE}", ["inetOrgPerson"], {"cn": "Neu", "sn": "Neu"})
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.delete(target)


# Outages ----------------------------------------------------------------------------------

def test_directory_down(slapd: SlapdServer) -> None:
    with LdapDirectory.from_config(ldap_config(slapd)) as directory:
        assert directory.find_person("jmueller") is not None  # service connection open
        slapd.stop()

        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            directory.authenticate("jmueller", PEOPLE["jmueller"].password)
        with pytest.raises(DirectoryUnavailable):
            directory.find_person("jmueller")
        ok, message = directory.check()
        assert time.monotonic() - started < 2

    assert not ok
    assert "not reachable" in message
    assert slapd.url in message


def test_wrong_service_password_is_not_a_wrong_user_password(slapd: SlapdServer) -> None:
    config = ldap_config(slapd, LDAP_BIND_PASSWORD="falsch")
    with LdapDirectory.from_config(config) as directory:
        with pytest.raises(DirectoryError) as refused:
            directory.authenticate("jmueller", PEOPLE["jmueller"].password)
        ok, message = directory.check()

    assert not isinstance(refused.value, DirectoryUnavailable)
    assert not ok
    assert "invalidCredentials" in message


def test_hanging_server_ends_with_the_timeout(slapd: SlapdServer) -> None:
    slapd.pause()
    try:
        with LdapDirectory.from_config(ldap_config(slapd, LDAP_TIMEOUT=1)) as directory:
            started = time.monotonic()
            with pytest.raises(DirectoryUnavailable):
                directory.authenticate("jmueller", PEOPLE["jmueller"].password)
            assert time.monotonic() - started < 3
            ok, _message = directory.check()
            assert not ok
    finally:
        slapd.resume()


def test_something_else_on_the_port_is_unavailable(slapd: SlapdServer) -> None:
    """LDAP_URL pointing at a web server: a clear DirectoryUnavailable, not a KeyError."""

    class NotLdap(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(1024)
            self.request.sendall(
                b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n"
                b"date: Tue, 24 Nov 2026 00:30:32 GMT\r\nserver: not-ldap/1.0\r\n\r\n"
            )

    with socketserver.TCPServer(("127.0.0.1", 0), NotLdap) as web:
        threading.Thread(target=web.serve_forever, daemon=True).start()
        try:
            url = f"ldap://127.0.0.1:{web.server_address[1]}"
            with LdapDirectory.from_config(ldap_config(slapd, LDAP_URL=url)) as directory:
                with pytest.raises(DirectoryUnavailable, match="not LDAP"):
                    directory.authenticate("jmueller", PEOPLE["jmueller"].password)
                ok, message = directory.check()
        finally:
            web.shutdown()
    assert not ok and "not LDAP" in message


def test_restart_on_the_same_port_keeps_the_data(slapd: SlapdServer) -> None:
    with LdapDirectory.from_config(ldap_config(slapd)) as directory:
        directory.add_to_group(VPN_GROUP, PEOPLE["aweiss"].dn)
    slapd.stop()
    with LdapDirectory.from_config(ldap_config(slapd)) as directory:
        assert directory.check()[0] is False

    slapd.start()

    with LdapDirectory.from_config(ldap_config(slapd)) as directory:
        assert directory.check()[0] is True
        assert normalize_dn(PEOPLE["aweiss"].dn) in dns(directory.members_of(VPN_GROUP))
        assert directory.authenticate("aweiss", PEOPLE["aweiss"].password) is not None


def test_server_pool_skips_a_dead_server(slapd: SlapdServer) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with LdapDirectory.from_config(ldap_config(slapd, LDAP_URL=f"{dead} {slapd.url}")) as pool:
        assert pool.authenticate("jmueller", PEOPLE["jmueller"].password) is not None
        assert pool.check()[0]
    assert time.monotonic() - started < 2

    other_dead = f"ldap://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with LdapDirectory.from_config(ldap_config(slapd, LDAP_URL=f"{dead} {other_dead}")) as pool:
        with pytest.raises(DirectoryUnavailable):
            pool.authenticate("jmueller", PEOPLE["jmueller"].password)
    assert time.monotonic() - started < 2  # no pause between pool rounds


# TLS --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """A second slapd with a certificate for 127.0.0.1 from its own throwaway CA."""
    require_slapd()
    server = SlapdServer(tmp_path_factory.mktemp("slapd-tls"), tls=True)
    server.start()
    yield server
    server.stop()


def test_ldaps_and_start_tls_with_the_configured_ca(tls_slapd: SlapdServer) -> None:
    for config in (
        ldap_config(tls_slapd, LDAP_URL=tls_slapd.ldaps_url, LDAP_CA_FILE=str(tls_slapd.ca_file)),
        ldap_config(tls_slapd, LDAP_START_TLS=True, LDAP_CA_FILE=str(tls_slapd.ca_file)),
    ):
        with LdapDirectory.from_config(config) as directory:
            assert directory.transport_encrypted
            assert directory.authenticate("jmueller", PEOPLE["jmueller"].password) is not None
            assert directory.check()[0]


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "ldaps"},  # system CAs only: the test CA is not trusted
        {"url": "ldap", "LDAP_START_TLS": True},
        {"url": "ldaps-by-name", "ca": True},  # certificate is for 127.0.0.1, not localhost
    ],
)
def test_untrusted_certificate_is_refused_not_unavailable(
    tls_slapd: SlapdServer, settings: dict[str, Any]
) -> None:
    url = {
        "ldaps": tls_slapd.ldaps_url,
        "ldap": tls_slapd.url,
        "ldaps-by-name": (tls_slapd.ldaps_url or "").replace("127.0.0.1", "localhost"),
    }[settings["url"]]
    config = ldap_config(
        tls_slapd, LDAP_URL=url, LDAP_START_TLS=settings.get("LDAP_START_TLS", False),
        LDAP_CA_FILE=str(tls_slapd.ca_file) if settings.get("ca") else None,
    )
    with LdapDirectory.from_config(config) as directory:
        with pytest.raises(DirectoryError) as refused:
            directory.authenticate("jmueller", PEOPLE["jmueller"].password)
        ok, message = directory.check()

    assert not isinstance(refused.value, DirectoryUnavailable)
    assert not ok
    assert "certificate" in message


# Configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"LDAP_URL": ""}, "LDAP_URL"),
        ({"LDAP_URL": "http://dc1.example"}, "LDAP_URL"),
        ({"LDAP_BIND_PASSWORD": " "}, "LDAP_BIND_PASSWORD"),
        ({"LDAP_USER_BASE": None}, "LDAP_USER_BASE"),
        ({"LDAP_USER_FILTER": "(uid=%s)"}, "LDAP_USER_FILTER"),
        ({"LDAP_ATTRIBUTES": {"login": "uid"}}, "LDAP_ATTRIBUTES"),
        ({"LDAP_TIMEOUT": "bald"}, "LDAP_TIMEOUT"),
        ({"LDAP_CA_FILE": "/nonexistent/ca.pem"}, "LDAP_CA_FILE"),
    ],
)
def test_bad_configuration_is_refused_at_start(
    slapd_server: SlapdServer, override: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(DirectoryError, match=complaint):
        LdapDirectory.from_config(ldap_config(slapd_server, **override))


def test_transport_encryption_is_reported(slapd_server: SlapdServer) -> None:
    assert not LdapDirectory.from_config(ldap_config(slapd_server)).transport_encrypted
    ldaps = ldap_config(slapd_server, LDAP_URL="ldaps://dc1.example ldaps://dc2.example")
    assert LdapDirectory.from_config(ldaps).transport_encrypted
    start_tls = ldap_config(slapd_server, LDAP_START_TLS=True)
    assert LdapDirectory.from_config(start_tls).transport_encrypted


def test_person_dn_escapes_the_value() -> None:
    assert person_dn("cn", "Müller, Jürgen", PEOPLE_BASE) == f"cn=Müller\\, Jürgen,{PEOPLE_BASE}"
    assert person_dn("uid", "a+b=c", PEOPLE_BASE) == f"uid=a\\+b\\=c,{PEOPLE_BASE}"
    with pytest.raises(ValueError):
        person_dn("cn", "", PEOPLE_BASE)
