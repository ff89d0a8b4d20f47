"""The eligibility rule book of this process, re-read when its files change."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import current_app

import policies

_lock = threading.Lock()


def rule_directory() -> Path:
    configured = current_app.config.get("POLICY_DIRECTORY")
    return Path(configured) if configured else Path(policies.__file__).parent / "rules"


def _stamp(directory: Path) -> tuple:
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in directory.rglob("*.toml")))


def get_rule_book() -> policies.RuleBook:
    """The loaded rule book; files changed on disk are picked up by every process.

    Each worker compares the files' modification times (a few ``stat`` calls), so a
    rule change reaches all workers without shared memory.
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


def reload_rule_book() -> tuple[policies.RuleBook | None, policies.RuleBook]:
    """Load the files now (raising ``PolicyFileError`` and keeping the old book on a
    bad file); returns (previous, new)."""
    directory = rule_directory()
    previous = current_app.extensions.get("homeoffice.rule_book")
    book = policies.load_rule_book(directory)
    current_app.extensions["homeoffice.rule_book"] = (_stamp(directory), book)
    return (previous[1] if previous else None), book


__all__ = ["get_rule_book", "reload_rule_book", "rule_directory"]
