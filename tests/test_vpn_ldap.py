"""LdapDirectory against a real slapd: login, lookup, paging, group writes, account
expiry, passwords, outages.

SECURITY.md items 1 (no blank password reaches a bind), 2 (escaping in filters and
DNs), 3 (passwords only over TLS), 4 (timeouts, directory down), 5 (paged reads),
6 (minimal service rights) and 7 (passwords never logged).
The fixtures ``slapd`` and ``slapd_server`` come from ``tests/servers/slapd.py`` through
``tests/conftest.py``.
"""

from __future__ import annotations

import calendar
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import ldap3
import pytest
from ldap3.core.exceptions import LDAPInsufficientAccessRightsResult
from ldap3.utils.dn import parse_dn

from tests.servers import free_port
from tests.servers.slapd import (
    EXPIRY_ATTRIBUTE,
    EXPIRY_OBJECT_CLASS,
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
from vpn.ldap import (
    LdapDirectory,
    ad_account_expires_value,
    ad_password_value,
    last_day_from_ad,
    last_day_from_generalized,
    last_day_from_shadow,
    person_dn,
    shadow_expire_value,
)

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


def raw_values(server: SlapdServer, dn: str, attribute: str) -> list[bytes]:
    """An attribute's values exactly as slapd stores them, read as the admin."""
    with server.admin_connection() as admin:
        admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute])
        return list(admin.response[0]["raw_attributes"].get(attribute) or [])


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
        # no password writes where no terminal-server passwords are issued
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.modify(target, {"userPassword": [(ldap3.MODIFY_REPLACE, ["x"])]})
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.extend.standard.modify_password(user=target, new_password="Neu-Kennwort-1")
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.add(f"uid=neu,{PEOPLE_BASE}", ["inetOrgPerson"], {"cn": "Neu", "sn": "Neu"})
        with pytest.raises(LDAPInsufficientAccessRightsResult):
            conn.delete(target)


# Account expiry ---------------------------------------------------------------------------

def test_account_expiry_round_trip_with_comma_and_umlauts(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    dn = PEOPLE["jmueller"].dn  # cn=Müller\2C Jürgen,…
    assert directory.get_account_expiry(dn) is None

    directory.set_account_expiry(dn, date(2026, 3, 31))
    directory.set_account_expiry(dn, date(2026, 3, 31))

    assert directory.get_account_expiry(dn) == date(2026, 3, 31)
    # the same DN as escape_rdn spells it (\,) names the same entry
    assert directory.get_account_expiry(
        person_dn("cn", "Müller, Jürgen", PEOPLE_BASE)
    ) == date(2026, 3, 31)
    # what ldapsearch shows: days since 1970-01-01 of 2026-04-01, the first day without access
    assert raw_values(slapd, dn, "shadowExpire") == [b"20544"]

    directory.set_account_expiry(dn, date(2026, 12, 31))
    assert raw_values(slapd, dn, "shadowExpire") == [b"20819"]

    directory.set_account_expiry(dn, None)
    directory.set_account_expiry(dn, None)  # already gone: no error, no change
    assert directory.get_account_expiry(dn) is None
    assert raw_values(slapd, dn, "shadowExpire") == []
    assert directory.get_account_expiry(PEOPLE["aweiss"].dn) is None  # nobody else touched


def test_generalized_expiry_in_a_custom_attribute(slapd: SlapdServer) -> None:
    dn = PEOPLE["agroesse"].dn  # cn=Größe\2C Ängelika,…
    config = ldap_config(slapd, LDAP_EXPIRY_FORMAT="generalized",
                         LDAP_EXPIRY_ATTRIBUTE=EXPIRY_ATTRIBUTE)
    with LdapDirectory.from_config(config) as directory:
        # the entry lacks the schema's auxiliary class: a refusal, not an outage
        with pytest.raises(DirectoryError) as refused:
            directory.set_account_expiry(dn, date(2026, 3, 31))
        assert not isinstance(refused.value, DirectoryUnavailable)

        slapd.add_ldif(ldif_entry(dn, {"changetype": "modify", "add": "objectClass",
                                       "objectClass": EXPIRY_OBJECT_CLASS}))
        directory.set_account_expiry(dn, date(2026, 3, 31))
        directory.set_account_expiry(dn, date(2026, 3, 31))
        # the end of 2026-03-31 in Berlin (summer time) is 22:00 UTC
        assert raw_values(slapd, dn, EXPIRY_ATTRIBUTE) == [b"20260331220000Z"]
        assert directory.get_account_expiry(dn) == date(2026, 3, 31)

        directory.set_account_expiry(dn, date(2026, 10, 25))  # winter time again
        assert raw_values(slapd, dn, EXPIRY_ATTRIBUTE) == [b"20261025230000Z"]
        assert directory.get_account_expiry(dn) == date(2026, 10, 25)

        directory.set_account_expiry(dn, None)
        directory.set_account_expiry(dn, None)
        assert raw_values(slapd, dn, EXPIRY_ATTRIBUTE) == []
        assert directory.get_account_expiry(dn) is None


def test_expiry_of_an_unknown_entry_is_refused(directory: LdapDirectory) -> None:
    unknown = person_dn("cn", "Niemand, Nina", PEOPLE_BASE)
    for call in (lambda: directory.get_account_expiry(unknown),
                 lambda: directory.set_account_expiry(unknown, date(2026, 3, 31)),
                 lambda: directory.set_account_expiry(unknown, None)):
        with pytest.raises(DirectoryError) as refused:
            call()
        assert not isinstance(refused.value, DirectoryUnavailable)


@pytest.mark.parametrize(
    ("last_day", "value"),
    [(date(1970, 1, 1), "1"), (date(2026, 3, 31), "20544"), (date(2026, 12, 31), "20819")],
)
def test_shadow_expire_is_the_first_day_without_access(last_day: date, value: str) -> None:
    # shadow-utils and pam_unix: expired when days-since-1970 >= shadowExpire
    assert shadow_expire_value(last_day) == value
    assert last_day_from_shadow(value) == last_day


def test_shadow_never_values() -> None:
    assert last_day_from_shadow("-1") is None
    assert last_day_from_shadow("0") is None  # shadow-utils and sssd read 0 as "never"
    with pytest.raises(ValueError):
        shadow_expire_value(date(1969, 12, 31))  # would be 0: "never"


def _ticks(moment: datetime) -> str:
    """100-ns intervals since 1601 by a second route: the Unix epoch is 116444736000000000."""
    return str(116_444_736_000_000_000 + calendar.timegm(moment.utctimetuple()) * 10_000_000)


@pytest.mark.parametrize(
    ("last_day", "expires_utc"),
    [
        (date(2026, 1, 15), datetime(2026, 1, 15, 23, 0, tzinfo=UTC)),  # winter: UTC+1
        (date(2026, 7, 15), datetime(2026, 7, 15, 22, 0, tzinfo=UTC)),  # summer: UTC+2
        # the night the clocks go forward (2026-03-29, 02:00 → 03:00)
        (date(2026, 3, 28), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
        (date(2026, 3, 29), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
        # the night the clocks go back (2026-10-25, 03:00 → 02:00)
        (date(2026, 10, 24), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),
        (date(2026, 10, 25), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
        (date(2026, 12, 31), datetime(2026, 12, 31, 23, 0, tzinfo=UTC)),
    ],
)
def test_ad_account_expires_is_the_start_of_the_next_day_in_berlin(
    last_day: date, expires_utc: datetime
) -> None:
    value = ad_account_expires_value(last_day)

    assert value == _ticks(expires_utc)
    assert last_day_from_ad(value) == last_day


def test_ad_account_expires_never_and_odd_values() -> None:
    assert ad_account_expires_value(None) == "0"
    assert last_day_from_ad("0") is None
    assert last_day_from_ad("9223372036854775807") is None
    # set elsewhere to a moment within a day: that day is the last one with access
    assert last_day_from_ad(_ticks(datetime(2026, 6, 30, 12, 0, tzinfo=UTC))) == date(2026, 6, 30)
    with pytest.raises(ValueError):
        last_day_from_ad("-5")


@pytest.mark.parametrize(
    "value",
    ["20260331220000Z", "20260401000000+0200", "20260331220000.0Z", "202603312200Z",
     "20260401010000+0300"],
)
def test_generalized_time_spellings(value: str) -> None:
    assert last_day_from_generalized(value) == date(2026, 3, 31)


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


def test_expiry_and_password_writes_when_the_directory_is_down(
    password_slapd: SlapdServer,
) -> None:
    dn = PEOPLE["jmueller"].dn
    config = ldap_config(password_slapd, LDAP_URL=password_slapd.ldaps_url,
                         LDAP_CA_FILE=str(password_slapd.ca_file))
    with LdapDirectory.from_config(config) as directory:
        assert directory.get_account_expiry(dn) is None  # service connection open
        password_slapd.stop()

        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            directory.get_account_expiry(dn)
        with pytest.raises(DirectoryUnavailable):
            directory.set_account_expiry(dn, date(2026, 3, 31))
        with pytest.raises(DirectoryUnavailable):
            directory.set_account_expiry(dn, None)
        with pytest.raises(DirectoryUnavailable):
            directory.set_password(dn, "Neues-Kennwort-1")
        assert time.monotonic() - started < 4

    password_slapd.start()
    assert raw_values(password_slapd, dn, "shadowExpire") == []


# TLS --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """A second slapd with a certificate for 127.0.0.1 from its own throwaway CA.

    Only this one lets the service account write people's passwords: the seeded server
    keeps the rights of a site that issues no terminal-server passwords, and a password
    is only ever written over TLS. Its plain ldap:// port accepts the write as well, so
    the refusal over ldap:// is shown to be the client's.
    """
    require_slapd()
    server = SlapdServer(tmp_path_factory.mktemp("slapd-tls"), tls=True, password_writes=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def password_slapd(tls_slapd: SlapdServer) -> Iterator[SlapdServer]:
    """The TLS slapd, running at the test's start and back at the seed afterwards."""
    tls_slapd.start()
    yield tls_slapd
    if not tls_slapd.at_seed():
        tls_slapd.reset()


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


# Passwords --------------------------------------------------------------------------------

NEW_PASSWORD = "Neues-Kennwort-für-Größe-7"


def tls_config(server: SlapdServer, how: str, **overrides: Any) -> dict[str, Any]:
    """Settings for ``server`` over LDAPS or StartTLS, trusting its test CA."""
    if how == "ldaps":
        overrides.setdefault("LDAP_URL", server.ldaps_url)
    else:
        overrides.setdefault("LDAP_START_TLS", True)
    return ldap_config(server, LDAP_CA_FILE=str(server.ca_file), **overrides)


@pytest.mark.parametrize("mode", ["rfc3062", "ad"])
def test_no_password_over_plain_ldap(password_slapd: SlapdServer, mode: str) -> None:
    dn = PEOPLE["jmueller"].dn
    stored = raw_values(password_slapd, dn, "userPassword")
    sent_before = password_slapd.operations("Modify", "Extended")

    config = ldap_config(password_slapd, LDAP_PASSWORD_MODE=mode)  # plain ldap://
    with CountingDirectory.from_config(config) as directory:
        with pytest.raises(DirectoryError, match="unencrypted") as refused:
            directory.set_password(dn, NEW_PASSWORD)
        assert directory.binds == []  # not even a connection

    assert not isinstance(refused.value, DirectoryUnavailable)
    assert NEW_PASSWORD not in str(refused.value)
    assert password_slapd.operations("Modify", "Extended") == sent_before
    assert raw_values(password_slapd, dn, "userPassword") == stored
    with LdapDirectory.from_config(config) as directory:
        assert directory.authenticate("jmueller", PEOPLE["jmueller"].password) is not None


@pytest.mark.parametrize("how", ["ldaps", "start_tls"])
def test_set_password_over_tls(
    password_slapd: SlapdServer, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dn = PEOPLE["jmueller"].dn  # comma and umlauts in the DN

    with LdapDirectory.from_config(tls_config(password_slapd, how)) as directory:
        directory.set_password(dn, NEW_PASSWORD)

        assert directory.authenticate("jmueller", NEW_PASSWORD) is not None
        assert directory.authenticate("jmueller", PEOPLE["jmueller"].password) is None
        assert directory.authenticate("aweiss", PEOPLE["aweiss"].password) is not None

    # the server hashed it; the clear text is nowhere in the directory or the log
    [stored] = raw_values(password_slapd, dn, "userPassword")
    assert stored.startswith(b"{SSHA}")
    assert NEW_PASSWORD not in caplog.text
    assert any("password set" in record.getMessage() for record in caplog.records)


def test_refused_password_write_reveals_no_password(
    password_slapd: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LdapDirectory.from_config(tls_config(password_slapd, "ldaps")) as directory:
        # outside ou=people the service account may not write passwords
        with pytest.raises(DirectoryError) as refused:
            directory.set_password(SERVICE_DN, NEW_PASSWORD)

    assert "insufficientAccessRights" in str(refused.value)
    assert NEW_PASSWORD not in str(refused.value)
    assert NEW_PASSWORD not in caplog.text


@pytest.mark.parametrize("password", ["", " ", "\t\n", None])
def test_blank_password_is_never_written(password_slapd: SlapdServer, password: Any) -> None:
    dn = PEOPLE["jmueller"].dn
    stored = raw_values(password_slapd, dn, "userPassword")

    with CountingDirectory.from_config(tls_config(password_slapd, "ldaps")) as directory:
        with pytest.raises(DirectoryError, match="blank"):
            directory.set_password(dn, password)
        assert directory.binds == []

    assert raw_values(password_slapd, dn, "userPassword") == stored


def test_service_account_writes_but_cannot_read_passwords(password_slapd: SlapdServer) -> None:
    target = PEOPLE["tbauer"].dn
    with service_connection(password_slapd) as conn:
        conn.search(target, "(objectClass=*)", ldap3.BASE, attributes=["userPassword"])
        assert conn.response[0]["raw_attributes"]["userPassword"] == []  # asked for, no values
        conn.search(target, "(userPassword=*)", ldap3.BASE, attributes=["1.1"])
        assert conn.response == []  # not even its presence can be tested
        conn.extend.standard.modify_password(user=target, new_password=NEW_PASSWORD)
        with pytest.raises(LDAPInsufficientAccessRightsResult):  # not the service's own
            conn.extend.standard.modify_password(user=SERVICE_DN, new_password=NEW_PASSWORD)


def test_ad_password_value() -> None:
    """unicodePwd: the password in double quotes, UTF-16-LE, no byte order mark."""
    assert ad_password_value("Größe-1") == b'"\x00G\x00r\x00\xf6\x00\xdf\x00e\x00-\x001\x00"\x00'
    assert ad_password_value("Größe-1").decode("utf-16-le") == '"Größe-1"'


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
        ({"LDAP_EXPIRY_FORMAT": "unix"}, "LDAP_EXPIRY_FORMAT"),
        ({"LDAP_EXPIRY_FORMAT": "generalized"}, "LDAP_EXPIRY_ATTRIBUTE"),
        ({"LDAP_EXPIRY_ATTRIBUTE": "shadowExpire)(x=*"}, "LDAP_EXPIRY_ATTRIBUTE"),
        ({"LDAP_PASSWORD_MODE": "clear"}, "LDAP_PASSWORD_MODE"),
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


def test_expiry_and_password_defaults(slapd_server: SlapdServer) -> None:
    settings = LdapDirectory.from_config(ldap_config(slapd_server)).settings
    assert (settings.expiry_format, settings.expiry_attribute) == ("shadow", "shadowExpire")
    assert settings.password_mode == "rfc3062"
    ad = LdapDirectory.from_config(ldap_config(slapd_server, LDAP_EXPIRY_FORMAT="ad")).settings
    assert ad.expiry_attribute == "accountExpires"
    # empty values, as the app's config or the environment may give them, mean the default
    empty = ldap_config(slapd_server, LDAP_EXPIRY_FORMAT="", LDAP_EXPIRY_ATTRIBUTE="",
                        LDAP_PASSWORD_MODE="")
    assert LdapDirectory.from_config(empty).settings == settings


def test_person_dn_escapes_the_value() -> None:
    assert person_dn("cn", "Müller, Jürgen", PEOPLE_BASE) == f"cn=Müller\\, Jürgen,{PEOPLE_BASE}"
    assert person_dn("uid", "a+b=c", PEOPLE_BASE) == f"uid=a\\+b\\=c,{PEOPLE_BASE}"
    with pytest.raises(ValueError):
        person_dn("cn", "", PEOPLE_BASE)
