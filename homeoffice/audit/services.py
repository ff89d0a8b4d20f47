"""The one audit writer every service uses."""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request
from sqlmodel import Session

from homeoffice.audit.models import AuditEvent

log = logging.getLogger(__name__)


def neutralise(text: str | None, limit: int = 1000) -> str | None:
    """Make a value safe for one log line: CR, LF and other control characters become
    visible escapes, so nobody can forge a second audit line (SECURITY.md item 28)."""
    if text is None:
        return None
    cleaned = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text)
    )
    return cleaned[:limit]


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value, 2000)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return neutralise(str(value), 2000)


def record(
    session: Session,
    *,
    action: str,
    actor: Any = None,
    actor_name: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session; it is committed with the change it records.

    ``actor`` is a Person (or None for the system). Callers pass no secrets and no
    health details: the event is readable by admins.
    """
    address = request.remote_addr if has_request_context() else None
    event = AuditEvent(
        action=action,
        actor_id=getattr(actor, "id", None),
        actor_name=neutralise(actor_name or getattr(actor, "username", None), 200),
        object_type=object_type,
        object_id=None if object_id is None else neutralise(str(object_id), 100),
        before=_clean(before) if before is not None else None,
        after=_clean(after) if after is not None else None,
        detail=neutralise(detail),
        address=address,
    )
    session.add(event)
    log.debug("audit %s by %s on %s %s", action, event.actor_name, object_type, event.object_id)
    return event
