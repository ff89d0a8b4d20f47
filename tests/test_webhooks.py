"""Webhooks against a real HTTP receiver started by the test: signed deliveries from the
outbox, retries with back-off while the receiver fails or is down, delivery once it is
back, the admin pages, and the secret kept out of the database, the logs and the audit."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import ssl
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask_babel import gettext
from markupsafe import escape
from sqlalchemy import text
from sqlmodel import col, func, select

from homeoffice.access import services as access
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.audit.models import AuditEvent
from homeoffice.db import session_scope, utcnow
from homeoffice.devices import services as devices
from homeoffice.devices.models import Device
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import LocalDirectoryGroup
from homeoffice.jobs.runner import run_job
from homeoffice.people.models import Person
from homeoffice.webhooks import services as webhooks
from homeoffice.webhooks.models import Webhook, WebhookDelivery
from tests.agreement_helpers import decide, post_request, request_id_from
from tests.conftest import PEOPLE, both_databases, count_queries, csrf_token, make_app
from tests.servers import free_port

ALL_EVENTS = [
    "agreement.decided",
    "access.issued",
    "access.revoked",
    "device.handed_over",
    "device.returned",
]
#: employee numbers as tests/conftest.py seeds them
PEOPLE_NUMBER = {key: str(100 + len(name)) for key, (_u, name, *_rest) in PEOPLE.items()}
#: the receiver's clock may differ from ours by this much (what the README suggests)
TOLERANCE_SECONDS = 300

only_postgres = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


# --- the receiver ------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers ``status``.

    ``stop()`` closes the port (connection refused); ``start()`` opens it again on the
    same port. ``hold`` makes the answer wait until it is set (a slow receiver).
    """

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.tls = tls
        self.port = free_port()
        self.status = 200
        self.location: str | None = None
        self.requests: list[dict] = []
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hooks/homeoffice?system=personal"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            if self.hold is not None:
                self.hold.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def delivery_ids(self) -> list[str]:
        return [r["headers"]["X-Homeoffice-Delivery"] for r in self.requests]


@pytest.fixture
def receiver():
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hook_app(app):
    # The receiver speaks plain HTTP on the loopback interface.
    app.config["WEBHOOK_ALLOW_HTTP"] = True
    return app


# --- helpers -----------------------------------------------------------------------------


def verify(secret: str, request: dict) -> bool:
    """The receiver's check, as the README shows it."""
    headers, body = request["headers"], request["body"]
    timestamp = headers["X-Homeoffice-Timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["X-Homeoffice-Signature"])


def german(app, msgid: str, **values) -> str:
    """A message as a German page shows it (HTML-escaped), whether or not the catalogue
    has its translation yet: the assertion follows the catalogue."""
    with app.test_request_context(headers={"Accept-Language": "de"}):
        return str(escape(gettext(msgid, **values)))


def switch(client, auth, role: str) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    auth.login(role)


def register(client, url: str, events=ALL_EVENTS, name="Personalverwaltung"):
    """Register through the admin page (already logged in as admin); the answer page."""
    token = csrf_token(client, "/admin/webhooks/")
    return client.post(
        "/admin/webhooks/",
        data={"name": name, "url": url, "events": list(events), "csrf_token": token},
    )


def shown_secret(response) -> str:
    match = re.search(r'id="webhook-secret"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:3000]
    return match.group(1)


def new_webhook(client, auth, url: str, events=ALL_EVENTS, name="Personalverwaltung"):
    """(webhook id, secret) registered by the admin, who stays logged in."""
    if client.get("/login").status_code == 200:  # the login page redirects the logged-in
        auth.login("admin")
    response = register(client, url, events, name)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = shown_secret(response)
    match = re.search(r"/admin/webhooks/(\d+)", response.get_data(as_text=True))
    return int(match.group(1)), secret


def deliveries(app, **where) -> list[WebhookDelivery]:
    with app.app_context(), session_scope() as session:
        statement = select(WebhookDelivery).order_by(WebhookDelivery.id)
        for key, value in where.items():
            statement = statement.where(getattr(WebhookDelivery, key) == value)
        return list(session.exec(statement).all())


def deliver(app, *, now=None) -> tuple[int, int]:
    with app.app_context(), session_scope() as session:
        return webhooks.deliver_pending(session, app.config, now=now)


_occurrences = iter(range(10_000))


def run_deliver_job(app):
    run = run_job(app, "deliver_webhooks", occurrence=f"test-{next(_occurrences)}")
    assert run is not None and run.outcome == "ok", run and run.error
    return run.counts


def person(session, key: str) -> Person:
    return session.exec(select(Person).where(Person.username == PEOPLE[key][0])).one()


def active_agreement(session, owner: Person, **wants) -> Agreement:
    req = HomeOfficeRequest(
        person_id=owner.id,
        state="approved",
        reasons="health",
        health_certificate=True,
        pattern="share",
        share_percent=40,
        start_date=date.today(),
        end_date=date.today() + timedelta(days=90),
        eligible=True,
        rule_set="ordinary@1",
        **wants,
    )
    session.add(req)
    session.flush()
    agreement = Agreement(
        person_id=owner.id,
        request_id=req.id,
        state="active",
        start_date=req.start_date,
        end_date=req.end_date,
        pattern="share",
        share_percent=40,
        days_per_week=2,
        rule_set="ordinary@1",
    )
    session.add(agreement)
    session.flush()
    return agreement


def hand_over_laptop(app, key="outsider", asset_tag="NB-0001") -> int:
    """A laptop handed over through the devices service; the handover's id."""
    with app.test_request_context(), session_scope() as session:
        owner = person(session, key)
        agreement = active_agreement(session, owner, wants_laptop=True)
        device = Device(asset_tag=asset_tag, serial_number=f"S-{asset_tag}", model="T14")
        session.add(device)
        session.flush()
        handover = devices.hand_over(
            session=session,
            device_id=device.id,
            person=owner,
            agreement=agreement,
            by=person(session, "it"),
            accessories="Tasche",
            on=date.today(),
        )
        return handover.id


# --- (a) a decision, delivered and signed ------------------------------------------------


@both_databases
def test_a_decision_is_delivered_signed_and_without_health_details(
    hook_app, client, auth, receiver
):
    app = hook_app
    webhook_id, secret = new_webhook(client, auth, receiver.url, ["agreement.decided"])
    switch(client, auth, "outsider")
    request_id = request_id_from(
        post_request(
            client, reason_commute=None, commute_km=None, reason_health="y", health_certificate="y"
        )
    )
    switch(client, auth, "hr")
    assert decide(client, request_id, reason="Rückenleiden laut Attest").status_code == 302
    with app.app_context(), session_scope() as session:
        req = session.get(HomeOfficeRequest, request_id)
        assert "health" in req.reasons  # the request does hold a health reason
    (delivery,) = deliveries(app)
    assert delivery.webhook_id == webhook_id and delivery.event == "agreement.decided"
    assert receiver.requests == []  # the outbox waits for the job

    assert run_deliver_job(app) == {"delivered": 1, "failed": 0}
    (request,) = receiver.requests
    headers = request["headers"]
    assert request["path"] == "/hooks/homeoffice?system=personal"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "homeoffice-webhooks"
    assert headers["X-Homeoffice-Event"] == "agreement.decided"
    assert headers["X-Homeoffice-Delivery"] == delivery.event_id
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["X-Homeoffice-Signature"])
    assert verify(secret, request)
    assert not verify("another-secret", request)
    tampered = {**request, "body": request["body"].replace(b"approved", b"rejected")}
    assert not verify(secret, tampered)

    document = json.loads(request["body"])
    assert document["event"] == "agreement.decided" and document["id"] == delivery.event_id
    data = document["data"]
    assert data["decision"] == "approved" and data["request_id"] == request_id
    assert data["person"]["username"] == "o.weiss"
    assert data["person"]["employee_number"] == PEOPLE_NUMBER["outsider"]
    assert data["agreement"]["start_date"] == date.today().isoformat()
    raw = request["body"].decode().lower()
    for word in ("health", "reason", "attest", "rücken", "certificate"):
        assert word not in raw, word

    (stored,) = deliveries(app)
    assert stored.delivered_at is not None and stored.attempts == 1 and stored.last_status == 200
    assert run_deliver_job(app) == {"delivered": 0, "failed": 0}  # nothing twice
    assert len(receiver.requests) == 1


def test_a_rejection_is_an_event_too_without_its_reason(hook_app, client, auth, receiver):
    new_webhook(client, auth, receiver.url, ["agreement.decided"])
    switch(client, auth, "outsider")
    request_id = request_id_from(post_request(client))
    switch(client, auth, "hr")
    decide(client, request_id, decision="reject", reason="Dienstliche Gründe: Schalterdienst")
    assert run_deliver_job(hook_app)["delivered"] == 1
    data = json.loads(receiver.requests[0]["body"])["data"]
    assert data["decision"] == "rejected" and data["agreement"] is None
    assert "Schalterdienst" not in receiver.requests[0]["body"].decode()


# --- (b) the receiver fails, then accepts -------------------------------------------------


@both_databases
def test_a_failing_receiver_gets_the_delivery_again_after_the_back_off(
    hook_app, client, auth, receiver
):
    app = hook_app
    _, secret = new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    receiver.status = 500

    before = utcnow()
    assert run_deliver_job(app) == {"delivered": 0, "failed": 1}
    (delivery,) = deliveries(app)
    assert delivery.attempts == 1 and delivery.delivered_at is None
    assert delivery.last_status == 500 and delivery.last_error.startswith("HTTP 500")
    assert delivery.next_attempt_at > utcnow()
    assert (
        before + timedelta(seconds=55) < delivery.next_attempt_at < utcnow() + timedelta(seconds=65)
    )
    first = delivery.next_attempt_at

    # A run before the back-off has passed sends nothing.
    assert run_deliver_job(app) == {"delivered": 0, "failed": 0}
    assert deliver(app, now=first - timedelta(seconds=1)) == (0, 0)
    assert len(receiver.requests) == 1

    # Past it, still failing: the wait doubles.
    assert deliver(app, now=first) == (0, 1)
    (delivery,) = deliveries(app)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == first + timedelta(minutes=2)

    # The receiver is back, and the time has come: delivered exactly once.
    receiver.status = 200
    assert deliver(app, now=first + timedelta(minutes=1)) == (0, 0)
    assert deliver(app, now=delivery.next_attempt_at) == (1, 0)
    assert deliver(app, now=delivery.next_attempt_at + timedelta(hours=1)) == (0, 0)
    assert run_deliver_job(app) == {"delivered": 0, "failed": 0}
    (delivery,) = deliveries(app)
    assert delivery.delivered_at is not None and delivery.attempts == 3
    assert delivery.last_status == 200 and delivery.last_error is None
    assert len(receiver.requests) == 3
    assert set(receiver.delivery_ids()) == {delivery.event_id}  # one id for every attempt
    assert len({r["body"] for r in receiver.requests}) == 1  # the same body, too
    assert all(verify(secret, r) for r in receiver.requests)


# --- (c) the receiver is down ------------------------------------------------------------


@both_databases
def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_back(
    hook_app, client, auth, receiver
):
    app = hook_app
    new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    receiver.stop()

    assert run_deliver_job(app) == {"delivered": 0, "failed": 1}
    (delivery,) = deliveries(app)
    assert delivery.attempts == 1 and delivery.delivered_at is None
    assert delivery.last_status is None and "refused" in delivery.last_error.lower()
    assert delivery.next_attempt_at > utcnow()
    assert run_deliver_job(app) == {"delivered": 0, "failed": 0}  # still backing off

    receiver.start()
    assert deliver(app, now=delivery.next_attempt_at - timedelta(seconds=1)) == (0, 0)
    assert receiver.requests == []
    assert deliver(app, now=delivery.next_attempt_at) == (1, 0)
    assert deliver(app, now=delivery.next_attempt_at + timedelta(hours=1)) == (0, 0)
    assert receiver.delivery_ids() == [delivery.event_id]


def test_an_unreachable_receiver_costs_one_attempt_per_run_not_one_per_event(
    hook_app, client, auth, receiver
):
    app = hook_app
    new_webhook(client, auth, receiver.url, ["device.handed_over"])
    other = Receiver()
    other.start()
    try:
        new_webhook(client, auth, other.url, ["device.handed_over"], name="Inventar")
        hand_over_laptop(app, "outsider", "NB-0001")
        hand_over_laptop(app, "colleague", "NB-0002")
        receiver.stop()
        assert run_deliver_job(app) == {"delivered": 2, "failed": 1}
        # The other webhook got both; of the stopped one's two, one was tried.
        assert len(other.requests) == 2
        attempts = sorted(d.attempts for d in deliveries(app) if d.delivered_at is None)
        assert attempts == [0, 1]
    finally:
        other.stop()


def test_no_answer_within_the_timeout_is_a_failure(hook_app, client, auth, receiver):
    app = hook_app
    app.config["WEBHOOK_TIMEOUT"] = 0.5
    new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    receiver.hold = threading.Event()
    assert deliver(app) == (0, 1)
    receiver.hold.set()
    (delivery,) = deliveries(app)
    assert delivery.last_status is None and "no answer within 0.5 seconds" in delivery.last_error


def test_https_receivers_must_present_a_trusted_certificate(
    app, client, auth, tmp_path, monkeypatch
):
    """Certificates are checked against the system's trust store (which SSL_CERT_FILE
    can point at an internal CA); an untrusted certificate is a failed delivery."""
    from tests.servers.slapd import write_certificates

    ca, certificate, key = write_certificates(tmp_path)
    receiver = Receiver(tls=(certificate, key))
    receiver.start()
    try:
        _, secret = new_webhook(client, auth, receiver.url, ["device.handed_over"])
        hand_over_laptop(app)
        assert deliver(app) == (0, 1)
        (delivery,) = deliveries(app)
        assert "certificate" in delivery.last_error.lower() and receiver.requests == []
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        assert deliver(app, now=delivery.next_attempt_at) == (1, 0)
        assert verify(secret, receiver.requests[0])
    finally:
        receiver.stop()


def test_redirects_are_not_followed(hook_app, client, auth, receiver):
    app = hook_app
    new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    receiver.status, receiver.location = 302, f"http://127.0.0.1:{receiver.port}/elsewhere"
    assert deliver(app) == (0, 1)
    assert [r["path"] for r in receiver.requests] == ["/hooks/homeoffice?system=personal"]
    (delivery,) = deliveries(app)
    assert delivery.last_status == 302 and "redirect" in delivery.last_error


def test_after_the_last_attempt_a_delivery_stays_failed_and_can_be_sent_by_hand(
    hook_app, client, auth, receiver
):
    app = hook_app
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    webhook_id, secret = new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    receiver.status = 503
    later = utcnow()
    for _ in range(2):
        later += timedelta(hours=2)
        assert deliver(app, now=later) == (0, 1)
    assert deliver(app, now=later + timedelta(days=1)) == (0, 0)  # gave up
    (delivery,) = deliveries(app)
    assert delivery.attempts == 2 and delivery.delivered_at is None
    page = client.get(f"/admin/webhooks/{webhook_id}").get_data(as_text=True)
    assert german(app, "failed, no further attempts") in page and delivery.event_id in page
    listing = client.get("/admin/webhooks/").get_data(as_text=True)
    assert german(app, "%(count)s failed", count=1) in listing

    receiver.status = 200
    path = f"/admin/webhooks/{webhook_id}"
    response = client.post(
        f"{path}/deliveries/{delivery.id}/send", data={"csrf_token": csrf_token(client, path)}
    )
    assert response.status_code == 302
    (delivery,) = deliveries(app)
    assert delivery.delivered_at is not None and delivery.attempts == 3
    assert receiver.delivery_ids()[-1] == delivery.event_id and verify(
        secret, receiver.requests[-1]
    )
    with app.app_context(), session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "webhook.sent_again")
        ).one()
        assert event.actor_name == "a.berg" and event.after["delivered"] is True
    # A delivered event is not sent again.
    again = client.post(
        f"{path}/deliveries/{delivery.id}/send", data={"csrf_token": csrf_token(client, path)}
    )
    assert again.status_code == 302 and len(receiver.requests) == 3


def test_a_slow_receiver_does_not_hold_up_other_writers(hook_app, client, auth, receiver):
    """While a delivery waits for its receiver, the rest of the service can write (on
    SQLite the job takes the write lock only after the sending)."""
    app = hook_app
    fast = Receiver()
    fast.start()
    try:
        # The fast receiver's delivery comes first and has its outcome recorded by the
        # time the slow one is waited for.
        new_webhook(client, auth, fast.url, ["device.handed_over"], name="Schnell")
        new_webhook(client, auth, receiver.url, ["device.handed_over"], name="Langsam")
        hand_over_laptop(app, "outsider", "NB-0001")
        receiver.hold = threading.Event()
        results = {}
        sender = threading.Thread(target=lambda: results.setdefault("sent", deliver(app)))
        sender.start()
        try:
            assert receiver.arrived.wait(10)
            assert len(fast.requests) == 1
            started = time.monotonic()
            hand_over_laptop(app, "colleague", "NB-0002")  # a write while the sender waits
            assert time.monotonic() - started < 5
        finally:
            receiver.hold.set()
            sender.join(20)
    finally:
        fast.stop()
    assert results["sent"] == (2, 0)
    assert len(deliveries(app)) == 4


@only_postgres
def test_two_deliverers_never_send_one_delivery_twice(hook_app, client, auth, receiver):
    """The first deliverer holds the row lock while the receiver is slow; the second
    skips the locked row instead of sending it again."""
    app = hook_app
    new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    receiver.hold = threading.Event()
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", deliver(app)))
    first.start()
    assert receiver.arrived.wait(10)
    try:
        assert deliver(app) == (0, 0)
        assert run_deliver_job(app) == {"delivered": 0, "failed": 0}
    finally:
        receiver.hold.set()
        first.join(10)
    assert results["first"] == (1, 0)
    assert len(receiver.requests) == 1


# --- (d) which events go where ------------------------------------------------------------


def test_access_and_device_events_reach_only_subscribed_webhooks(hook_app, client, auth, receiver):
    app = hook_app
    app.config["ACCESS_KINDS"] = ["groups", "terminal_server_secret"]
    access_hook, _ = new_webhook(
        client, auth, receiver.url, ["access.issued", "access.revoked"], name="VPN"
    )
    device_hook, _ = new_webhook(
        client, auth, receiver.url, ["device.handed_over", "device.returned"], name="Inventar"
    )
    with app.test_request_context(), session_scope() as session:
        for dn in (app.config["VPN_GROUP_DN"], app.config["TERMINAL_SERVER_GROUP_DN"]):
            session.add(LocalDirectoryGroup(dn=dn, name=dn.split(",")[0][3:]))
        session.flush()
        owner, clerk = person(session, "outsider"), person(session, "it")
        agreement = active_agreement(
            session, owner, wants_vpn=True, wants_terminal_server=True, wants_laptop=True
        )
        issued = access.issue(
            session=session,
            directory=LocalDirectory(session),
            agreement=agreement,
            owner=owner,
            by=clerk,
            config=app.config,
        )
        code = issued.terminal_server_secret
        assert code
        access.revoke(
            session=session,
            directory=LocalDirectory(session),
            agreement=agreement,
            owner=owner,
            by=clerk,
            config=app.config,
            reason="Gesundheitliche Gründe entfallen",
            today=date.today(),
        )
        device = Device(asset_tag="NB-0042", serial_number="S-42", model="T14")
        session.add(device)
        session.flush()
        handover = devices.hand_over(
            session=session,
            device_id=device.id,
            person=owner,
            agreement=agreement,
            by=clerk,
            accessories="Tasche",
            on=date.today(),
        )
        devices.take_back(
            session=session, handover=handover, by=clerk, on=date.today(), note="Akku defekt"
        )

    rows = deliveries(app)
    assert {(d.webhook_id, d.event) for d in rows} == {
        (access_hook, "access.issued"),
        (access_hook, "access.revoked"),
        (device_hook, "device.handed_over"),
        (device_hook, "device.returned"),
    }
    assert len(rows) == 4
    by_event = {d.event: d.payload for d in rows}
    assert by_event["access.issued"]["kinds"] == [
        "terminal_server_group",
        "terminal_server_secret",
        "vpn_group",
    ]
    assert by_event["access.revoked"]["person"]["username"] == "o.weiss"
    assert by_event["device.handed_over"]["device"]["asset_tag"] == "NB-0042"
    assert by_event["device.returned"]["returned_on"] == date.today().isoformat()
    assert by_event["device.returned"]["device"]["state"] == "in_stock"

    assert run_deliver_job(app) == {"delivered": 4, "failed": 0}
    sent = b"".join(r["body"] for r in receiver.requests).decode()
    for secret_or_text in (code, "Gesundheit", "Akku", "Tasche", "health"):
        assert secret_or_text not in sent


def test_an_action_that_rolls_back_emits_nothing(hook_app, client, auth, receiver):
    app = hook_app
    new_webhook(client, auth, receiver.url, ["device.handed_over"])

    class LaterStepFailed(Exception):
        pass

    with pytest.raises(LaterStepFailed), app.test_request_context():
        with session_scope() as session:
            owner = person(session, "outsider")
            agreement = active_agreement(session, owner, wants_laptop=True)
            device = Device(asset_tag="NB-0007", serial_number="S-7", model="T14")
            session.add(device)
            session.flush()
            devices.hand_over(
                session=session,
                device_id=device.id,
                person=owner,
                agreement=agreement,
                by=person(session, "it"),
                accessories=None,
                on=date.today(),
            )
            session.flush()
            assert session.exec(select(func.count()).select_from(WebhookDelivery)).one() == 1
            raise LaterStepFailed  # a later step of the same transaction fails
    assert deliveries(app) == []
    assert run_deliver_job(app) == {"delivered": 0, "failed": 0}
    assert receiver.requests == []


def test_a_refused_request_through_the_pages_emits_nothing(hook_app, client, auth, receiver):
    """HR cannot decide their own request: the refusal writes no event."""
    new_webhook(client, auth, receiver.url, ["agreement.decided"])
    switch(client, auth, "hr")
    request_id = request_id_from(post_request(client))
    response = decide(client, request_id)
    assert response.status_code >= 400
    assert deliveries(hook_app) == []


def test_a_switched_off_webhook_gets_no_events_and_nothing_is_sent(
    hook_app, client, auth, receiver
):
    app = hook_app
    webhook_id, _ = new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app, "outsider", "NB-0001")
    path = f"/admin/webhooks/{webhook_id}"
    assert (
        client.post(f"{path}/deactivate", data={"csrf_token": csrf_token(client, path)}).status_code
        == 302
    )
    hand_over_laptop(app, "colleague", "NB-0002")
    assert len(deliveries(app)) == 1  # the second event found no active webhook
    assert run_deliver_job(app) == {"delivered": 0, "failed": 0}  # the waiting one is held
    client.post(f"{path}/activate", data={"csrf_token": csrf_token(client, path)})
    assert run_deliver_job(app) == {"delivered": 1, "failed": 0}
    assert len(receiver.requests) == 1


# --- (e) pages, rights, CSRF, and the secret ------------------------------------------------


@pytest.mark.parametrize("role", ["employee", "supervisor", "hr", "it", "facility"])
def test_only_admins_reach_the_webhook_pages(hook_app, client, auth, receiver, role):
    webhook_id, _ = new_webhook(client, auth, receiver.url)
    switch(client, auth, role)
    token = csrf_token(client, "/")
    path = f"/admin/webhooks/{webhook_id}"
    assert client.get("/admin/webhooks/").status_code == 403
    assert client.get(path).status_code == 403
    for action in ("secret", "deactivate", "delete"):
        assert client.post(f"{path}/{action}", data={"csrf_token": token}).status_code == 403
    response = client.post(
        "/admin/webhooks/",
        data={"name": "X", "url": receiver.url, "events": ALL_EVENTS, "csrf_token": token},
    )
    assert response.status_code == 403
    with hook_app.app_context(), session_scope() as session:
        (webhook,) = session.exec(select(Webhook)).all()
        assert webhook.active


def test_every_change_needs_a_post_with_a_csrf_token(hook_app, client, auth, receiver):
    app = hook_app
    webhook_id, secret = new_webhook(client, auth, receiver.url)
    hand_over_laptop(app)
    (delivery,) = deliveries(app)
    path = f"/admin/webhooks/{webhook_id}"
    with app.app_context(), session_scope() as session:
        audit_before = session.exec(select(func.count()).select_from(AuditEvent)).one()
        stored_before = session.get(Webhook, webhook_id).secret_encrypted

    # GET changes nothing: the change addresses only take POST, the pages only read.
    for target in ("secret", "deactivate", "activate", "delete", f"deliveries/{delivery.id}/send"):
        assert client.get(f"{path}/{target}").status_code == 405
    assert client.get("/admin/webhooks/").status_code == 200
    assert client.get(path).status_code == 200
    # POST without the token is refused.
    for target in ("secret", "deactivate", "delete", f"deliveries/{delivery.id}/send"):
        assert client.post(f"{path}/{target}").status_code == 400
    assert (
        client.post(
            "/admin/webhooks/", data={"name": "X", "url": receiver.url, "events": ALL_EVENTS}
        ).status_code
        == 400
    )
    with app.app_context(), session_scope() as session:
        webhook = session.get(Webhook, webhook_id)
        assert webhook.active and webhook.secret_encrypted == stored_before
        assert session.exec(select(func.count()).select_from(Webhook)).one() == 1
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == audit_before
    assert receiver.requests == []
    (delivery,) = deliveries(app)
    assert delivery.attempts == 0


def test_the_secret_is_shown_once_and_kept_nowhere_in_clear(
    hook_app, client, auth, receiver, caplog, database_url
):
    caplog.set_level(logging.DEBUG)
    app = hook_app
    webhook_id, secret = new_webhook(client, auth, receiver.url, ["device.handed_over"])
    assert len(secret) >= 43
    path = f"/admin/webhooks/{webhook_id}"
    assert secret not in client.get("/admin/webhooks/").get_data(as_text=True)
    detail = client.get(path).get_data(as_text=True)
    assert secret not in detail and f"{secret[:6]}…" in detail  # only the prefix

    # A failed and a successful delivery both go through the log.
    hand_over_laptop(app)
    receiver.status = 500
    run_deliver_job(app)
    receiver.status = 200
    (delivery,) = deliveries(app)
    deliver(app, now=delivery.next_attempt_at)
    assert verify(secret, receiver.requests[-1])

    # A new secret: shown once, the old one no longer signs.
    response = client.post(f"{path}/secret", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    rotated = shown_secret(response)
    assert rotated != secret
    hand_over_laptop(app, "colleague", "NB-0002")
    run_deliver_job(app)
    assert verify(rotated, receiver.requests[-1]) and not verify(secret, receiver.requests[-1])

    with app.app_context(), session_scope() as session:
        row = session.execute(
            text("SELECT * FROM webhook WHERE id = :id"), {"id": webhook_id}
        ).one()
        columns = " ".join(str(value) for value in row)
        audit = session.execute(text("SELECT * FROM audit_event")).all()
        audit_text = " ".join(str(value) for r in audit for value in r)
        deliveries_text = " ".join(
            str(value)
            for r in session.execute(text("SELECT * FROM webhook_delivery"))
            for value in r
        )
    for clear in (secret, rotated):
        assert clear not in columns and clear not in audit_text and clear not in deliveries_text
        assert clear not in caplog.text
        for record in caplog.records:
            assert clear not in str(record.args)
    assert "webhook.created" in audit_text and "webhook.secret_rotated" in audit_text
    assert rotated[:6] in columns  # the prefix is kept, to recognise the secret
    if database_url.startswith("sqlite:///"):
        # The file itself, write-ahead log included, never holds the secret.
        database = Path(database_url.removeprefix("sqlite:///"))
        for file in (database, database.with_name(database.name + "-wal")):
            if file.exists():
                content = file.read_bytes()
                assert secret.encode() not in content and rotated.encode() not in content


def test_a_changed_secret_key_is_a_clear_failure_not_a_crash(
    hook_app, client, auth, receiver, database_url, tmp_path
):
    new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(hook_app)
    other = make_app(
        database_url,
        tmp_path,
        SECRET_KEY="a-different-secret-key-0123456789",
        WEBHOOK_ALLOW_HTTP=True,
    )
    try:
        assert deliver(other) == (0, 1)
    finally:
        other.extensions["homeoffice.engine"].dispose()
    (delivery,) = deliveries(hook_app)
    assert "new secret" in delivery.last_error and receiver.requests == []


def test_delete_removes_the_webhook_and_its_log_and_is_audited(hook_app, client, auth, receiver):
    app = hook_app
    webhook_id, _ = new_webhook(client, auth, receiver.url, ["device.handed_over"])
    hand_over_laptop(app)
    path = f"/admin/webhooks/{webhook_id}"
    response = client.post(f"{path}/delete", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert deliveries(app) == []
    assert client.get(path).status_code == 404
    with app.app_context(), session_scope() as session:
        assert session.exec(select(Webhook)).all() == []
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "webhook.deleted")).one()
        assert event.before["url"] == receiver.url and event.actor_name == "a.berg"


# --- (f) addresses that are refused --------------------------------------------------------

HTTPS_ONLY = (
    "Webhooks are only sent over HTTPS, so that nobody can read them on the way. "
    "Please enter an https:// address."
)
SCHEMES = "Only http:// and https:// addresses can receive webhooks."


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://fachverfahren.example/hooks", SCHEMES),
        ("javascript:alert(1)", SCHEMES),
        ("file:///etc/passwd", SCHEMES),
        ("http://fachverfahren.example/hooks", HTTPS_ONLY),
        ("https://", "The address needs a host name, e.g. https://fachverfahren.example/hooks."),
        (
            "https://user:pass@fachverfahren.example/hooks",
            "Please leave user name and password out of the address; the signature proves "
            "that a delivery comes from this service.",
        ),
        (
            "https://fachverfahren.example/ hooks",
            "The address must not contain spaces or control characters.",
        ),
        ("https://fachverfahren.example:99999/", "The port in the address is not valid."),
        ("", "Please enter the address (URL) of the receiver."),
    ],
)
def test_invalid_addresses_are_refused_with_a_clear_message(app, client, auth, url, message):
    assert app.config["WEBHOOK_ALLOW_HTTP"] is False  # the default
    auth.login("admin")
    response = register(client, url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert german(app, message) in html
    assert 'aria-invalid="true"' in html
    with app.app_context(), session_scope() as session:
        assert session.exec(select(func.count()).select_from(Webhook)).one() == 0
        audited = select(func.count()).where(col(AuditEvent.action).like("webhook.%"))
        assert session.exec(audited).one() == 0


def test_http_is_accepted_only_with_the_setting(hook_app, client, auth, receiver):
    auth.login("admin")
    assert register(client, receiver.url).status_code == 200
    hook_app.config["WEBHOOK_ALLOW_HTTP"] = False
    assert register(client, receiver.url).status_code == 400


def test_at_least_one_known_event_is_needed(hook_app, client, auth, receiver):
    auth.login("admin")
    response = register(client, receiver.url, events=[])
    assert response.status_code == 400
    assert german(hook_app, "Please choose at least one event.") in response.get_data(as_text=True)
    response = register(client, receiver.url, events=["agreement.decided", "person.deleted"])
    assert response.status_code == 400
    with hook_app.app_context(), session_scope() as session:
        assert session.exec(select(func.count()).select_from(Webhook)).one() == 0


# --- the pages stay bounded ------------------------------------------------------------------


def _grow(app, webhooks_count: int, per_webhook: int, start: int = 0) -> int:
    """Webhooks with deliveries in every state; the first new webhook's id."""
    with app.app_context(), session_scope() as session:
        admin = person(session, "admin")
        first_id = None
        for n in range(start, start + webhooks_count):
            hook = Webhook(
                name=f"System {n}",
                url=f"https://system{n}.example/hooks",
                events="device.handed_over",
                secret_encrypted="x",
                secret_prefix="abcdef",
                created_by_id=admin.id,
            )
            session.add(hook)
            session.flush()
            first_id = first_id or hook.id
            for i in range(per_webhook):
                session.add(
                    WebhookDelivery(
                        webhook_id=hook.id,
                        event="device.handed_over",
                        event_id=f"{hook.id:08x}{i:024x}",
                        payload={"n": i},
                        attempts=i % 12,
                        last_status=500 if i % 2 else None,
                        last_error="HTTP 500" if i % 2 else None,
                        delivered_at=utcnow() if i % 3 == 0 else None,
                    )
                )
        return first_id


def test_the_pages_send_a_bounded_number_of_statements(hook_app, client, auth):
    app = hook_app
    first = _grow(app, 1, 3)
    _grow(app, 1, 3, start=1)
    auth.login("admin")

    def statements(path):
        with count_queries(app) as counter:
            assert client.get(path).status_code == 200
        return counter.count

    small = {path: statements(path) for path in ("/admin/webhooks/", f"/admin/webhooks/{first}")}
    with app.app_context(), session_scope() as session:
        for i in range(120):
            session.add(
                WebhookDelivery(
                    webhook_id=first,
                    event="device.handed_over",
                    event_id=f"f{i:031x}",
                    payload={"n": i},
                    attempts=12,
                    last_error="HTTP 500",
                )
            )
    _grow(app, 30, 40, start=2)
    large = {path: statements(path) for path in ("/admin/webhooks/", f"/admin/webhooks/{first}")}
    assert small == large and max(large.values()) <= 12, large
    html = client.get(f"/admin/webhooks/{first}?page=3").get_data(as_text=True)
    assert (
        "System 0" in html
        and german(app, "Page %(number)s of %(pages)s", number=3, pages=3) in html
    )


def test_the_delivery_job_is_scheduled_every_minute(app):
    from homeoffice.jobs.schedule import MINUTE, schedule
    from homeoffice.jobs.services import DESCRIPTIONS

    (entry,) = [e for e in schedule(app.config) if e.job == "deliver_webhooks"]
    assert entry.cron == {"minute": "*"} and entry.period == MINUTE
    assert DESCRIPTIONS["deliver_webhooks"]
