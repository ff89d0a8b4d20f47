"""Settings: defaults, then ``instance/config.py``, then ``HOMEOFFICE_*`` variables.

Every setting can be given as an environment variable with the ``HOMEOFFICE_`` prefix;
Flask parses the value as JSON when it can (``HOMEOFFICE_LDAP_TIMEOUT=3``,
``HOMEOFFICE_ROLE_GROUPS='{"hr": "cn=hr,ou=groups,dc=example,dc=org"}'``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

#: the placeholder that must never sign a production session cookie
INSECURE_SECRET_KEY = "dev-insecure-change-me"

ROLE_NAMES = ("hr", "it", "admin", "facility")

DEFAULT_BASE_DN = "dc=musterstadt,dc=de"


class DefaultConfig:
    """The embedded defaults: SQLite in the instance folder and the local directory."""

    SECRET_KEY = INSECURE_SECRET_KEY
    #: SQLAlchemy URL; empty means a SQLite file in the instance folder
    DATABASE_URL = ""
    #: ``local`` (users and groups kept in the database) or ``ldap`` (OpenLDAP / AD)
    DIRECTORY = "local"

    LDAP_URL = ""
    LDAP_BIND_DN = ""
    LDAP_BIND_PASSWORD = ""
    LDAP_USER_BASE = f"ou=people,{DEFAULT_BASE_DN}"
    LDAP_USER_FILTER = "(uid={username})"
    LDAP_PEOPLE_FILTER = "(objectClass=inetOrgPerson)"
    LDAP_GROUP_BASE = f"ou=groups,{DEFAULT_BASE_DN}"
    LDAP_GROUP_FILTER = "(member={dn})"
    LDAP_ATTRIBUTES = {
        "username": "uid",
        "display_name": "cn",
        "mail": "mail",
        "unit": "departmentNumber",
        "manager": "manager",
        "employee_number": "employeeNumber",
    }
    LDAP_TIMEOUT = 5
    LDAP_CA_FILE = ""
    LDAP_START_TLS = False
    LDAP_PAGE_SIZE = 500
    #: how the account's access expiry is written: "shadow" (shadowExpire, days since
    #: 1970), "ad" (accountExpires), "generalized" (GeneralizedTime in a custom attribute)
    LDAP_EXPIRY_FORMAT = "shadow"
    #: the attribute that holds it; empty: shadowExpire, or accountExpires for "ad"
    LDAP_EXPIRY_ATTRIBUTE = ""
    #: "rfc3062" (Password Modify operation, OpenLDAP) or "ad" (unicodePwd)
    LDAP_PASSWORD_MODE = "rfc3062"

    #: role → group DN; members of the group hold the role
    ROLE_GROUPS = {
        "hr": f"cn=homeoffice-hr,ou=groups,{DEFAULT_BASE_DN}",
        "it": f"cn=homeoffice-it,ou=groups,{DEFAULT_BASE_DN}",
        "admin": f"cn=homeoffice-admin,ou=groups,{DEFAULT_BASE_DN}",
        "facility": f"cn=homeoffice-facility,ou=groups,{DEFAULT_BASE_DN}",
    }

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    LANGUAGES = ("de", "en")

    SESSION_COOKIE_NAME = "homeoffice_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Secure cookies outside debug/testing unless explicitly turned off
    SESSION_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    #: a session ends after this many minutes without a request ...
    SESSION_IDLE_MINUTES = 30
    #: ... and after this many hours whatever happens
    SESSION_MAX_HOURS = 10
    #: actions such as issuing credentials ask for a login not older than this
    FRESH_LOGIN_MINUTES = 10

    #: failed logins allowed per (account, address) and per address in the window
    LOGIN_FAILURES_PER_ACCOUNT = 5
    LOGIN_FAILURES_PER_ADDRESS = 20
    LOGIN_FAILURE_WINDOW_MINUTES = 15

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 5 * 1024 * 1024
    BOOTSTRAP_SERVE_LOCAL = True
    #: send HSTS; on by default outside debug/testing
    HSTS: bool | None = None
    #: number of proxies in front of the service whose X-Forwarded-* headers to trust
    PROXY_COUNT = 0

    PAGE_SIZE = 50

    #: the service's address as people reach it; links in mail sent by jobs use it
    BASE_URL = "http://127.0.0.1:5000"
    #: "log" prints mail to the log (the demo); "smtp" sends it
    MAIL_BACKEND = "log"
    MAIL_FROM = "homeoffice@musterstadt.example"
    SMTP_HOST = "localhost"
    SMTP_PORT = 587
    SMTP_STARTTLS = True
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_TIMEOUT = 10
    #: a CA bundle (PEM) that alone is trusted for the mail server's STARTTLS certificate,
    #: for an internal CA or a test server; None trusts the system's certificate store
    SMTP_CA_FILE: str | None = None
    #: a message that failed this often stays in the outbox for an administrator
    MAIL_MAX_ATTEMPTS = 8
    #: deliver queued mail right after the request that queued it (besides the job)
    MAIL_SEND_AFTER_REQUEST = True

    #: where the eligibility rule files live (default: policies/rules in the checkout)
    POLICY_DIRECTORY = ""

    #: kinds of remote access IT issues: "groups" (VPN and terminal-server groups plus
    #: account expiry), "terminal_server_secret", "certificate", "wireguard"
    ACCESS_KINDS = ["groups", "terminal_server_secret", "certificate", "wireguard"]
    VPN_GROUP_DN = f"cn=vpn-users,ou=groups,{DEFAULT_BASE_DN}"
    TERMINAL_SERVER_GROUP_DN = f"cn=terminal-server-users,ou=groups,{DEFAULT_BASE_DN}"
    #: members of those groups the reconciliation never removes (e.g. the placeholder
    #: entry an OpenLDAP groupOfNames needs, or accounts managed by hand)
    ACCESS_GROUP_KEEP: list[str] = []
    #: "enrollment": a one-time enrollment code (only its hash is kept); "password": an
    #: initial password written to the person's directory account (needs LDAPS/StartTLS)
    TERMINAL_SERVER_SECRET = "enrollment"
    #: password of the internal CA's key; empty: derived from SECRET_KEY
    CA_KEY_PASSWORD = ""
    CA_NAME = "Musterstadt Homeoffice VPN CA"
    #: certificates of agreements without an end run out after this many days
    CERTIFICATE_MAX_DAYS = 365
    CRL_VALID_DAYS = 7
    WIREGUARD_NETWORK = "10.66.0.0/24"
    WIREGUARD_ENDPOINT = "vpn.musterstadt.example:51820"
    #: the gateway's public key (wg pubkey); empty in the demo, which generates one
    WIREGUARD_SERVER_PUBLIC_KEY = ""
    WIREGUARD_DNS = ["10.0.0.53"]

    #: federal state whose public holidays apply (holidays package code; NW = NRW)
    PRESENCE_STATE = "NW"
    #: infection control: rooms hold their infection-control capacity (usually 1)
    INFECTION_CONTROL = True
    #: how many weeks ahead the room allocation plans
    ALLOCATION_WEEKS = 4
    #: room allocations (the contact data) are deleted this many days after the day
    CONTACT_RETENTION_DAYS = 28

    #: the development server starts the scheduler inside itself (the demo only; a web
    #: worker under gunicorn refuses to start with it)
    SCHEDULER_EMBEDDED = False
    #: minutes between the runs that start and end agreements and revoke access: access
    #: never outlives an agreement by more than this (a divisor of 60)
    ACCESS_JOB_MINUTES = 15
    #: a failed nightly or weekly job is tried again this often, after 5, 10, 20 … minutes
    JOB_RETRIES = 3
    JOB_RETRY_MINUTES = 5
    #: /health warns when a job's last runs failed this many times in a row
    JOB_FAILURE_WARNING = 3
    #: the record of job runs is kept this many days
    JOB_RUN_RETENTION_DAYS = 90
    #: reminders go out this many days before an agreement ends
    REMINDER_DAYS = [30, 7]
    #: next week's plan is mailed on this weekday (mon … sun) at this local time
    WEEKLY_PLAN_DAY = "fri"
    WEEKLY_PLAN_TIME = "12:00"
    #: health details of agreements ended (or requests closed) this many days ago are erased
    HEALTH_RETENTION_DAYS = 180
    #: API tokens run out at the latest this many days after they are made
    API_TOKEN_MAX_DAYS = 365
    #: the status report shows groups smaller than this as "< n" (and hides what would
    #: let them be worked out)
    REPORT_MIN_CELL = 5

    #: seconds a webhook receiver has to connect and answer before the attempt fails
    WEBHOOK_TIMEOUT = 5
    #: a delivery that failed this often stays in the webhook's log as failed
    WEBHOOK_MAX_ATTEMPTS = 10
    #: allow http:// webhook addresses (tests, internal networks); otherwise https only
    WEBHOOK_ALLOW_HTTP = False


class ConfigError(RuntimeError):
    """A required setting is missing or unsafe; the service refuses to start."""


def load(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill ``app.config`` in the documented order and check it."""
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("HOMEOFFICE")
    if test_config:
        app.config.from_mapping(test_config)
    _derive(app)
    check(app)


def _derive(app: Flask) -> None:
    config = app.config
    if not config["DATABASE_URL"]:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "homeoffice.db")
        config["DATABASE_URL"] = f"sqlite:///{path}"
    relaxed = config["DEBUG"] or config["TESTING"]
    if config["SESSION_COOKIE_SECURE"] is None:
        config["SESSION_COOKIE_SECURE"] = not relaxed
    config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    if config["HSTS"] is None:
        config["HSTS"] = not relaxed
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=config["SESSION_MAX_HOURS"])


def check(app: Flask) -> None:
    """Refuse to start with a clear message instead of failing on the first request."""
    config = app.config
    problems: list[str] = []
    relaxed = config["DEBUG"] or config["TESTING"]
    secret = config.get("SECRET_KEY") or ""
    if not relaxed and (secret == INSECURE_SECRET_KEY or len(secret) < 16):
        problems.append(
            "HOMEOFFICE_SECRET_KEY is missing, the insecure default, or shorter than 16 "
            "characters; set a long random value, e.g. "
            '`python -c "import secrets; print(secrets.token_hex(32))"`'
        )
    if config["DIRECTORY"] not in ("local", "ldap"):
        problems.append(
            f"HOMEOFFICE_DIRECTORY must be 'local' or 'ldap', not {config['DIRECTORY']!r}"
        )
    if config["DIRECTORY"] == "ldap":
        for key in ("LDAP_URL", "LDAP_BIND_DN", "LDAP_BIND_PASSWORD", "LDAP_USER_BASE"):
            if not config.get(key):
                problems.append(f"HOMEOFFICE_{key} is required when HOMEOFFICE_DIRECTORY=ldap")
        if "{username}" not in config["LDAP_USER_FILTER"]:
            problems.append("HOMEOFFICE_LDAP_USER_FILTER must contain {username}")
        if config["LDAP_CA_FILE"] and not os.path.isfile(config["LDAP_CA_FILE"]):
            problems.append(f"HOMEOFFICE_LDAP_CA_FILE {config['LDAP_CA_FILE']!r} does not exist")
        url = config.get("LDAP_URL") or ""
        if url and not relaxed and url.startswith("ldap://") and not config["LDAP_START_TLS"]:
            log.warning(
                "The directory is reached over plain ldap:// without StartTLS; passwords of "
                "users logging in cross the network in clear. Use ldaps:// in production."
            )
    attributes = config.get("LDAP_ATTRIBUTES")
    if not isinstance(attributes, dict) or "username" not in attributes:
        problems.append(
            "HOMEOFFICE_LDAP_ATTRIBUTES must be a mapping that names at least 'username'"
        )
    role_groups = config.get("ROLE_GROUPS")
    if not isinstance(role_groups, dict) or set(role_groups) - set(ROLE_NAMES):
        problems.append(
            "HOMEOFFICE_ROLE_GROUPS must map roles (" + ", ".join(ROLE_NAMES) + ") to group DNs"
        )
    unknown_kinds = set(config["ACCESS_KINDS"]) - {
        "groups",
        "terminal_server_secret",
        "certificate",
        "wireguard",
    }
    if unknown_kinds:
        problems.append(f"HOMEOFFICE_ACCESS_KINDS has unknown kinds: {sorted(unknown_kinds)}")
    if config["TERMINAL_SERVER_SECRET"] not in ("enrollment", "password"):
        problems.append("HOMEOFFICE_TERMINAL_SERVER_SECRET must be 'enrollment' or 'password'")
    problems.extend(_schedule_problems(config))
    problems.extend(_number_problems(config))
    if config["MAIL_BACKEND"] not in ("log", "smtp"):
        problems.append("HOMEOFFICE_MAIL_BACKEND must be 'log' or 'smtp'")
    if config["SMTP_USER"] and not config["SMTP_STARTTLS"]:
        problems.append(
            "HOMEOFFICE_SMTP_USER is set but HOMEOFFICE_SMTP_STARTTLS is off: the mail "
            "password would travel in clear; turn STARTTLS on"
        )
    if config["SMTP_CA_FILE"] and not os.path.isfile(config["SMTP_CA_FILE"]):
        problems.append(f"HOMEOFFICE_SMTP_CA_FILE {config['SMTP_CA_FILE']!r} does not exist")
    for key in ("SESSION_IDLE_MINUTES", "SESSION_MAX_HOURS", "LDAP_TIMEOUT", "PAGE_SIZE"):
        value = config.get(key)
        if not isinstance(value, int | float) or value <= 0:
            problems.append(f"HOMEOFFICE_{key} must be a positive number")
    if problems:
        raise ConfigError("homeoffice cannot start:\n  - " + "\n  - ".join(problems))


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _schedule_problems(config: Mapping[str, Any]) -> list[str]:
    """Settings of the scheduled jobs that would make a schedule that cannot run."""
    problems = []
    minutes = config["ACCESS_JOB_MINUTES"]
    if not isinstance(minutes, int) or not 1 <= minutes <= 60 or 60 % minutes:
        problems.append("HOMEOFFICE_ACCESS_JOB_MINUTES must divide 60 (e.g. 5, 10, 15, 30)")
    if config["WEEKLY_PLAN_DAY"] not in WEEKDAYS:
        problems.append("HOMEOFFICE_WEEKLY_PLAN_DAY must be one of " + ", ".join(WEEKDAYS))
    try:
        hour, minute = (int(part) for part in str(config["WEEKLY_PLAN_TIME"]).split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        problems.append("HOMEOFFICE_WEEKLY_PLAN_TIME must be a time like 12:00")
    days = config["REMINDER_DAYS"]
    if not isinstance(days, list | tuple) or not all(
        isinstance(day, int) and day > 0 for day in days
    ):
        problems.append("HOMEOFFICE_REMINDER_DAYS must be a list of positive days, e.g. [30, 7]")
    return problems


#: settings that must be whole numbers of at least this
MINIMUM_NUMBERS = {
    "JOB_RETRIES": 0,
    "JOB_RETRY_MINUTES": 1,
    "JOB_FAILURE_WARNING": 1,
    "JOB_RUN_RETENTION_DAYS": 1,
    "HEALTH_RETENTION_DAYS": 1,
    "API_TOKEN_MAX_DAYS": 1,
    "WEBHOOK_TIMEOUT": 1,
    "WEBHOOK_MAX_ATTEMPTS": 1,
    # a "group" of one could be shown: the suppression needs at least 2
    "REPORT_MIN_CELL": 2,
}


def _number_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, minimum in MINIMUM_NUMBERS.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            problems.append(f"HOMEOFFICE_{key} must be a whole number of at least {minimum}")
    return problems
