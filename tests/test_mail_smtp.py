"""Mail through a real SMTP server (aiosmtpd, STARTTLS and login required): the parts
and languages that arrive, the outbox surviving a server that is down or refuses the
login, and the scheduled delivery job."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from jinja2 import ChoiceLoader, DictLoader
from sqlmodel import select

from homeoffice import ConfigError, create_app
from homeoffice.agreements.models import HomeOfficeRequest
from homeoffice.db import session_scope, utcnow
from homeoffice.directory.models import LocalDirectoryUser
from homeoffice.jobs.runner import run_job
from homeoffice.notifications.models import OutboxMessage
from homeoffice.notifications.services import deliver_pending
from homeoffice.people.models import Person
from tests.agreement_helpers import (
    agreement_of,
    decide,
    load,
    post_request,
    request_id_from,
)
from tests.conftest import PEOPLE, both_databases, csrf_token, make_app, seed_local_directory

EMPLOYEE_MAIL = "e.kaya@musterstadt.example"
SUPERVISOR_MAIL = "b.vogt@musterstadt.example"
OUTSIDER_MAIL = "o.weiss@musterstadt.example"
HOSTILE_NAME = 'Emre <script>alert("x")</script> Kaya'


@pytest.fixture
def mail_app(database_url, tmp_path, monkeypatch, smtp_server):
    """The app with the test server's settings, checked at start like in production.

    Delivery after the request is off so each test decides when mail goes out; the
    test of that path turns it on.
    """
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(database_url, tmp_path, MAIL_SEND_AFTER_REQUEST=False, **smtp_server.settings())
    with app.app_context(), session_scope() as session:
        seed_local_directory(session)
    yield app
    app.extensions["homeoffice.engine"].dispose()


@pytest.fixture
def mail_client(mail_app):
    return mail_app.test_client()


def login(client, key: str) -> None:
    client.post(
        "/login",
        data={
            "username": PEOPLE[key][0],
            "password": "Sommer-2026!",
            "csrf_token": csrf_token(client),
        },
    )


def logout(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def update_person(app, key: str, **fields) -> None:
    with app.app_context(), session_scope() as session:
        person = session.exec(select(Person).where(Person.username == PEOPLE[key][0])).one()
        for name, value in fields.items():
            setattr(person, name, value)


def rename_in_directory(app, key: str, name: str) -> None:
    """Display names come from the directory; each login copies them to the person."""
    with app.app_context(), session_scope() as session:
        user = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == PEOPLE[key][0])
        ).one()
        user.display_name = name
    update_person(app, key, display_name=name)


def deliver(app, **kwargs) -> tuple[int, int]:
    with app.app_context(), session_scope() as session:
        return deliver_pending(session, app.config, **kwargs)


def outbox(app) -> list[OutboxMessage]:
    with app.app_context(), session_scope() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def submit_request(client, key: str = "employee") -> int:
    login(client, key)
    response = post_request(client)
    assert response.status_code == 302
    return request_id_from(response)


# --- what arrives -----------------------------------------------------------------------


@both_databases
def test_german_mail_arrives_over_starttls_with_login_in_text_and_escaped_html(
    mail_app, mail_client, smtp_server
):
    rename_in_directory(mail_app, "employee", HOSTILE_NAME)
    request_id = submit_request(mail_client)

    assert deliver(mail_app) == (2, 0)  # the employee's receipt and the supervisor's task

    (received,) = smtp_server.messages_to(EMPLOYEE_MAIL)
    assert received.tls and received.login == "homeoffice-mailer"
    assert received.mail_from == "homeoffice@musterstadt.example"
    assert received.rcpt_tos == [EMPLOYEE_MAIL]
    mail = received.message
    assert mail["From"] == "homeoffice@musterstadt.example"
    assert mail["To"] == EMPLOYEE_MAIL
    assert mail["Subject"] == f"Ihr Homeoffice-Antrag Nr. {request_id}"
    assert mail["Content-Language"] == "de"
    assert mail["Date"].datetime.tzinfo is not None
    assert mail["Message-ID"].endswith("@musterstadt.example>")
    assert mail.get_content_type() == "multipart/alternative"

    text = mail.get_body(("plain",)).get_content()
    assert text.startswith(f"Guten Tag {HOSTILE_NAME},")
    link = f"http://localhost/homeoffice/requests/{request_id}"
    assert f"Hier sehen Sie den Antrag: {link}" in text
    assert "Ihre Stadtverwaltung" in text

    html = mail.get_body(("html",)).get_content()
    assert '<html lang="de">' in html
    assert f"<title>Ihr Homeoffice-Antrag Nr. {request_id}</title>" in html
    assert "<script>" not in html
    assert "Guten Tag Emre &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Kaya," in html
    assert f'Hier sehen Sie den Antrag: <a href="{link}">{link}</a>' in html
    assert "<p>Ihre Stadtverwaltung</p>" in html

    (stored,) = [m for m in outbox(mail_app) if m.to_address == EMPLOYEE_MAIL]
    assert stored.sent_at is not None and stored.attempts == 1 and stored.last_error is None
    assert stored.locale == "de"


def test_a_person_who_reads_english_gets_english(mail_app, mail_client, smtp_server):
    update_person(mail_app, "supervisor", locale="en")
    submit_request(mail_client)

    assert deliver(mail_app) == (2, 0)

    (received,) = smtp_server.messages_to(SUPERVISOR_MAIL)
    mail = received.message
    assert mail["Subject"] == "Home-office request of Emre Kaya"
    assert mail["Content-Language"] == "en"
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith("Hello Berta Vogt,")
    assert "Emre Kaya asks for home office. Please give your assessment." in text
    assert "Your city administration" in text
    html = mail.get_body(("html",)).get_content()
    assert '<html lang="en">' in html
    assert "<p>Emre Kaya asks for home office. Please give your assessment.</p>" in html
    # The same batch still wrote the employee's receipt in German.
    (receipt,) = smtp_server.messages_to(EMPLOYEE_MAIL)
    assert receipt.message["Subject"].startswith("Ihr Homeoffice-Antrag")


def test_a_mail_template_may_bring_its_own_html(mail_app, mail_client):
    # Standing in for a templates/mail/<name>.html file next to the text template.
    override = (
        '{% extends "mail/_layout.html" %}{% block body %}'
        "<h1>{{ subject }}</h1><p>{{ person.display_name }}</p>{% endblock %}"
    )
    mail_app.jinja_loader = ChoiceLoader(
        [DictLoader({"mail/request_received.html": override}), mail_app.jinja_loader]
    )
    rename_in_directory(mail_app, "employee", HOSTILE_NAME)
    request_id = submit_request(mail_client)

    receipt, task = outbox(mail_app)
    assert f"<h1>Ihr Homeoffice-Antrag Nr. {request_id}</h1>" in receipt.body_html
    assert "<p>Emre &lt;script&gt;" in receipt.body_html
    # Templates without their own HTML keep the layout's paragraphs.
    assert task.body_html.count("<p>") == len(task.body_text.strip().split("\n\n"))


def test_mail_queued_by_a_request_goes_out_right_after_it(mail_app, mail_client, smtp_server):
    mail_app.config["MAIL_SEND_AFTER_REQUEST"] = True
    login(mail_client, "employee")
    response = post_request(mail_client)
    assert response.status_code == 302
    assert smtp_server.received == []  # not while the response is still being sent
    response.close()  # what the WSGI server does once the response is out

    assert len(smtp_server.messages_to(EMPLOYEE_MAIL)) == 1
    assert len(smtp_server.messages_to(SUPERVISOR_MAIL)) == 1
    assert all(m.sent_at for m in outbox(mail_app))


# --- when delivery fails ----------------------------------------------------------------


@both_databases
def test_server_down_keeps_the_decision_and_the_mail_arrives_once_when_it_is_back(
    mail_app, mail_client, smtp_server
):
    smtp_server.stop()
    request_id = submit_request(mail_client, "outsider")  # no supervisor: straight to HR
    logout(mail_client)
    login(mail_client, "hr")
    assert decide(mail_client, request_id).status_code == 302

    assert load(mail_app, HomeOfficeRequest, request_id).state == "approved"
    pending = len(outbox(mail_app))
    assert pending >= 3  # receipt and decision for the outsider, the task for HR

    before = utcnow()
    assert deliver(mail_app) == (0, pending)
    for message in outbox(mail_app):
        assert message.sent_at is None and message.attempts == 1
        assert "ConnectionRefusedError" in message.last_error
        assert message.next_attempt_at > before
    # The decision and its agreement stand.
    assert load(mail_app, HomeOfficeRequest, request_id).state == "approved"
    assert agreement_of(mail_app, "outsider").state == "active"

    smtp_server.start()
    assert deliver(mail_app) == (0, 0)  # backing off: nothing is due yet
    assert smtp_server.received == []

    later = utcnow() + timedelta(minutes=3)
    assert deliver(mail_app, now=later) == (pending, 0)
    assert deliver(mail_app, now=later + timedelta(hours=1)) == (0, 0)

    subjects = sorted(r.message["Subject"] for r in smtp_server.messages_to(OUTSIDER_MAIL))
    assert subjects == [
        f"Entscheidung über den Homeoffice-Antrag Nr. {request_id}",
        f"Ihr Homeoffice-Antrag Nr. {request_id}",
    ]
    assert len(smtp_server.received) == pending
    assert len({r.message["Message-ID"] for r in smtp_server.received}) == pending
    for message in outbox(mail_app):
        assert message.sent_at and message.attempts == 2 and message.last_error is None


def test_wrong_password_is_recorded_without_the_password_and_sends_nothing(
    mail_app, mail_client, smtp_server, caplog
):
    wrong = "Falsches-Kennwort-42"
    mail_app.config["SMTP_PASSWORD"] = wrong
    submit_request(mail_client)

    with caplog.at_level(logging.DEBUG):
        assert deliver(mail_app) == (0, 2)

    assert smtp_server.received == []
    for message in outbox(mail_app):
        assert message.sent_at is None
        assert message.last_error.startswith("SMTPAuthenticationError: (535")
        assert wrong not in message.last_error
        assert message.next_attempt_at > utcnow()
    assert "not sent" in caplog.text
    assert wrong not in caplog.text

    # Put right, the same messages go out at their next attempt.
    mail_app.config["SMTP_PASSWORD"] = smtp_server.settings()["SMTP_PASSWORD"]
    assert deliver(mail_app, now=utcnow() + timedelta(minutes=3)) == (2, 0)
    assert len(smtp_server.received) == 2


def test_a_certificate_outside_the_trusted_cas_is_refused(mail_app, mail_client, smtp_server):
    # The system store does not know the test CA: STARTTLS must fail before the login.
    mail_app.config["SMTP_CA_FILE"] = None
    submit_request(mail_client)

    assert deliver(mail_app) == (0, 2)

    assert smtp_server.received == []
    assert all("CERTIFICATE_VERIFY_FAILED" in m.last_error for m in outbox(mail_app))


# --- the scheduled job ------------------------------------------------------------------


def test_deliver_mail_job_sends_through_the_server(mail_app, mail_client, smtp_server):
    submit_request(mail_client)

    run = run_job(mail_app, "deliver_mail", occurrence="2026-11-24T10:15")

    assert run is not None and run.outcome == "ok"
    assert run.counts == {"sent": 2, "failed": 0}
    assert {r.rcpt_tos[0] for r in smtp_server.received} == {EMPLOYEE_MAIL, SUPERVISOR_MAIL}
    assert all(m.sent_at for m in outbox(mail_app))


# --- settings ---------------------------------------------------------------------------


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    for key in ("HOMEOFFICE_SECRET_KEY", "HOMEOFFICE_DATABASE_URL", "HOMEOFFICE_DIRECTORY"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def test_refuses_a_mail_login_without_starttls(instance):
    with pytest.raises(ConfigError) as error:
        create_app(
            {
                "TESTING": True,
                "SMTP_USER": "homeoffice",
                "SMTP_PASSWORD": "Geheim-Kennwort-9",
                "SMTP_STARTTLS": False,
            }
        )
    assert "password would travel in clear" in str(error.value)
    assert "Geheim-Kennwort-9" not in str(error.value)


def test_refuses_a_missing_smtp_ca_file(instance):
    with pytest.raises(ConfigError, match="HOMEOFFICE_SMTP_CA_FILE"):
        create_app({"TESTING": True, "SMTP_CA_FILE": str(instance / "missing.pem")})


def test_starttls_without_login_and_login_with_starttls_start(instance):
    assert create_app({"TESTING": True, "SMTP_STARTTLS": False})
    assert create_app({"TESTING": True, "SMTP_USER": "homeoffice", "SMTP_PASSWORD": "x"})
