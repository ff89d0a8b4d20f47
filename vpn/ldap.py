"""The directory over LDAP (OpenLDAP or Active Directory), with ldap3.

``LdapDirectory`` implements ``vpn.directory.Directory``. It is built from a config
mapping (``LdapDirectory.from_config(app.config)``), lives for one request or one job
and is then ``close()``d: ldap3 connections are not shared between threads, so there is
no module-level connection (SECURITY.md item 4).

Everything that differs between directories is configuration: the attribute names
(``LDAP_ATTRIBUTES``), the filters and the bases. Values that go into a filter are
escaped with ``escape_filter_chars``, values that go into a DN with ``escape_rdn``
(SECURITY.md item 2), and a blank password never reaches a bind (item 1).

Failures keep their meaning: a wrong password is ``None``, a server that cannot be
reached or does not answer in time is ``DirectoryUnavailable``, and a refused operation
or a bad configuration is ``DirectoryError``.
"""

from __future__ import annotations

import logging
import math
import os
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ldap3
from ldap3 import (
    AUTO_BIND_NONE,
    BASE,
    FIRST,
    MODIFY_ADD,
    MODIFY_DELETE,
    NONE,
    SIMPLE,
    SUBTREE,
    SYNC,
    Connection,
    Server,
    ServerPool,
    Tls,
)
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from vpn.directory import (
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    is_blank,
    normalize_dn,
)

log = logging.getLogger(__name__)

# After one unsuccessful round over the server pool ldap3 sleeps POOLING_LOOP_TIMEOUT
# seconds (default 10) even when no further round follows; "directory down" must be
# reported within the configured timeout instead. The setting is process-wide in ldap3
# (privacyidea sets it the same way, privacyidea/privacyidea#2662).
ldap3.set_config_parameter("POOLING_LOOP_TIMEOUT", 0)

#: Our field names → directory attribute names (OpenLDAP inetOrgPerson). Active
#: Directory: sAMAccountName, displayName, mail, department, manager, employeeID.
DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    "username": "uid",
    "display_name": "cn",
    "mail": "mail",
    "unit": "departmentNumber",
    "manager": "manager",
    "employee_number": "employeeNumber",
}
_REQUIRED_FIELDS = ("username", "display_name")

#: Within one LdapDirectory, a server that did not answer is skipped for this long, so
#: a dead first server of the pool costs one connect timeout, not one per connection.
DEAD_SERVER_SKIP_SECONDS = 30


def person_dn(rdn_attr: str, value: str, base: str) -> str:
    """The DN of an entry named ``rdn_attr=value`` below ``base``, the value escaped.

    Every DN this application constructs goes through here, so a name such as
    ``Müller, Jürgen`` cannot add an RDN of its own (SECURITY.md item 2).
    """
    if not value:
        raise ValueError("an RDN value must not be empty")
    return f"{rdn_attr}={escape_rdn(value)},{base}"


def _flag(key: str, value: Any) -> bool:
    """A boolean setting that may arrive as text from the environment ("0", "false")."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise DirectoryError(f"{key}: {value!r} is neither true nor false")


def _first(values: Any) -> str | None:
    """The first value of an attribute (ldap3 gives a list, a scalar or nothing)."""
    if isinstance(values, list | tuple):
        values = values[0] if values else None
    if values is None:
        return None
    if isinstance(values, bytes):
        values = values.decode("utf-8", errors="replace")
    text = str(values)
    return text if text != "" else None


def _all(values: Any) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        values = [values]
    return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
            for v in values]


def _failure(action: str, exc: Exception) -> DirectoryError:
    """Map an ldap3 exception to ours, keeping "unreachable" and "refused" apart."""
    if isinstance(exc, ssl.SSLCertVerificationError | ldap_errors.LDAPCertificateError):
        return DirectoryError(f"{action}: the directory's TLS certificate is not trusted: {exc}")
    if isinstance(exc, ssl.SSLError):
        return DirectoryError(f"{action}: TLS with the directory failed: {exc}")
    if isinstance(
        exc,
        ldap_errors.LDAPCommunicationError
        | ldap_errors.LDAPServerPoolExhaustedError
        | ldap_errors.LDAPResponseTimeoutError
        | ldap_errors.LDAPBusyResult
        | ldap_errors.LDAPUnavailableResult
        | OSError,
    ):
        return DirectoryUnavailable(f"directory not reachable ({action}): {exc}")
    if isinstance(exc, ldap_errors.LDAPOperationResult):
        return DirectoryError(
            f"{action}: the directory refused: {exc.description} {exc.message or ''}".strip()
        )
    return DirectoryError(f"{action}: {exc}")


@dataclass(frozen=True)
class LdapSettings:
    """The ``LDAP_*`` configuration, checked once when an ``LdapDirectory`` is made."""

    urls: tuple[str, ...]
    bind_dn: str
    bind_password: str = field(repr=False)
    user_base: str
    group_base: str
    user_filter: str = "(uid={username})"
    people_filter: str = "(objectClass=inetOrgPerson)"
    group_filter: str = "(member={dn})"
    attributes: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTES))
    timeout: float = 5
    ca_file: str | None = None
    start_tls: bool = False
    page_size: int = 500

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LdapSettings:
        """Read and check the settings; a bad value is a ``DirectoryError`` naming the key.

        Checked at start-up so a misconfiguration stops the service with a clear message
        instead of failing the first login.
        """

        def required(key: str) -> str:
            value = config.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DirectoryError(f"{key} is not set")
            return value.strip()

        urls = tuple(required("LDAP_URL").split())
        for url in urls:
            if urlsplit(url).scheme.lower() not in ("ldap", "ldaps") or not urlsplit(url).hostname:
                raise DirectoryError(f"LDAP_URL: {url!r} is not an ldap:// or ldaps:// URL")

        user_filter = config.get("LDAP_USER_FILTER") or cls.user_filter
        if "{username}" not in user_filter:
            raise DirectoryError("LDAP_USER_FILTER must contain {username}")
        group_filter = config.get("LDAP_GROUP_FILTER") or cls.group_filter
        if "{dn}" not in group_filter:
            raise DirectoryError("LDAP_GROUP_FILTER must contain {dn}")

        attributes: dict[str, str | None] = dict(DEFAULT_ATTRIBUTES)
        configured = config.get("LDAP_ATTRIBUTES") or {}
        unknown = set(configured) - set(DEFAULT_ATTRIBUTES)
        if unknown:
            raise DirectoryError(f"LDAP_ATTRIBUTES: unknown fields {sorted(unknown)}")
        attributes.update({key: value or None for key, value in configured.items()})
        for key in _REQUIRED_FIELDS:
            if not attributes[key]:
                raise DirectoryError(f"LDAP_ATTRIBUTES: {key!r} needs an attribute name")

        try:
            timeout = float(config.get("LDAP_TIMEOUT") or 5)
            page_size = int(config.get("LDAP_PAGE_SIZE") or 500)
        except (TypeError, ValueError) as exc:
            raise DirectoryError(f"LDAP_TIMEOUT / LDAP_PAGE_SIZE must be numbers: {exc}") from exc
        if timeout <= 0 or page_size <= 0:
            raise DirectoryError("LDAP_TIMEOUT and LDAP_PAGE_SIZE must be positive")

        ca_file = config.get("LDAP_CA_FILE") or None
        if ca_file and not os.path.isfile(ca_file):
            raise DirectoryError(f"LDAP_CA_FILE: {ca_file} does not exist")

        # A blank service password would make the service bind anonymous.
        bind_password = config.get("LDAP_BIND_PASSWORD")
        if is_blank(bind_password):
            raise DirectoryError("LDAP_BIND_PASSWORD is not set")

        return cls(
            urls=urls,
            bind_dn=required("LDAP_BIND_DN"),
            bind_password=bind_password,
            user_base=required("LDAP_USER_BASE"),
            group_base=required("LDAP_GROUP_BASE"),
            user_filter=user_filter,
            people_filter=config.get("LDAP_PEOPLE_FILTER") or cls.people_filter,
            group_filter=group_filter,
            attributes=attributes,
            timeout=timeout,
            ca_file=ca_file,
            start_tls=_flag("LDAP_START_TLS", config.get("LDAP_START_TLS")),
            page_size=page_size,
        )

    @property
    def encrypted(self) -> bool:
        """True when every connection is TLS (ldaps:// everywhere, or StartTLS)."""
        return self.start_tls or all(url.lower().startswith("ldaps://") for url in self.urls)


class LdapDirectory:
    """The ``Directory`` over LDAP. One instance per request or job; ``close()`` it."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        # get_info=NONE: no schema read, so nothing depends on one directory's schema.
        servers = [
            Server(url, get_info=NONE, connect_timeout=settings.timeout,
                   tls=self._tls(urlsplit(url).hostname))
            for url in settings.urls
        ]
        # FIRST: the servers in the configured order; active=1: one round of checking
        # which answers, then give up; a server that failed is skipped for a while.
        self._pool = ServerPool(servers, FIRST, active=1, exhaust=DEAD_SERVER_SKIP_SECONDS)
        self._service: Connection | None = None
        self._requested = sorted({name for name in settings.attributes.values() if name})

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LdapDirectory:
        """Build from a Flask-style config mapping (``LDAP_URL``, ``LDAP_BIND_DN``, …)."""
        return cls(LdapSettings.from_config(config))

    def __enter__(self) -> LdapDirectory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LdapDirectory {' '.join(self.settings.urls)}>"

    @property
    def transport_encrypted(self) -> bool:
        """Whether passwords travel over TLS; writing secrets requires it (SECURITY item 3)."""
        return self.settings.encrypted

    # Connections ---------------------------------------------------------------------

    def _tls(self, hostname: str | None = None) -> Tls:
        """Certificate checking is always on: the configured CA, else the system's."""
        return Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.settings.ca_file,
                   sni=hostname)

    def _connect(self, user: str, password: str) -> Connection:
        """Open, secure and bind one connection: the only place connections are made.

        Raises ldap3's exceptions unchanged (callers decide what a refused bind means);
        the connection is closed again when any step fails.
        """
        connection = Connection(
            self._pool,
            user=user,
            password=password,
            authentication=SIMPLE,
            client_strategy=SYNC,
            auto_bind=AUTO_BIND_NONE,
            # ldap3 packs the receive timeout as an integer number of seconds
            receive_timeout=max(1, math.ceil(self.settings.timeout)),
            raise_exceptions=True,
            auto_referrals=False,
            read_only=False,
        )
        try:
            connection.open(read_server_info=False)
            if self.settings.start_tls:
                connection.start_tls(read_server_info=False)
            connection.bind(read_server_info=False)
        except (ldap_errors.LDAPException, OSError):
            # ldap3's own failures (some also subclass ValueError, like TLS errors)
            _close_quietly(connection)
            raise
        except (KeyError, IndexError, ValueError) as exc:
            # ldap3's decoder fails this way when something other than an LDAP server
            # answers (an HTTP proxy on the port, a wrong port in LDAP_URL).
            _close_quietly(connection)
            raise ldap_errors.LDAPUnknownResponseError(
                f"the answer from {connection.server.name} is not LDAP ({exc!r})"
            ) from exc
        except BaseException:
            _close_quietly(connection)
            raise
        return connection

    def _service_connection(self) -> Connection:
        if self._service is None or self._service.closed:
            self._service = self._connect(self.settings.bind_dn, self.settings.bind_password)
        return self._service

    @contextmanager
    def _operation(self, action: str) -> Iterator[None]:
        """Translate ldap3 failures; drop the service connection when it broke."""
        try:
            yield
        except ldap_errors.LDAPException as exc:
            failure = _failure(action, exc)
            if isinstance(failure, DirectoryUnavailable) or isinstance(
                exc, ldap_errors.LDAPInvalidCredentialsResult
            ):
                self._drop_service()
            raise failure from exc
        except OSError as exc:
            self._drop_service()
            raise DirectoryUnavailable(f"directory not reachable ({action}): {exc}") from exc

    def _drop_service(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            _close_quietly(service)

    def close(self) -> None:
        """Unbind the service connection, if one was opened."""
        self._drop_service()

    # Reading -------------------------------------------------------------------------

    def _person_filter(self, username: str) -> str:
        user = self.settings.user_filter.replace("{username}", escape_filter_chars(username))
        return f"(&{self.settings.people_filter}{user})"

    def _search(self, base: str, search_filter: str, attributes: list[str],
                scope: str = SUBTREE) -> list[dict[str, Any]]:
        connection = self._service_connection()
        connection.search(base, search_filter, search_scope=scope, attributes=attributes or [])
        entries = connection.response or []
        return [entry for entry in entries if entry.get("type") == "searchResEntry"]

    def _find_entries(self, username: str) -> list[dict[str, Any]]:
        return self._search(self.settings.user_base, self._person_filter(username),
                            self._requested)

    def _to_person(self, entry: dict[str, Any], groups: frozenset[str] = frozenset()
                   ) -> DirectoryPerson:
        names = self.settings.attributes
        values = entry.get("attributes") or {}

        def value(field_name: str) -> str | None:
            attribute = names.get(field_name)
            return _first(values.get(attribute)) if attribute else None

        username = value("username") or ""
        return DirectoryPerson(
            username=username,
            dn=entry["dn"],
            display_name=value("display_name") or username,
            mail=value("mail"),
            unit=value("unit"),
            manager_dn=value("manager"),
            employee_number=value("employee_number"),
            groups=groups,
        )

    def _groups_of(self, dn: str) -> frozenset[str]:
        group_filter = self.settings.group_filter.replace("{dn}", escape_filter_chars(dn))
        # "1.1": no attributes, the DNs are all we need
        entries = self._search(self.settings.group_base, group_filter, ["1.1"])
        return frozenset(entry["dn"] for entry in entries)

    def find_person(self, username: str) -> DirectoryPerson | None:
        """Look a person up by login name, groups included; ``None`` if not found.

        Two entries with the same login name are a directory error, not a guess.
        """
        if username is None or not username.strip():
            return None
        with self._operation("find person"):
            entries = self._find_entries(username)
            if not entries:
                return None
            if len(entries) > 1:
                raise DirectoryError(f"{len(entries)} directory entries match one login name")
            return self._to_person(entries[0], self._groups_of(entries[0]["dn"]))

    def iter_people(self) -> Iterator[DirectoryPerson]:
        """Every person below the user base (``LDAP_PEOPLE_FILTER``), page by page.

        Active Directory returns at most 1,000 entries per search, so the read is paged
        (``LDAP_PAGE_SIZE``) and never all in memory. ``groups`` stays empty here.
        """
        with self._operation("list people"):
            connection = self._service_connection()
            pages = connection.extend.standard.paged_search(
                self.settings.user_base,
                self.settings.people_filter,
                search_scope=SUBTREE,
                attributes=self._requested,
                paged_size=self.settings.page_size,
                generator=True,
            )
            for entry in pages:
                if entry.get("type") == "searchResEntry":
                    yield self._to_person(entry)

    def members_of(self, group_dn: str) -> set[str]:
        """DNs of the direct members of a group, as the directory spells them.

        An unknown group has no members. Servers spell one DN in several ways (slapd
        keeps ``member`` values as written but returns entry DNs with ``\\2C``), so
        compare with ``vpn.directory.normalize_dn``, never as text.
        """
        with self._operation("read group members"):
            try:
                entries = self._search(group_dn, "(objectClass=*)", ["member"], scope=BASE)
            except ldap_errors.LDAPNoSuchObjectResult:
                return set()
            if not entries:
                return set()
            return set(_all((entries[0].get("attributes") or {}).get("member")))

    # Login ---------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> DirectoryPerson | None:
        """Check a password; the person with their groups, or ``None``.

        ``None`` for a blank password or login name (before any network traffic: an
        empty password would be an anonymous bind that succeeds), an unknown or
        ambiguous login name, or a wrong password. The password is checked by binding
        as the person's DN on a connection of its own.
        """
        if is_blank(password) or username is None or not username.strip():
            return None
        with self._operation("look up the login name"):
            entries = self._find_entries(username)
        if len(entries) != 1:
            if entries:
                log.warning("Login refused: %d directory entries match one login name",
                            len(entries))
            return None
        entry = entries[0]
        try:
            connection = self._connect(entry["dn"], password)
        except ldap_errors.LDAPInvalidCredentialsResult:
            return None
        except (ldap_errors.LDAPException, OSError) as exc:
            raise _failure("check the password", exc) from exc
        _close_quietly(connection)
        with self._operation("read the groups"):
            return self._to_person(entry, self._groups_of(entry["dn"]))

    # Writing -------------------------------------------------------------------------

    def add_to_group(self, group_dn: str, person_dn: str) -> None:
        """Make a person a member of a group; no-op when already a member."""
        with self._operation("add to group"):
            try:
                self._service_connection().modify(group_dn, {"member": [(MODIFY_ADD, [person_dn])]})
            except (ldap_errors.LDAPAttributeOrValueExistsResult,
                    ldap_errors.LDAPEntryAlreadyExistsResult):
                # OpenLDAP answers attributeOrValueExists, Active Directory
                # entryAlreadyExists for a member that is already there.
                return
        log.info("Directory: added %s to %s", person_dn, group_dn)

    def remove_from_group(self, group_dn: str, person_dn: str) -> None:
        """Remove a person from a group; no-op when not a member."""
        with self._operation("remove from group"):
            try:
                self._service_connection().modify(
                    group_dn, {"member": [(MODIFY_DELETE, [person_dn])]}
                )
            except ldap_errors.LDAPNoSuchAttributeResult:
                return
            except ldap_errors.LDAPUnwillingToPerformResult:
                # Active Directory refuses to delete a value that is not there with
                # unwillingToPerform, which also means other refusals: look.
                if not self._is_member(group_dn, person_dn):
                    return
                raise
        log.info("Directory: removed %s from %s", person_dn, group_dn)

    def _is_member(self, group_dn: str, person_dn: str) -> bool:
        wanted = normalize_dn(person_dn)
        return any(normalize_dn(member) == wanted for member in self.members_of(group_dn))

    # Health --------------------------------------------------------------------------

    def check(self) -> tuple[bool, str]:
        """Connect and bind as the service account and read the user base: ``(ok, message)``.

        Never raises; the message says what failed, for the admin status page.
        """
        try:
            with self._operation("check"):
                connection = self._service_connection()
                try:
                    who = connection.extend.standard.who_am_i() or ""
                except ldap_errors.LDAPOperationResult:  # "Who am I?" is optional (RFC 4532)
                    who = ""
                self._search(self.settings.user_base, "(objectClass=*)", ["1.1"], scope=BASE)
        except DirectoryError as exc:
            return False, f"{exc} [{' '.join(self.settings.urls)}]"
        identity = who.removeprefix("dn:") or self.settings.bind_dn
        return True, f"connected as {identity} to {connection.server.name}"


def _close_quietly(connection: Connection) -> None:
    """Unbind, ignoring a connection that is already gone."""
    try:
        connection.unbind()
    except (ldap_errors.LDAPException, OSError):
        pass

