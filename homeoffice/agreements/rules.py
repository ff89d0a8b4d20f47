"""The eligibility rule book of this process, re-read when its files change."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from flask import current_app
from sqlmodel import Session, select

import policies
from homeoffice.audit.models import AuditEvent
from homeoffice.audit.services import record
from homeoffice.people.models import Person

_lock = threading.Lock()


def rule_directory() -> Path:
    configured = current_app.config.get("POLICY_DIRECTORY")
    return Path(configured) if configured else Path(policies.__file__).parent / "rules"


def _stamp(directory: Path) -> str:
    """A digest of the rule files' names and contents.

    Contents rather than modification times: an edit within the file system's clock
    granularity keeps the time, and the files are a few kilobytes to read.
    """
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.toml")):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def get_rule_book() -> policies.RuleBook:
    """The loaded rule book; files changed on disk are picked up by every process.

    Each worker compares the files' digest, so a rule change reaches all workers
    without shared memory.
    """
    directory = rule_directory()
    stamp = _stamp(directory)
    cached = current_app.extensions.get("homeoffice.rule_book")
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _lock:
        book = policies.load_rule_book(directory)
        current_app.extensions["homeoffice.rule_book"] = (stamp, book)
    return book


def last_confirmed(session: Session) -> dict | None:
    """What the last audited reload recorded: {"fingerprint": …, "versions": […]}."""
    event = session.exec(
        select(AuditEvent)
        .where(AuditEvent.action == "policies.reloaded")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    ).first()
    return event.after if event else None


def reload_rule_book(*, session: Session, by: Person) -> policies.RuleBook:
    """Read the rule files now and record the change in the audit log.

    Raises ``PolicyFileError`` for a bad file; the rules in force then stay. Every
    worker picks changed files up by itself (see ``get_rule_book``); this is the
    administrator's confirmation, and the audit log holds which files were confirmed
    when, compared with the previous confirmation.
    """
    directory = rule_directory()
    book = policies.load_rule_book(directory)
    current_app.extensions["homeoffice.rule_book"] = (_stamp(directory), book)
    record(
        session,
        action="policies.reloaded",
        actor=by,
        before=last_confirmed(session),
        after={
            "fingerprint": book.fingerprint,
            "versions": [rule_set.version_string for rule_set in book.rule_sets],
        },
    )
    return book
