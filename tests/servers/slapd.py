"""A real OpenLDAP server (slapd) for the tests, seeded with the Musterstadt administration.

Each ``SlapdServer`` lives in its own temporary directory (configuration, database,
pid file, password files, certificates) and listens on ``ldap://127.0.0.1:<port>`` only
(plus ``ldaps://`` with ``tls=True``), so nothing touches a system-wide configuration.
The seed is loaded offline with ``slapadd``, which also makes a reset cheap: stop, wipe
the database, load the seed again, start on the same port (about a tenth of a second).

The access rules mirror what production should grant the homeoffice service account
(SECURITY.md item 6): read everything except passwords (those only to bind), write only
``member`` of the groups under ``ou=groups`` and the expiry of people (``shadowExpire``,
or ``homeofficeAccountExpires`` from a small test schema for the GeneralizedTime format).
Writing (never reading) people's ``userPassword`` is granted only with
``password_writes=True``, as a site grants it only when it issues terminal-server
passwords. Like Active Directory, a search returns at most 1,000 entries unless it is
paged.

slapd spells the DNs it returns with hex escapes (``cn=Müller\\2C Jürgen,…``); the seed
is written in that spelling, so ``PEOPLE[...].dn`` is textually what the server answers.
DNs written later in another spelling must be compared with ``normalize_dn``.

The fixtures ``slapd_server`` (one server per session) and ``slapd`` (the same server,
running at the start of each test and back at the seed after it) are imported into
``tests/conftest.py``.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import ldap3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import free_port, unavailable

SLAPD = "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=musterstadt,dc=de"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "Admin-Kennwort-für-Tests"
PEOPLE_BASE = f"ou=people,{BASE_DN}"
GROUP_BASE = f"ou=groups,{BASE_DN}"
SERVICE_BASE = f"ou=services,{BASE_DN}"
SERVICE_DN = f"cn=homeoffice,{SERVICE_BASE}"
SERVICE_PASSWORD = "Dienstkonto-homeoffice-1"

#: The role groups homeoffice maps to its roles (role name → group DN).
ROLE_GROUPS = {
    "hr": f"cn=homeoffice-hr,{GROUP_BASE}",
    "it": f"cn=homeoffice-it,{GROUP_BASE}",
    "admin": f"cn=homeoffice-admin,{GROUP_BASE}",
    "facility": f"cn=homeoffice-facility,{GROUP_BASE}",
}
VPN_GROUP = f"cn=vpn-users,{GROUP_BASE}"
TERMINAL_SERVER_GROUP = f"cn=terminal-server-users,{GROUP_BASE}"
#: Every seeded group, role groups first.
GROUPS = (*ROLE_GROUPS.values(), VPN_GROUP, TERMINAL_SERVER_GROUP)

UNITS = ("Bürgerbüro", "Personalamt", "IT", "Bauhof")

#: The password of every person made by ``generate_people``.
GENERATED_PASSWORD = "Generiert-Kennwort-1"

#: A GeneralizedTime expiry attribute of the site's own schema (``LDAP_EXPIRY_FORMAT``
#: ``generalized``), MAY of the auxiliary class ``EXPIRY_OBJECT_CLASS``, which people
#: get only when a test adds it. OIDs below a UUID arc (2.25, ITU-T X.667) need no
#: registration.
EXPIRY_ATTRIBUTE = "homeofficeAccountExpires"
EXPIRY_OBJECT_CLASS = "homeofficeAccount"
_TEST_SCHEMA = f"""\
attributetype ( 2.25.101002653359237599445143068127091826206.1
    NAME '{EXPIRY_ATTRIBUTE}'
    DESC 'the moment the account expires'
    EQUALITY generalizedTimeMatch
    ORDERING generalizedTimeOrderingMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.24
    SINGLE-VALUE )

objectclass ( 2.25.101002653359237599445143068127091826206.2
    NAME '{EXPIRY_OBJECT_CLASS}'
    AUXILIARY
    MAY {EXPIRY_ATTRIBUTE} )
"""

#: ``LDAP_ATTRIBUTES`` for this server (the OpenLDAP inetOrgPerson names).
ATTRIBUTES = {
    "username": "uid",
    "display_name": "cn",
    "mail": "mail",
    "unit": "departmentNumber",
    "manager": "manager",
    "employee_number": "employeeNumber",
}


def _escape_rdn_value(value: str) -> str:
    """An RDN value escaped the way slapd spells DNs it returns (``Müller\\2C Jürgen``).

    slapd answers with hex escapes whatever spelling an entry was added with; writing the
    seed in that spelling keeps entry DNs and ``member`` values textually the same.
    """
    escaped = "".join(f"\\{ord(char):02X}" if char in '\\,+"<>;=' else char for char in value)
    if escaped.startswith(("#", " ")):
        escaped = f"\\{ord(escaped[0]):02X}" + escaped[1:]
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\20"
    return escaped


@dataclass(frozen=True)
class SeedPerson:
    """A person in the test directory, with the password tests log in with."""

    username: str
    password: str
    given_name: str
    surname: str
    #: the display name (``cn``); for people whose RDN is ``cn`` it is also in the DN
    cn: str
    unit: str
    employee_number: str
    #: every mail address, in the order the entry holds them
    mails: tuple[str, ...]
    #: username of the manager, ``None`` for heads of unit
    manager: str | None = None
    #: keys of ``ROLE_GROUPS`` the person belongs to
    roles: frozenset[str] = frozenset()
    #: further group DNs (``VPN_GROUP``, ``TERMINAL_SERVER_GROUP``)
    extra_groups: frozenset[str] = frozenset()
    #: the attribute that names the entry (``cn`` for the seed, ``uid`` when generated)
    rdn_attribute: str = "cn"

    @property
    def dn(self) -> str:
        value = self.cn if self.rdn_attribute == "cn" else self.username
        return f"{self.rdn_attribute}={_escape_rdn_value(value)},{PEOPLE_BASE}"

    @property
    def mail(self) -> str:
        return self.mails[0]

    @property
    def manager_dn(self) -> str | None:
        return PEOPLE[self.manager].dn if self.manager else None

    @property
    def groups(self) -> frozenset[str]:
        """DNs of every group the seed makes this person a member of."""
        return frozenset(ROLE_GROUPS[role] for role in self.roles) | self.extra_groups


def _person(
    username: str,
    given_name: str,
    surname: str,
    unit: str,
    number: int,
    *,
    cn: str | None = None,
    manager: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    password: str | None = None,
    mails: Sequence[str] = (),
) -> SeedPerson:
    return SeedPerson(
        username=username,
        password=password or f"Kennwort-{username}-1",
        given_name=given_name,
        surname=surname,
        cn=cn or f"{given_name} {surname}",
        unit=unit,
        employee_number=f"{number:05d}",
        mails=tuple(mails) or (f"{username}@musterstadt.de",),
        manager=manager,
        roles=frozenset(roles),
        extra_groups=frozenset(groups),
    )


_SEED_PEOPLE = (
    _person("mschmidt", "Maria", "Schmidt", "Bürgerbüro", 10001),
    _person(
        "jmueller", "Jürgen", "Müller", "Bürgerbüro", 10002,
        cn="Müller, Jürgen", manager="mschmidt", roles={"facility"},
        groups={VPN_GROUP, TERMINAL_SERVER_GROUP},
    ),
    _person("aweiss", "Anna", "Weiß", "Bürgerbüro", 10003, manager="mschmidt"),
    _person("pkoenig", "Petra", "König", "Personalamt", 20001, roles={"hr"}, groups={VPN_GROUP}),
    _person(
        "agroesse", "Ängelika", "Größe", "Personalamt", 20002,
        cn="Größe, Ängelika", manager="pkoenig", roles={"hr"}, groups={TERMINAL_SERVER_GROUP},
        password="Größe-Kennwort-ß",
    ),
    _person("tbauer", "Thomas", "Bauer", "Personalamt", 20003, manager="pkoenig"),
    _person(
        "sbecker", "Stefan", "Becker", "IT", 30001, roles={"it", "admin"}, groups={VPN_GROUP},
        mails=("sbecker@musterstadt.de", "it-leitung@musterstadt.de"),
    ),
    _person("lfischer", "Lena", "Fischer", "IT", 30002, manager="sbecker", roles={"it"},
            groups={VPN_GROUP}),
    _person("khoffmann", "Klaus", "Hoffmann", "Bauhof", 40001, roles={"facility"}),
    _person("fcelik", "Fatma", "Çelik", "Bauhof", 40002, manager="khoffmann"),
    _person("djaeger", "Dieter", "Jäger", "Bauhof", 40003, manager="khoffmann",
            groups={TERMINAL_SERVER_GROUP}),
)

#: The seeded staff by username.
PEOPLE: dict[str, SeedPerson] = {person.username: person for person in _SEED_PEOPLE}


def seed_members(group_dn: str) -> set[str]:
    """DNs of the seeded members of a group."""
    return {person.dn for person in PEOPLE.values() if group_dn in person.groups}


# LDIF ------------------------------------------------------------------------------------

def ssha(password: str) -> str:
    """A salted SHA-1 ``userPassword`` value, the scheme every slapd understands."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _ldif_line(attribute: str, value: str) -> str:
    """One LDIF line; values that are not plain ASCII go base64 (RFC 2849)."""
    safe = value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<"))
    if safe and not value.endswith(" "):
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode()).decode()}"


def ldif_entry(dn: str, attributes: dict[str, Any]) -> str:
    """An LDIF add record; attribute values may be a string or a list of strings."""
    lines = [_ldif_line("dn", dn)]
    for attribute, values in attributes.items():
        for value in [values] if isinstance(values, str) else values:
            lines.append(_ldif_line(attribute, value))
    return "\n".join(lines) + "\n"


def _person_entry(person: SeedPerson, password_hash: str) -> str:
    attributes: dict[str, Any] = {
        "objectClass": ["inetOrgPerson", "shadowAccount"],
        "uid": person.username,
        "cn": person.cn,
        "givenName": person.given_name,
        "sn": person.surname,
        "displayName": f"{person.given_name} {person.surname}",
        "mail": list(person.mails),
        "departmentNumber": person.unit,
        "ou": person.unit,
        "employeeNumber": person.employee_number,
        "userPassword": password_hash,
    }
    if person.manager:
        attributes["manager"] = PEOPLE[person.manager].dn
    return ldif_entry(person.dn, attributes)


@cache
def seed_ldif() -> str:
    """The whole seeded tree as LDIF (hashed once per test run)."""
    entries = [
        ldif_entry(BASE_DN, {"objectClass": ["dcObject", "organization"],
                             "dc": "musterstadt", "o": "Stadtverwaltung Musterstadt"}),
        *(
            ldif_entry(f"ou={ou},{BASE_DN}", {"objectClass": "organizationalUnit", "ou": ou})
            for ou in ("people", "groups", "services")
        ),
        ldif_entry(SERVICE_DN, {
            "objectClass": ["organizationalRole", "simpleSecurityObject"],
            "cn": "homeoffice",
            "description": "Dienstkonto der Homeoffice-Anwendung",
            "userPassword": ssha(SERVICE_PASSWORD),
        }),
        *(_person_entry(person, ssha(person.password)) for person in PEOPLE.values()),
        *(
            ldif_entry(group, {"objectClass": "groupOfNames",
                               "cn": group.split(",")[0].removeprefix("cn="),
                               "member": sorted(seed_members(group))})
            for group in GROUPS
        ),
    ]
    return "\n".join(entries)


# Only with password_writes=True, before the general userPassword rule (the first rule
# that matches decides): the service account may set people's passwords, "=w" without
# read or auth, so it can never see a hash. Needed only where homeoffice issues
# terminal-server passwords; a site that issues none leaves it out, like the seeded
# server. People still bind with their password (anonymous auth), as before.
_PASSWORD_WRITES = """\
access to dn.subtree="{people}" attrs=userPassword
    by anonymous auth
    by dn.exact="{service}" =w
    by self auth
    by * none

"""

_SLAPD_CONF = """\
{tls}
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
include {workdir}/test.schema
modulepath {modules}
moduleload back_mdb
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args

database mdb
maxsize 268435456
dbnosync
suffix "{base}"
rootdn "{admin}"
rootpw {admin_hash}
directory {workdir}/data
index objectClass eq
index uid,cn,mail eq,sub
index member eq
# Like Active Directory: at most 1,000 entries per search or page, paged searches unlimited.
limits users size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited

{password_writes}# Passwords: only usable to bind, by anybody (the service account included).
access to attrs=userPassword
    by anonymous auth
    by dn.exact="{service}" auth
    by self auth
    by * none

access to dn.subtree="{groups}" attrs=member
    by dn.exact="{service}" write
    by * none

access to dn.subtree="{people}" attrs=shadowExpire,{expiry_attribute}
    by dn.exact="{service}" write
    by self read
    by * none

access to *
    by dn.exact="{service}" read
    by self read
    by * none

# Operation counters, so a test fixture can tell whether anything was written.
database monitor
access to *
    by dn.exact="{admin}" read
    by * none
"""


# The server ------------------------------------------------------------------------------

_running: weakref.WeakSet[SlapdServer] = weakref.WeakSet()


def _die_with_parent() -> None:
    """Let the kernel end slapd when the test process dies, however it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1: (ca, certificate, key)."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("Musterstadt Test-CA", ca_key, "Musterstadt Test-CA", ca_key, True)
    server_cert = certificate("127.0.0.1", server_key, "Musterstadt Test-CA", ca_key, False)

    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    paths[2].chmod(0o600)
    return paths


def _client_env() -> dict[str, str]:
    # LDAPNOINIT: the ldap-utils read neither /etc/ldap/ldap.conf nor ~/.ldaprc.
    return {**os.environ, "LDAPNOINIT": "1"}


class SlapdServer:
    """One slapd process with its configuration and database under ``workdir``."""

    base_dn = BASE_DN
    admin_dn = ADMIN_DN
    admin_password = ADMIN_PASSWORD
    service_dn = SERVICE_DN
    service_password = SERVICE_PASSWORD
    people_base = PEOPLE_BASE
    group_base = GROUP_BASE

    def __init__(self, workdir: Path, port: int | None = None, *, tls: bool = False,
                 password_writes: bool = False) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        #: with ``tls=True``: StartTLS on ``url``, LDAPS on ``ldaps_url``, CA in ``ca_file``
        self.tls = tls
        self.ldaps_url = f"ldaps://127.0.0.1:{free_port()}" if tls else None
        self.ca_file: Path | None = None
        #: the service account may write (not read) people's ``userPassword``
        self.password_writes = password_writes
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = self.workdir / "slapd.log"
        self._admin_password_file = self.workdir / "admin.pw"
        self._configured = False
        self._paused = False
        # stopped, paused or restarted since the seed was loaded: reset without asking
        self._touched = False

    def __repr__(self) -> str:
        return f"<SlapdServer {self.url} {'running' if self.running else 'stopped'}>"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _configure(self) -> None:
        """Write slapd.conf and the admin password file, load the seed."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        tls = ""
        if self.tls:
            self.ca_file, certificate, key = write_certificates(self.workdir)
            tls = (f"TLSCACertificateFile {self.ca_file}\nTLSCertificateFile {certificate}\n"
                   f"TLSCertificateKeyFile {key}\n")
        (self.workdir / "test.schema").write_text(_TEST_SCHEMA)
        password_writes = (
            _PASSWORD_WRITES.format(people=PEOPLE_BASE, service=SERVICE_DN)
            if self.password_writes else ""
        )
        (self.workdir / "slapd.conf").write_text(_SLAPD_CONF.format(
            tls=tls, schema=SCHEMA_DIR, modules=MODULE_DIR, workdir=self.workdir, base=BASE_DN,
            admin=ADMIN_DN, admin_hash=ssha(ADMIN_PASSWORD), service=SERVICE_DN,
            groups=GROUP_BASE, people=PEOPLE_BASE, password_writes=password_writes,
            expiry_attribute=EXPIRY_ATTRIBUTE,
        ))
        self._admin_password_file.write_text(ADMIN_PASSWORD)
        self._admin_password_file.chmod(0o600)
        self._load_seed()
        self._configured = True

    def _load_seed(self) -> None:
        data = self.workdir / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(mode=0o700)
        seed = self.workdir / "seed.ldif"
        seed.write_text(seed_ldif())
        self._run(["slapadd", "-q", "-f", str(self.workdir / "slapd.conf"), "-l", str(seed)])

    def _run(self, command: list[str], stdin: str | None = None) -> None:
        result = subprocess.run(command, input=stdin.encode() if stdin is not None else None,
                                capture_output=True, env=_client_env(), timeout=60)
        if result.returncode != 0:
            raise RuntimeError(
                f"{command[0]} failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace')}"
            )

    def start(self, timeout: float = 10) -> None:
        """Start slapd (configured and seeded on first start); return once it answers."""
        if self.running:
            return
        if not self._configured:
            self._configure()
        log = self._log_path.open("ab")
        # -d 0 keeps slapd in the foreground, so this process owns it and can end it.
        urls = " ".join(f"{url}/" for url in (self.url, self.ldaps_url) if url)
        self._process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self.workdir / "slapd.conf"), "-h", urls],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        _running.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"slapd did not start on {self.url}:\n{self.log_text()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                pass
        except OSError:
            return False
        # bind as the admin and read the root DSE: no extended operation ("Who am I?"),
        # which ``at_seed`` would take for a password write
        result = subprocess.run(
            ["ldapsearch", "-x", "-H", self.url, "-D", ADMIN_DN,
             "-y", str(self._admin_password_file), "-b", "", "-s", "base", "1.1"],
            capture_output=True, env=_client_env(), timeout=5,
        )
        return result.returncode == 0

    def pause(self) -> None:
        """Freeze slapd (SIGSTOP): connections are accepted but never answered.

        That is a hanging server, the case only a receive timeout ends.
        """
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)
            self._paused = self._touched = True

    def resume(self) -> None:
        """Let a paused slapd answer again."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    def stop(self) -> None:
        """End slapd; the data stays, so ``start()`` brings the same directory back."""
        process, self._process = self._process, None
        _running.discard(self)
        self._paused = False
        self._touched = True
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a paused slapd cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def reset(self) -> None:
        """Back to exactly the seed: stop, reload the seed offline, start."""
        self.stop()
        if self._configured:
            self._load_seed()
        self.start()
        self._touched = False

    def operations(self, *kinds: str) -> int:
        """Operations of these kinds (``Modify``, ``Extended``, …) slapd completed since it
        started, refused ones included."""
        with self.admin_connection() as connection:
            connection.search("cn=Operations,cn=Monitor", "(objectClass=*)", ldap3.LEVEL,
                              attributes=["cn", "monitorOpCompleted"])
            return sum(
                int(entry.monitorOpCompleted.value or 0)
                for entry in connection.entries
                if entry.cn.value in kinds
            )

    def writes(self) -> int:
        """Write operations (add, modify, delete, rename) slapd took since it started."""
        return self.operations("Add", "Modify", "Delete", "Modrdn")

    def at_seed(self) -> bool:
        """True when the directory certainly still holds exactly the seed.

        Where passwords may be written, an extended operation (Password Modify, but also
        StartTLS or "Who am I?", which the counters do not tell apart) counts as a write.
        """
        if not (self._configured and self.running and not self._touched):
            return False
        kinds = ["Add", "Modify", "Delete", "Modrdn"]
        if self.password_writes:
            kinds.append("Extended")
        return self.operations(*kinds) == 0

    def log_text(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def add_ldif(self, text: str) -> None:
        """Apply LDIF as the admin: add records, or change records with ``changetype``."""
        self._run(
            ["ldapmodify", "-a", "-x", "-H", self.url, "-D", ADMIN_DN,
             "-y", str(self._admin_password_file)],
            stdin=text,
        )

    def admin_connection(self) -> Any:
        """An ldap3 connection bound as the admin, to look behind the code under test."""
        return ldap3.Connection(ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=5),
                                ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, receive_timeout=10,
                                raise_exceptions=True)


def _stop_all() -> None:
    for server in list(_running):
        server.stop()


atexit.register(_stop_all)


# Helpers for tests -----------------------------------------------------------------------

_GIVEN_NAMES = ("Jürgen", "Anna", "Sören", "Lena", "Björn", "Özlem", "Max", "Käthe", "Jonas",
                "Zoë", "Paul", "Maëlle", "Ali", "Günther", "Sophie", "Hans-Peter")
_SURNAMES = ("Müller", "Schmidt", "Schäfer", "Groß", "Köhler", "Weber", "Yılmaz", "Wagner",
             "Böhm", "Becker", "Fuß", "Krüger", "Nowak", "Lange", "O'Brien", "Meier")


def generate_people(
    server: SlapdServer, n: int, unit_names: Sequence[str] = UNITS
) -> list[SeedPerson]:
    """Add ``n`` generated people (uid ``gen00001`` …) in one ``ldapmodify`` run.

    Their RDN is ``uid`` (the seed uses ``cn``), about half carry umlauts in their names,
    and all share ``GENERATED_PASSWORD``, hashed once so 2,500 entries load in seconds.
    """
    password_hash = ssha(GENERATED_PASSWORD)
    people = []
    for i in range(1, n + 1):
        given = _GIVEN_NAMES[i % len(_GIVEN_NAMES)]
        surname = _SURNAMES[(i // len(_GIVEN_NAMES)) % len(_SURNAMES)]
        people.append(SeedPerson(
            username=f"gen{i:05d}", password=GENERATED_PASSWORD, given_name=given,
            surname=surname, cn=f"{surname}, {given}", unit=unit_names[i % len(unit_names)],
            employee_number=f"9{i:05d}", mails=(f"gen{i:05d}@musterstadt.de",),
            rdn_attribute="uid",
        ))
    server.add_ldif("\n".join(_person_entry(person, password_hash) for person in people))
    return people


def ldap_config(server: SlapdServer, **overrides: Any) -> dict[str, Any]:
    """The ``LDAP_*`` settings that point ``LdapDirectory`` / the app at ``server``."""
    config: dict[str, Any] = {
        "LDAP_URL": server.url,
        "LDAP_BIND_DN": server.service_dn,
        "LDAP_BIND_PASSWORD": server.service_password,
        "LDAP_USER_BASE": PEOPLE_BASE,
        "LDAP_USER_FILTER": "(uid={username})",
        "LDAP_PEOPLE_FILTER": "(objectClass=inetOrgPerson)",
        "LDAP_GROUP_BASE": GROUP_BASE,
        "LDAP_GROUP_FILTER": "(member={dn})",
        "LDAP_ATTRIBUTES": dict(ATTRIBUTES),
        "LDAP_TIMEOUT": 2,
        "LDAP_CA_FILE": None,
        "LDAP_START_TLS": False,
        "LDAP_PAGE_SIZE": 500,
    }
    config.update(overrides)
    return config


# Fixtures --------------------------------------------------------------------------------

def require_slapd() -> None:
    """Skip (or, in CI, fail) the calling test when slapd or the ldap-utils are missing."""
    missing = [tool for tool in (SLAPD, "slapadd", "ldapmodify", "ldapsearch")
               if shutil.which(tool) is None]
    if missing:
        unavailable(f"slapd not installed ({', '.join(missing)} missing): "
                    "apt-get install slapd ldap-utils")


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """One seeded slapd for the whole run. Tests that write or stop it use ``slapd``."""
    require_slapd()
    server = SlapdServer(tmp_path_factory.mktemp("slapd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slapd(slapd_server: SlapdServer) -> Iterator[SlapdServer]:
    """The session's slapd, running at the test's start and back at the seed afterwards.

    A test may stop it, pause it, write to it or load thousands of entries; after such
    a test the seed is reloaded (same port, about a tenth of a second). slapd's operation
    counters tell whether anything was written, so read-only tests cost nothing extra.
    """
    slapd_server.start()
    yield slapd_server
    if not slapd_server.at_seed():
        slapd_server.reset()
