"""A real SMTP server (aiosmtpd) for the mail tests: STARTTLS required, then login.

``SmtpServer`` listens on ``127.0.0.1`` on a port chosen once, presents a certificate
of a throwaway CA made at start (``ca_file``, which the app trusts via
``SMTP_CA_FILE``), refuses everything but EHLO/STARTTLS/QUIT before TLS, offers AUTH
LOGIN and PLAIN only inside TLS, accepts only ``USER``/``PASSWORD``, and keeps every
message it accepts in ``received``. ``stop()`` and a later ``start()`` use the same
port, so a test can take the server down and bring it back under the app's settings.

The fixture ``smtp_server`` in ``tests/conftest.py`` starts one per test.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port
from tests.servers.slapd import write_certificates

USER = "homeoffice-mailer"
PASSWORD = "Mail-Kennwort-für-Tests-7"


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope as the client sent it and the parsed mail."""

    mail_from: str
    rcpt_tos: list[str]
    #: the login the client authenticated with (None: it did not)
    login: str | None
    #: whether the session ran inside TLS when the message came
    tls: bool
    message: EmailMessage


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self._server._accept(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                login=login,
                tls=session.ssl is not None,
                message=message,
            )
        )
        return "250 Message accepted for delivery"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Only the fixed test account; aiosmtpd answers 535 to anything else."""
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd itself answers 235 or 535.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class SmtpServer:
    """An aiosmtpd server in a thread, in its own directory (certificates)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.ca_file, self._certificate, self._key = write_certificates(workdir)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The app settings that send mail through this server."""
        settings = {
            "MAIL_BACKEND": "smtp",
            "MAIL_FROM": "homeoffice@musterstadt.example",
            "SMTP_HOST": self.host,
            "SMTP_PORT": self.port,
            "SMTP_STARTTLS": True,
            "SMTP_USER": USER,
            "SMTP_PASSWORD": PASSWORD,
            "SMTP_CA_FILE": str(self.ca_file),
            "SMTP_TIMEOUT": 5,
        }
        settings.update(overrides)
        return settings

    def is_running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (again) on the same port; a no-op when it is running."""
        if self._controller is not None:
            return
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self._certificate, self._key)
        # A controller's event loop is closed when it stops: a new one per start.
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="mail.musterstadt.test",
            tls_context=tls,
            require_starttls=True,
            authenticator=_authenticate,
            auth_require_tls=True,
            auth_required=True,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: clients now get "connection refused" on the port."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    def messages_to(self, address: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if address in item.rcpt_tos]

    def _accept(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)
