"""Mail: queue in the outbox inside the action's transaction, deliver after the commit.

A failing mail server therefore never undoes a decision; undelivered messages stay in
the outbox with their error and are tried again later (``deliver_pending``).
"""

from __future__ import annotations

import base64
import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import NamedTuple

from flask import Flask, current_app, g, has_request_context, render_template
from flask_babel import force_locale
from sqlmodel import Session, col, or_, select

from homeoffice.db import utcnow
from homeoffice.notifications.models import OutboxMessage
from homeoffice.people.models import Person

log = logging.getLogger(__name__)

#: a link in a text body; the HTML part turns it into an anchor
_URL = re.compile(r"https?://[^\s<>\"']+")
#: punctuation that ends a sentence after a link rather than belonging to it
_URL_TRAILER = ".,;:!?)"


class Piece(NamedTuple):
    """A run of text in a line of a mail, or a link (``url`` set)."""

    text: str
    url: str | None = None


def paragraphs(text: str) -> list[list[list[Piece]]]:
    """The text body as paragraphs (blank-line separated) of lines of pieces, so the HTML
    layout can render ``<p>``, ``<br>`` and links while Jinja escapes every piece."""
    result = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = []
        for line in block.strip().splitlines():
            pieces: list[Piece] = []
            position = 0
            for match in _URL.finditer(line):
                url = match.group().rstrip(_URL_TRAILER)
                if match.start() > position:
                    pieces.append(Piece(line[position : match.start()]))
                pieces.append(Piece(url, url))
                position = match.start() + len(url)
            if position < len(line):
                pieces.append(Piece(line[position:]))
            lines.append(pieces)
        if lines:
            result.append(lines)
    return result


def queue(session: Session, *, to: Person, event: str, template: str, **context) -> None:
    """Render ``templates/mail/<template>.txt`` and its HTML alternative in the person's
    language and put the message in the outbox. People without a mail address are skipped.

    The HTML part is ``mail/<template>.html`` when that exists, else ``mail/_layout.html``
    showing the text body's paragraphs.
    """
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
        html = render_template(
            [f"mail/{template}.html", "mail/_layout.html"],
            person=to,
            subject=subject,
            lang=locale.replace("_", "-"),
            paragraphs=paragraphs(text),
            **context,
        )
    session.add(
        OutboxMessage(
            to_address=to.mail,
            subject=subject,
            body_text=text,
            body_html=html,
            locale=locale,
            event=event,
        )
    )
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


def build_email(config: Mapping, message: OutboxMessage) -> EmailMessage:
    """The outbox message as a MIME mail: text, and HTML as the alternative."""
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = _message_id(config, message)
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    # After the content: setting it clears (or moves into the parts) all Content-* headers.
    locale = message.locale or config["BABEL_DEFAULT_LOCALE"]
    email["Content-Language"] = locale.replace("_", "-")
    return email


def _message_id(config: Mapping, message: OutboxMessage) -> str:
    """The same id on every attempt: when a server accepted a message but the
    confirmation was lost, the retry is a duplicate that mail clients can recognise."""
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "homeoffice.invalid"
    return f"<outbox.{message.id}.{int(message.created_at.timestamp())}@{domain}>"


class _Transport:
    """One SMTP session for a batch of messages, opened on first use.

    When connecting, STARTTLS or the login fails, every further message of the batch
    fails with the same error at once: an unreachable server then costs one timeout, not
    one per message, and a wrong password one login attempt, not one per message.
    """

    def __init__(self, config: Mapping) -> None:
        self._config = config
        self._smtp: smtplib.SMTP | None = None
        self._broken: Exception | None = None

    def __enter__(self) -> _Transport:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            self._smtp.close()

    def send(self, message: OutboxMessage) -> None:
        if self._config["MAIL_BACKEND"] == "log":
            log.info("Mail to %s: %s\n%s", message.to_address, message.subject, message.body_text)
            return
        # A header the mail library refuses (a line break in a name) is this message's
        # failure, not the batch's: it must not stop the messages after it.
        email = build_email(self._config, message)
        if self._broken is not None:
            raise self._broken
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self._broken = exc
                raise
        try:
            self._smtp.send_message(email)
        except (OSError, smtplib.SMTPServerDisconnected):
            # The session is gone; the next message opens a new one.
            self._smtp.close()
            self._smtp = None
            raise

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        smtp = smtplib.SMTP(
            config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT"]
        )
        try:
            if config["SMTP_STARTTLS"]:
                # Only the configured CA when one is given (internal CA, tests).
                context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
                smtp.starttls(context=context)
            if config["SMTP_USER"]:
                _login(smtp, config["SMTP_USER"], config["SMTP_PASSWORD"])
        except BaseException:
            smtp.close()
            raise
        return smtp


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """Log in; a password with umlauts goes as UTF-8 in AUTH PLAIN (RFC 4616), which
    ``smtplib.login`` cannot send (it encodes ASCII only)."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPException("the server offers no AUTH PLAIN for a non-ASCII password")
    blob = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, response = smtp.docmd("AUTH", f"PLAIN {blob}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def _describe(exc: BaseException, config: Mapping) -> str:
    """The error for the outbox and the log, without the password even should a server
    echo it back."""
    text = f"{type(exc).__name__}: {exc}"
    password = config.get("SMTP_PASSWORD")
    if password:
        text = text.replace(password, "***")
    return text


def deliver_pending(
    session: Session, config: Mapping, *, limit: int = 100, now: datetime | None = None
) -> tuple[int, int]:
    """Send due messages; returns (sent, failed). Failures back off exponentially.

    ``now`` decides which messages are due (tests pass a later time instead of waiting).
    On PostgreSQL the due rows are locked and rows another deliverer holds are skipped,
    so the job and the delivery after a request never send the same message twice.
    """
    now = now or utcnow()
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
        .with_for_update(skip_locked=True)
    ).all()
    sent = failed = 0
    with _Transport(config) as transport:
        for message in due:
            message.attempts += 1
            try:
                transport.send(message)
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                failed += 1
                error = _describe(exc, config)
                message.last_error = error[:1000]
                message.next_attempt_at = now + timedelta(minutes=2**message.attempts)
                log.warning("Mail %s to %s not sent: %s", message.id, message.to_address, error)
            else:
                sent += 1
                message.sent_at = utcnow()
                message.last_error = None
            session.flush()
    return sent, failed
