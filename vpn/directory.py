"""The directory interface every part of homeoffice talks to.

Login, the directory sync and (later) access issuance all use this one interface, so
that the local directory kept in the database and a real OpenLDAP / Active Directory
behave the same to their callers. Implementations: ``vpn.ldap.LdapDirectory`` (ldap3)
and ``homeoffice.directory.local.LocalDirectory`` (database tables).

Failures are kept apart on purpose: a wrong password is ``None`` from
``authenticate``; an unreachable or timing-out server is ``DirectoryUnavailable``; a
refused operation (no rights, no such entry) is ``DirectoryError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


class DirectoryError(Exception):
    """The directory refused an operation (no rights, no such entry, bad configuration)."""


class DirectoryUnavailable(DirectoryError):
    """The directory could not be reached or did not answer in time."""


class NoSuchEntry(DirectoryError):
    """The entry the operation names does not exist (e.g. the account was deleted)."""


@dataclass(frozen=True)
class DirectoryPerson:
    """A person as the directory describes them, already mapped to our field names."""

    #: login name (``uid`` on OpenLDAP, ``sAMAccountName`` on Active Directory)
    username: str
    #: the entry's distinguished name, exactly as the directory returns it
    dn: str
    display_name: str
    mail: str | None = None
    #: the organisational unit's name (``departmentNumber`` / ``department``)
    unit: str | None = None
    #: DN of the person's manager, if the directory keeps one
    manager_dn: str | None = None
    employee_number: str | None = None
    #: DNs of the groups the person is a member of (filled by ``authenticate``
    #: and ``find_person``; may be empty in bulk listings)
    groups: frozenset[str] = field(default_factory=frozenset)


def is_blank(password: str | None) -> bool:
    """True for a password that must never reach a bind.

    An empty password makes an LDAP simple bind anonymous, which succeeds on many
    servers (SECURITY.md item 1), so it is refused before any network traffic.
    """
    return password is None or password.strip() == ""


class Directory(Protocol):
    """What homeoffice needs from a directory. Instances live for one request or job."""

    def authenticate(self, username: str, password: str) -> DirectoryPerson | None:
        """Check a password. ``None`` for an unknown user or a wrong or blank password.

        Raises ``DirectoryUnavailable`` when the server cannot be reached.
        """

    def find_person(self, username: str) -> DirectoryPerson | None:
        """Look a person up by login name, groups included; ``None`` if not found."""

    def iter_people(self) -> Iterator[DirectoryPerson]:
        """Every person below the user base, read page by page."""

    def members_of(self, group_dn: str) -> set[str]:
        """DNs of the direct members of a group (empty set for an unknown group)."""

    def add_to_group(self, group_dn: str, person_dn: str) -> bool:
        """Make a person a member of a group: True if added, False if already a member
        (no change), so a caller knows what to undo without reading the whole group."""

    def remove_from_group(self, group_dn: str, person_dn: str) -> None:
        """Remove a person from a group; no-op when not a member."""

    def get_account_expiry(self, person_dn: str) -> date | None:
        """The last day the account may be used, or None when it does not expire."""

    def set_account_expiry(self, person_dn: str, last_day: date | None) -> None:
        """Let the account expire after ``last_day`` (None: never).

        Access must end with the agreement, so the account's expiry follows the
        agreement's last day (``shadowExpire`` or a configured attribute on OpenLDAP,
        ``accountExpires`` on Active Directory).
        """

    def set_password(self, person_dn: str, password: str) -> None:
        """Write an initial password. Refused (DirectoryError) over an unencrypted
        connection: a password never crosses the network in clear."""

    def check(self) -> tuple[bool, str]:
        """Test the connection and the service account: ``(ok, message)``."""

    def close(self) -> None:
        """Release any connection held by this instance."""


def _unescape_dn_value(value: str) -> str:
    """Undo RFC 4514 escapes (``\\,`` and ``\\2C``, including UTF-8 byte escapes)."""
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and re.fullmatch(r"[0-9a-fA-F]{2}", value[i + 1 : i + 3]):
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        elif char == "\\" and i + 1 < len(value):
            out.extend(value[i + 1].encode())
            i += 2
        else:
            out.extend(char.encode())
            i += 1
    return out.decode("utf-8", errors="replace")


def normalize_dn(dn: str) -> str:
    """A DN in one canonical spelling, for comparing DNs from different sources.

    Directories return the same DN with different case, spacing and escaping
    (``CN=Müller\\, Jürgen, OU=people`` vs ``cn=müller\\2C Jürgen,ou=people``); group
    membership and manager links are matched on this form.
    """
    from ldap3.utils.dn import escape_rdn, parse_dn

    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except Exception:  # noqa: BLE001 - an unparsable DN is compared as plain text
        return dn.strip().lower()
    return ",".join(
        f"{attr.strip().lower()}={escape_rdn(_unescape_dn_value(value.strip()).lower())}"
        for attr, value, _sep in parts
    )
