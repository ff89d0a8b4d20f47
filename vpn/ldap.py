"""The directory over LDAP (OpenLDAP or Active Directory), with ldap3.

``LdapDirectory`` implements ``vpn.directory.Directory``. It is built from a config
mapping (``LdapDirectory.from_config(app.config)``), lives for one request or one job
and is then ``close()``d: ldap3 connections are not shared between threads, so there is
no module-level connection (SECURITY.md item 4).

Everything that differs between directories is configuration: the attribute names
(``LDAP_ATTRIBUTES``), the filters and the bases. Values that go into a filter are
escaped with ``escape_filter_chars``, values that go into a DN with ``escape_rdn``
(SECURITY.md item 2), and a blank password never reaches a bind (item 1). Passwords
are written only over TLS with certificate checking, whatever the directory (item 3).

An account's expiry follows the agreement's last day: ``LDAP_EXPIRY_FORMAT`` says how
the directory spells "access ends after this day" (``shadowExpire``, Active Directory's
``accountExpires`` or a GeneralizedTime attribute of the site's own schema).

Failures keep their meaning: a wrong password is ``None``, a server that cannot be
reached or does not answer in time is ``DirectoryUnavailable``, and a refused operation
or a bad configuration is ``DirectoryError``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import ldap3
from ldap3 import (
    AUTO_BIND_NONE,
    BASE,
    FIRST,
    MODIFY_ADD,
    MODIFY_DELETE,
    MODIFY_REPLACE,
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
from ldap3.protocol.formatters.formatters import format_time
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from vpn.directory import (
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    NoSuchEntry,
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

#: ``LDAP_EXPIRY_FORMAT`` → the attribute used when ``LDAP_EXPIRY_ATTRIBUTE`` is not set
#: (``generalized`` has no standard attribute and needs one configured).
EXPIRY_FORMATS: Mapping[str, str | None] = {
    "shadow": "shadowExpire",
    "ad": "accountExpires",
    "generalized": None,
}
#: ``LDAP_PASSWORD_MODE``: RFC 3062 Password Modify (OpenLDAP and most others) or
#: Active Directory's ``unicodePwd``.
PASSWORD_MODES = ("rfc3062", "ad")

#: Where a "day" of an agreement begins and ends: the administration's local time.
EXPIRY_TIMEZONE = ZoneInfo("Europe/Berlin")
_UNIX_EPOCH = date(1970, 1, 1)
_AD_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
#: ``accountExpires`` values meaning "never": 0 (what "Never" in the AD tools and
#: Clear-ADAccountExpiration write) and 0x7FFFFFFFFFFFFFFF (set when an account is made).
AD_NEVER = (0, 0x7FFFFFFFFFFFFFFF)
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+")


def person_dn(rdn_attr: str, value: str, base: str) -> str:
    """The DN of an entry named ``rdn_attr=value`` below ``base``, the value escaped.

    Every DN this application constructs goes through here, so a name such as
    ``Müller, Jürgen`` cannot add an RDN of its own (SECURITY.md item 2).
    """
    if not value:
        raise ValueError("an RDN value must not be empty")
    return f"{rdn_attr}={escape_rdn(value)},{base}"


def expiry_moment(last_day: date) -> datetime:
    """The moment access ends: the start of the day after ``last_day`` in Berlin, as UTC.

    Midnight always exists in Berlin (the clocks change at 02:00 / 03:00), so the moment
    is unambiguous; on the days the clocks change it is 22:00 or 23:00 UTC of ``last_day``.
    """
    if last_day >= date.max:
        raise ValueError("last_day is out of range")
    next_day = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=EXPIRY_TIMEZONE)
    return next_day.astimezone(UTC)


def last_day_before(moment: datetime) -> date:
    """The last day (in Berlin) on which an account that expires at ``moment`` is usable."""
    return (moment - timedelta(microseconds=1)).astimezone(EXPIRY_TIMEZONE).date()


def shadow_expire_value(last_day: date) -> str:
    """``shadowExpire`` for an account usable through ``last_day``: the day after it.

    shadowExpire counts days since 1970-01-01 (UTC), and shadow-utils, Linux-PAM's
    pam_unix and current sssd treat the account as expired *on* that day
    (``today >= shadowExpire``), so the value is the first day without access. Access
    then ends at midnight UTC (01:00 or 02:00 in Berlin). Older consumers that test
    ``today > shadowExpire`` (OpenSSH without PAM, sssd before 2.x) allow one day more.
    """
    days = (last_day - _UNIX_EPOCH).days + 1
    if days < 1:
        # 0 and negative values mean "never expires" to shadow-utils and sssd.
        raise ValueError("last_day must not be before 1970-01-01")
    return str(days)


def last_day_from_shadow(value: str) -> date | None:
    """The last usable day for a ``shadowExpire`` value; None for "never" (-1, or 0)."""
    days = int(value)
    if days <= 0:
        # -1 means never; 0 "should not be used" (shadow(5)) and is never written here.
        return None
    try:
        return _UNIX_EPOCH + timedelta(days=days - 1)
    except OverflowError:  # beyond the year 9999: never, for our purposes
        return None


def ad_account_expires_value(last_day: date | None) -> str:
    """``accountExpires`` for an account usable through ``last_day`` (None: never).

    The value is the moment the account expires, in 100-ns intervals since 1601-01-01
    UTC: the start of the next day in Berlin, as the AD tools' "End of" date does.
    """
    if last_day is None:
        return "0"
    delta = expiry_moment(last_day) - _AD_EPOCH
    return str((delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10)


def last_day_from_ad(value: str) -> date | None:
    """The last usable day for an ``accountExpires`` value; None for "never"."""
    ticks = int(value)
    if ticks in AD_NEVER:
        return None
    if ticks < 0:
        raise ValueError("accountExpires must not be negative")
    try:
        moment = _AD_EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:  # beyond the year 9999
        return None
    return last_day_before(moment)


def generalized_time_value(last_day: date) -> str:
    """A GeneralizedTime (UTC) for the moment access ends, e.g. ``20260331220000Z``."""
    return expiry_moment(last_day).strftime("%Y%m%d%H%M%SZ")


def last_day_from_generalized(value: str) -> date:
    """The last usable day for a GeneralizedTime expiry moment (any RFC 4517 spelling)."""
    moment = format_time(value.encode())
    if not isinstance(moment, datetime):
        raise ValueError("not a GeneralizedTime")
    return last_day_before(moment)


def ad_password_value(password: str) -> bytes:
    """``unicodePwd`` as Active Directory takes it: the password in quotes, UTF-16-LE."""
    return f'"{password}"'.encode("utf-16-le")


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


def _attribute(attributes: Mapping[str, Any] | None, name: str) -> Any:
    """An attribute's values by name, whatever case the server spelled the name in."""
    for key, values in (attributes or {}).items():
        if key.lower() == name.lower():
            return values
    return None


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
    if isinstance(exc, ldap_errors.LDAPNoSuchObjectResult):
        return NoSuchEntry(f"{action}: no such entry: {exc.message or exc.description}".strip())
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
    expiry_attribute: str = "shadowExpire"
    expiry_format: str = "shadow"
    password_mode: str = "rfc3062"

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

        expiry_format = str(config.get("LDAP_EXPIRY_FORMAT") or cls.expiry_format).strip()
        if expiry_format not in EXPIRY_FORMATS:
            raise DirectoryError(
                f"LDAP_EXPIRY_FORMAT: {expiry_format!r} is not one of {', '.join(EXPIRY_FORMATS)}"
            )
        expiry_attribute = str(config.get("LDAP_EXPIRY_ATTRIBUTE") or "").strip() or (
            EXPIRY_FORMATS[expiry_format]
        )
        if not expiry_attribute:
            raise DirectoryError(
                "LDAP_EXPIRY_ATTRIBUTE must name the GeneralizedTime attribute "
                "for LDAP_EXPIRY_FORMAT 'generalized'"
            )
        if not _ATTRIBUTE_NAME.fullmatch(expiry_attribute):
            raise DirectoryError(
                f"LDAP_EXPIRY_ATTRIBUTE: {expiry_attribute!r} is not an attribute name"
            )
        password_mode = str(config.get("LDAP_PASSWORD_MODE") or cls.password_mode).strip()
        if password_mode not in PASSWORD_MODES:
            raise DirectoryError(
                f"LDAP_PASSWORD_MODE: {password_mode!r} is not one of {', '.join(PASSWORD_MODES)}"
            )

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
            expiry_attribute=expiry_attribute,
            expiry_format=expiry_format,
            password_mode=password_mode,
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

    def add_to_group(self, group_dn: str, person_dn: str) -> bool:
        """Make a person a member of a group; False (and no change) when already one."""
        with self._operation("add to group"):
            try:
                self._service_connection().modify(group_dn, {"member": [(MODIFY_ADD, [person_dn])]})
            except (ldap_errors.LDAPAttributeOrValueExistsResult,
                    ldap_errors.LDAPEntryAlreadyExistsResult):
                # OpenLDAP answers attributeOrValueExists, Active Directory
                # entryAlreadyExists for a member that is already there.
                return False
        log.info("Directory: added %s to %s", person_dn, group_dn)
        return True

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

    # Account expiry ------------------------------------------------------------------

    def _read_expiry(self, person_dn: str) -> str | None:
        attribute = self.settings.expiry_attribute
        entries = self._search(person_dn, "(objectClass=*)", [attribute], scope=BASE)
        if not entries:
            raise DirectoryError(f"read account expiry: no entry {person_dn}")
        return _first(_attribute(entries[0].get("attributes"), attribute))

    def get_account_expiry(self, person_dn: str) -> date | None:
        """The last day the account may be used, or None when it does not expire.

        ``person_dn`` is used as given: it comes from the directory, never from input.
        """
        with self._operation("read account expiry"):
            value = self._read_expiry(person_dn)
        if value is None:
            return None
        parse = {
            "shadow": last_day_from_shadow,
            "ad": last_day_from_ad,
            "generalized": last_day_from_generalized,
        }[self.settings.expiry_format]
        try:
            return parse(value)
        except ValueError as exc:
            raise DirectoryError(
                f"read account expiry: {self.settings.expiry_attribute} of {person_dn} holds "
                f"{value!r}, not a {self.settings.expiry_format} expiry"
            ) from exc

    def set_account_expiry(self, person_dn: str, last_day: date | None) -> None:
        """Let the account expire after ``last_day`` (None: never); idempotent.

        None removes the attribute (``shadow``, ``generalized``; removing an absent one
        is no change) or writes 0 to ``accountExpires`` (``ad``). ``person_dn`` is used
        as given: it comes from the directory, never from input.
        """
        value: str | None
        if self.settings.expiry_format == "ad":
            value = ad_account_expires_value(last_day)
        elif last_day is None:
            value = None
        elif self.settings.expiry_format == "shadow":
            value = shadow_expire_value(last_day)
        else:
            value = generalized_time_value(last_day)
        attribute = self.settings.expiry_attribute
        with self._operation("set account expiry"):
            connection = self._service_connection()
            if value is not None:
                connection.modify(person_dn, {attribute: [(MODIFY_REPLACE, [value])]})
            else:
                try:
                    connection.modify(person_dn, {attribute: [(MODIFY_DELETE, [])]})
                except ldap_errors.LDAPNoSuchAttributeResult:
                    return
                except ldap_errors.LDAPUnwillingToPerformResult:
                    # as in remove_from_group: look before calling it a refusal
                    if self._read_expiry(person_dn) is None:
                        return
                    raise
        log.info("Directory: account %s expires after %s", person_dn, last_day or "never")

    # Passwords -----------------------------------------------------------------------

    def set_password(self, person_dn: str, password: str) -> None:
        """Write an initial password (the terminal-server credential).

        Refused before any network traffic over a connection without TLS (SECURITY.md
        item 3, for every directory, not only Active Directory) and for a blank
        password. ``LDAP_PASSWORD_MODE`` ``rfc3062`` uses the Password Modify extended
        operation, so the server hashes the password by its own policy; ``ad`` replaces
        ``unicodePwd``. The password is never logged nor part of an error message.
        """
        if not self.transport_encrypted:
            raise DirectoryError(
                "refusing to write a password over an unencrypted connection: "
                "use ldaps:// URLs or LDAP_START_TLS"
            )
        if is_blank(password):
            raise DirectoryError("refusing to write a blank password")
        with self._operation("set password"):
            connection = self._service_connection()
            if not (connection.server.ssl or connection.tls_started):
                raise DirectoryError(
                    "refusing to write a password over an unencrypted connection"
                )
            if self.settings.password_mode == "ad":
                connection.modify(
                    person_dn, {"unicodePwd": [(MODIFY_REPLACE, [ad_password_value(password)])]}
                )
            else:
                connection.extend.standard.modify_password(user=person_dn, new_password=password)
        log.info("Directory: password set for %s", person_dn)

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

