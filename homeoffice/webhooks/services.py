"""Webhooks: registering receivers (admins only, audited), writing events into the
outbox, and delivering them signed, with retries and back-off.

``emit`` adds one delivery per active webhook subscribed to the event, in the caller's
transaction: the event exists only when the action committed, and a receiver that is
down never undoes an action. ``deliver_pending`` (the ``deliver_webhooks`` job, every
minute) POSTs due deliveries; a failure is tried again after 1, 2, 4 … minutes (at most
an hour) until WEBHOOK_MAX_ATTEMPTS, after which the delivery stays in the log as failed.
Delivery is at least once: a receiver drops repeats by ``X-Homeoffice-Delivery``.

Payloads carry ids, the person's username and employee number, dates, the decision,
the kinds of access and the asset tag: never reasons (health or other), notes, or
secrets. The webhook secret is never logged nor written to the audit log.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import ssl
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, delete, func
from sqlmodel import Session, col, or_, select

from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.people.models import ADMIN, Person
from homeoffice.refusal import Refusal
from homeoffice.webhooks import signing
from homeoffice.webhooks.models import (
    ACCESS_ISSUED,
    ACCESS_REVOKED,
    AGREEMENT_DECIDED,
    DEVICE_HANDED_OVER,
    DEVICE_RETURNED,
    ERROR_LENGTH,
    EVENT_KINDS,
    Webhook,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

#: the n-th failure waits 2ⁿ⁻¹ minutes, but never longer than this
BACKOFF_CAP_MINUTES = 60
USER_AGENT = "homeoffice-webhooks"
#: the receiver's answer is read up to this size and thrown away
RESPONSE_LIMIT = 64 * 1024
#: characters of the secret shown in lists, so people can tell secrets apart
SECRET_PREFIX_LENGTH = 6
MAX_URL_LENGTH = 2000

#: the event kinds as the pages name them
EVENT_LABELS = {
    AGREEMENT_DECIDED: _l("Agreement decided (approved or rejected)"),
    ACCESS_ISSUED: _l("Remote access issued to a person"),
    ACCESS_REVOKED: _l("Remote access taken back"),
    DEVICE_HANDED_OVER: _l("Laptop handed over"),
    DEVICE_RETURNED: _l("Laptop returned"),
}


class WebhookError(Refusal):
    """A webhook change refused."""


class NotAllowed(Exception):
    """Only administrators manage webhooks (answered as 404 for a missing webhook too)."""


# --- events ------------------------------------------------------------------------------


def _day(value) -> str | None:
    return value.isoformat() if value is not None else None


def _person(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "username": person.username,
        "employee_number": person.employee_number,
    }


def decision_payload(req, owner: Person, agreement=None) -> dict[str, Any]:
    """``agreement.decided``: the decision and the agreement's dates, never its reasons."""
    return {
        "request_id": req.id,
        "request_kind": req.kind,
        "decision": req.state,
        "decided_at": req.decided_at.isoformat() if req.decided_at else None,
        "person": _person(owner),
        "agreement": None
        if agreement is None
        else {
            "id": agreement.id,
            "state": agreement.state,
            "start_date": _day(agreement.start_date),
            "end_date": _day(agreement.end_date),
        },
    }


def access_payload(agreement, owner: Person, kinds: Iterable[str]) -> dict[str, Any]:
    """``access.issued`` / ``access.revoked``: which kinds, never a secret or a reason."""
    return {
        "agreement_id": agreement.id,
        "person": _person(owner),
        "kinds": sorted(kinds),
        "expires_on": _day(agreement.end_date),
    }


def handover_payload(handover, device, person: Person) -> dict[str, Any]:
    """``device.handed_over`` / ``device.returned``: the laptop and the dates, no notes."""
    return {
        "handover_id": handover.id,
        "agreement_id": handover.agreement_id,
        "person": _person(person),
        "device": {"id": device.id, "asset_tag": device.asset_tag, "state": device.state},
        "handed_over_on": _day(handover.handed_over_on),
        "expected_return": _day(handover.expected_return),
        "returned_on": _day(handover.returned_on),
    }


def emit(session: Session, kind: str, payload: Mapping[str, Any]) -> int:
    """Put the event into the outbox of every active webhook subscribed to ``kind``, in
    the caller's transaction; returns how many deliveries were added."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown webhook event {kind!r}")
    hooks = session.exec(select(Webhook.id, Webhook.events).where(col(Webhook.active).is_(True)))
    added = 0
    for hook_id, events in hooks:
        if kind in events.split():
            session.add(
                WebhookDelivery(
                    webhook_id=hook_id, event=kind, event_id=uuid.uuid4().hex, payload=dict(payload)
                )
            )
            added += 1
    return added


# --- registration ------------------------------------------------------------------------


def _require_admin(by: Person) -> None:
    if ADMIN not in by.role_set:
        raise NotAllowed()


def clean_url(value: str | None, config: Mapping) -> str:
    """The receiver's address, or WebhookError saying what is wrong with it."""
    url = (value or "").strip()
    if not url:
        raise WebhookError(_l("Please enter the address (URL) of the receiver."), "url")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(
            _l("The address is too long (at most %(count)s characters).", count=MAX_URL_LENGTH),
            "url",
        )
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise WebhookError(_l("The address must not contain spaces or control characters."), "url")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookError(_l("Only http:// and https:// addresses can receive webhooks."), "url")
    if scheme == "http" and not config["WEBHOOK_ALLOW_HTTP"]:
        raise WebhookError(
            _l(
                "Webhooks are only sent over HTTPS, so that nobody can read them on the way. "
                "Please enter an https:// address."
            ),
            "url",
        )
    if parts.username is not None or parts.password is not None:
        raise WebhookError(
            _l(
                "Please leave user name and password out of the address; the signature proves "
                "that a delivery comes from this service."
            ),
            "url",
        )
    try:
        port = parts.port  # None when the address names none
    except ValueError:  # not a number, or beyond 65535
        port = 0
    if port == 0:
        raise WebhookError(_l("The port in the address is not valid."), "url")
    if not parts.hostname:
        raise WebhookError(
            _l("The address needs a host name, e.g. https://fachverfahren.example/hooks."), "url"
        )
    if parts.fragment:
        raise WebhookError(_l("Please leave the part after # out of the address."), "url")
    return url


def clean_events(events: Iterable[str]) -> str:
    chosen = set(events or ())
    if not chosen:
        raise WebhookError(_l("Please choose at least one event."), "events")
    if not chosen <= set(EVENT_KINDS):
        raise WebhookError(_l("Unknown event."), "events")
    return " ".join(kind for kind in EVENT_KINDS if kind in chosen)


def _clean_name(value: str | None) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise WebhookError(_l("Please enter a name."), "name")
    if len(name) > 100:
        raise WebhookError(_l("At most 100 characters, please."), "name")
    return name


def _new_secret(config: Mapping) -> tuple[str, str, str]:
    """(secret, its encrypted form, its prefix)."""
    secret = secrets.token_urlsafe(32)
    return secret, signing.encrypt_secret(config, secret), secret[:SECRET_PREFIX_LENGTH]


def _description(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook: never the secret, only its prefix."""
    return {
        "name": webhook.name,
        "url": webhook.url,
        "events": webhook.events,
        "active": webhook.active,
        "secret_prefix": webhook.secret_prefix,
    }


def register(
    *,
    session: Session,
    by: Person,
    name: str,
    url: str,
    events: Iterable[str],
    config: Mapping,
) -> tuple[Webhook, str]:
    """A new webhook; (row, secret in clear). The secret is shown once and stored only
    encrypted."""
    _require_admin(by)
    name = _clean_name(name)
    url = clean_url(url, config)
    kinds = clean_events(events)
    secret, encrypted, prefix = _new_secret(config)
    webhook = Webhook(
        name=name,
        url=url,
        events=kinds,
        secret_encrypted=encrypted,
        secret_prefix=prefix,
        created_by_id=by.id,
    )
    session.add(webhook)
    session.flush()
    record(
        session,
        action="webhook.created",
        actor=by,
        object_type="webhook",
        object_id=webhook.id,
        after=_description(webhook),
    )
    log.info("Webhook %s registered by person %s", webhook.id, by.id)
    return webhook, secret


def rotate_secret(*, session: Session, webhook: Webhook, by: Person, config: Mapping) -> str:
    """A new secret for the webhook (the old one stops signing at once); shown once.

    Deliveries still waiting are signed with the new secret when they are sent.
    """
    _require_admin(by)
    before = webhook.secret_prefix
    secret, webhook.secret_encrypted, webhook.secret_prefix = _new_secret(config)
    session.flush()
    record(
        session,
        action="webhook.secret_rotated",
        actor=by,
        object_type="webhook",
        object_id=webhook.id,
        before={"secret_prefix": before},
        after={"secret_prefix": webhook.secret_prefix},
    )
    log.info("Webhook %s got a new secret from person %s", webhook.id, by.id)
    return secret


def set_active(*, session: Session, webhook: Webhook, by: Person, active: bool) -> bool:
    """Switch the webhook on or off; False when it already was. An inactive webhook gets
    no new events, and its waiting deliveries are kept but not sent."""
    _require_admin(by)
    if webhook.active == active:
        return False
    webhook.active = active
    session.flush()
    record(
        session,
        action="webhook.activated" if active else "webhook.deactivated",
        actor=by,
        object_type="webhook",
        object_id=webhook.id,
        before={"active": not active},
        after={"active": active},
    )
    return True


def remove(*, session: Session, webhook: Webhook, by: Person) -> None:
    """Delete the webhook and its delivery log (the audit log keeps that it existed)."""
    _require_admin(by)
    description = _description(webhook)
    webhook_id = webhook.id
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id))
    session.delete(webhook)
    session.flush()
    record(
        session,
        action="webhook.deleted",
        actor=by,
        object_type="webhook",
        object_id=webhook_id,
        before=description,
    )


def load_webhook(session: Session, webhook_id: int, by: Person, *, lock: bool = False) -> Webhook:
    _require_admin(by)
    statement = select(Webhook).where(Webhook.id == webhook_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    webhook = session.exec(statement).first()
    if webhook is None:
        raise NotAllowed()
    return webhook


# --- the pages' reading --------------------------------------------------------------------


def overview(
    session: Session, config: Mapping
) -> list[tuple[Webhook, WebhookDelivery | None, int]]:
    """Every webhook with its latest delivery and the number of failed ones (gave up),
    in three statements whatever the number of webhooks and deliveries."""
    hooks = session.exec(select(Webhook).order_by(Webhook.name, Webhook.id)).all()
    if not hooks:
        return []
    latest_ids = select(func.max(WebhookDelivery.id)).group_by(WebhookDelivery.webhook_id)
    latest = {
        delivery.webhook_id: delivery
        for delivery in session.exec(
            select(WebhookDelivery).where(col(WebhookDelivery.id).in_(latest_ids))
        )
    }
    gave_up = dict(
        session.exec(
            select(WebhookDelivery.webhook_id, func.count())
            .where(
                col(WebhookDelivery.delivered_at).is_(None),
                WebhookDelivery.attempts >= config["WEBHOOK_MAX_ATTEMPTS"],
            )
            .group_by(WebhookDelivery.webhook_id)
        ).all()
    )
    return [(hook, latest.get(hook.id), gave_up.get(hook.id, 0)) for hook in hooks]


def deliveries_of(webhook: Webhook):
    """The webhook's deliveries, newest first (a statement to paginate)."""
    return (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id)
        .order_by(col(WebhookDelivery.id).desc())
    )


def state_of(delivery: WebhookDelivery, config: Mapping) -> str:
    """The delivery's state: delivered, failed (gave up) or pending (waits to be sent)."""
    if delivery.delivered_at is not None:
        return "delivered"
    if delivery.attempts >= config["WEBHOOK_MAX_ATTEMPTS"]:
        return "failed"
    return "pending"


# --- delivery ------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: 1, 2, 4 … minutes, capped."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), BACKOFF_CAP_MINUTES))


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON body: the same bytes on every attempt."""
    created = delivery.created_at.astimezone(UTC).isoformat(timespec="seconds")
    document = {
        "event": delivery.event,
        "id": delivery.event_id,
        "created_at": created,
        "data": delivery.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float):
    """POST once; (HTTP status or None, error text or None). Redirects are not followed:
    a 3xx answer is a failure, so a signed event never travels to a second address."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme.lower() == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(RESPONSE_LIMIT)
        status = response.status
    except TimeoutError:
        return None, f"no answer within {timeout} seconds"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    return status, f"HTTP {status} {response.reason}".strip()


def _secret(webhook: Webhook, config: Mapping, cache: dict[int, str | None]) -> str | None:
    if webhook.id not in cache:
        try:
            cache[webhook.id] = signing.decrypt_secret(config, webhook.secret_encrypted)
        except signing.InvalidToken:
            cache[webhook.id] = None
    return cache[webhook.id]


def _attempt(
    delivery: WebhookDelivery,
    webhook: Webhook,
    config: Mapping,
    *,
    now: datetime,
    cache: dict[int, str | None],
) -> bool:
    """Send the delivery once and record the outcome on it; True when delivered."""
    delivery.attempts += 1
    delivery.last_attempt_at = utcnow()
    secret = _secret(webhook, config, cache)
    if secret is None:
        status, error = (
            None,
            "the secret cannot be decrypted (SECRET_KEY changed?); give the webhook a new secret",
        )
    else:
        body = body_of(delivery)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Homeoffice-Event": delivery.event,
            "X-Homeoffice-Delivery": delivery.event_id,
            "X-Homeoffice-Timestamp": timestamp,
            "X-Homeoffice-Signature": signing.sign(secret, timestamp, body),
        }
        status, error = _post(webhook.url, body, headers, config["WEBHOOK_TIMEOUT"])
    delivery.last_status = status
    if error is None:
        delivery.delivered_at, delivery.next_attempt_at, delivery.last_error = utcnow(), None, None
        return True
    if secret:
        error = error.replace(secret, "***")
    delivery.last_error = error[:ERROR_LENGTH]
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    log.warning(
        "Webhook delivery %s (%s) to webhook %s failed, attempt %s: %s",
        delivery.id,
        delivery.event,
        webhook.id,
        delivery.attempts,
        delivery.last_error,
    )
    return False


def deliver_pending(
    session: Session, config: Mapping, *, now: datetime | None = None, limit: int = 100
) -> tuple[int, int]:
    """Send the due deliveries of active webhooks, oldest first; (delivered, failed).

    ``now`` decides what is due and where the back-off counts from (tests pass a later
    time instead of waiting). On PostgreSQL the due rows are locked with SKIP LOCKED, so
    two deliverers (two scheduler processes, or the job and "send again now") never send
    one delivery twice. A webhook that cannot be reached at all (no connection, no
    answer) is not tried again in the same run: its other deliveries wait for the next
    run rather than each costing a timeout.
    """
    now = now or utcnow()
    rows = session.exec(
        select(WebhookDelivery, Webhook)
        .join(Webhook, col(Webhook.id) == WebhookDelivery.webhook_id)
        .where(
            col(WebhookDelivery.delivered_at).is_(None),
            WebhookDelivery.attempts < config["WEBHOOK_MAX_ATTEMPTS"],
            or_(
                col(WebhookDelivery.next_attempt_at).is_(None),
                col(WebhookDelivery.next_attempt_at) <= now,
            ),
            col(Webhook.active).is_(True),
        )
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    ).all()
    delivered = failed = 0
    unreachable: set[int] = set()
    cache: dict[int, str | None] = {}
    for delivery, webhook in rows:
        if webhook.id in unreachable:
            continue
        if _attempt(delivery, webhook, config, now=now, cache=cache):
            delivered += 1
        else:
            failed += 1
            if delivery.last_status is None:
                unreachable.add(webhook.id)
    # One flush after all the sending: on SQLite the first write takes the database's
    # write lock until the job commits, and web requests must not wait for receivers.
    session.flush()
    return delivered, failed


def load_delivery(session: Session, webhook: Webhook, delivery_id: int) -> WebhookDelivery | None:
    """The webhook's delivery, locked; None when it does not exist or another deliverer
    is sending it right now (PostgreSQL)."""
    return session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).first()


def send_again(
    *,
    session: Session,
    webhook: Webhook,
    delivery: WebhookDelivery,
    by: Person,
    config: Mapping,
) -> bool:
    """Try an undelivered delivery now, also one that gave up; True when delivered.

    A failure counts as an attempt as usual; a delivery that had given up stays failed.
    """
    _require_admin(by)
    if delivery.delivered_at is not None:
        raise WebhookError(_l("This event has already been delivered."))
    if not webhook.active:
        raise WebhookError(_l("The webhook is switched off. Please switch it on first."))
    ok = _attempt(delivery, webhook, config, now=utcnow(), cache={})
    session.flush()
    record(
        session,
        action="webhook.sent_again",
        actor=by,
        object_type="webhook",
        object_id=webhook.id,
        after={
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "delivered": ok,
            "status": delivery.last_status,
        },
    )
    return ok


def undelivered_counts(session: Session, webhook: Webhook, config: Mapping) -> tuple[int, int]:
    """(waiting, failed) deliveries of the webhook, in one statement."""
    limit = config["WEBHOOK_MAX_ATTEMPTS"]
    waiting, gave_up = session.exec(
        select(
            func.coalesce(func.sum(case((WebhookDelivery.attempts < limit, 1), else_=0)), 0),
            func.coalesce(func.sum(case((WebhookDelivery.attempts >= limit, 1), else_=0)), 0),
        ).where(
            WebhookDelivery.webhook_id == webhook.id, col(WebhookDelivery.delivered_at).is_(None)
        )
    ).one()
    return int(waiting), int(gave_up)
