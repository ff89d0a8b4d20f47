"""Mail: queue in the outbox inside the action's transaction, deliver after the commit.

A failing mail server therefore never undoes a decision; undelivered messages stay in
the outbox with their error and are tried again later (``deliver_pending``).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import timedelta
from email.message import EmailMessage

from flask import Flask, current_app, g, has_request_context, render_template
from flask_babel import force_locale
from sqlmodel import Session, col, or_, select

from homeoffice.db import utcnow
from homeoffice.notifications.models import OutboxMessage
from homeoffice.people.models import Person

log = logging.getLogger(__name__)


def queue(session: Session, *, to: Person, event: str, template: str, **context) -> None:
    """Render ``templates/mail/<template>.txt`` (and ``.html``) in the person's language
    and put the message in the outbox. People without a mail address are skipped."""
    if not to.mail:
        return
    locale = to.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    # Jobs and commands have no request to build links from: borrow one for BASE_URL.
    outside = (
        nullcontext()
        if has_request_context()
        else current_app.test_request_context(base_url=current_app.config["BASE_URL"])
    )
    with outside, force_locale(locale):
        subject = render_template(f"mail/{template}.subject.txt", person=to, **context).strip()
        text = render_template(f"mail/{template}.txt", person=to, **context)
    session.add(OutboxMessage(to_address=to.mail, subject=subject, body_text=text, event=event))
    if has_request_context():
        g.mail_queued = True


def init_app(app: Flask) -> None:
    """Deliver what a request queued once its response is out (and committed).

    The lifecycle job delivers whatever this misses; this only makes the demo and
    small installations prompt.
    """

    @app.after_request
    def _deliver_after_response(response):
        if (
            g.get("mail_queued")
            and response.status_code < 400
            and app.config["MAIL_SEND_AFTER_REQUEST"]
        ):
            response.call_on_close(lambda: _deliver_in_own_session(app))
        return response


def _deliver_in_own_session(app: Flask) -> None:
    from homeoffice.db import session_scope

    with app.app_context():
        try:
            with session_scope() as session:
                deliver_pending(session, app.config, limit=20)
        except Exception:  # noqa: BLE001 - the response is out; the job retries later
            log.exception("Delivering queued mail after a request failed")


def _send(config: Mapping, message: OutboxMessage) -> None:
    backend = config["MAIL_BACKEND"]
    if backend == "log":
        log.info("Mail to %s: %s\n%s", message.to_address, message.subject, message.body_text)
        return
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email.set_content(message.body_text)
    timeout = config["SMTP_TIMEOUT"]
    with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=timeout) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USER"]:
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(email)


def deliver_pending(session: Session, config: Mapping, *, limit: int = 100) -> tuple[int, int]:
    """Send due messages; returns (sent, failed). Failures back off exponentially."""
    now = utcnow()
    due = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.sent_at).is_(None),
            OutboxMessage.attempts < config["MAIL_MAX_ATTEMPTS"],
            or_(
                col(OutboxMessage.next_attempt_at).is_(None),
                OutboxMessage.next_attempt_at <= now,
            ),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    sent = failed = 0
    for message in due:
        message.attempts += 1
        try:
            _send(config, message)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            message.next_attempt_at = now + timedelta(minutes=2**message.attempts)
            log.warning("Mail %s to %s not sent: %s", message.id, message.to_address, exc)
        else:
            sent += 1
            message.sent_at = utcnow()
            message.last_error = None
        session.flush()
    return sent, failed
