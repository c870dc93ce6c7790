"""Text messages through the official GOV.UK Notify client, against a small fake Notify on
127.0.0.1: the outbox key is the reference, and a retry asks Notify before sending again."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.messages.sender import send_due
from casework.messages.transports import (
    LogTransport,
    NotifySettings,
    NotifyTransport,
    TransportConfigError,
    transports_from,
)
from casework.models import DeliveryAttempt, MessageChannel, MessageStatus, OutboxMessage
from casework.models.types import utcnow
from tests.messages.conftest import NOW, message, start_sender, wait_inside

SERVICE = str(uuid.UUID(int=1))
API_KEY = f"casework_test-{SERVICE}-{uuid.UUID(int=2)}"
TEMPLATE = str(uuid.UUID(int=3))


class FakeNotify(ThreadingHTTPServer):
    """Keeps what it is sent; ``fail_next`` answers the next send with that status, after
    keeping it when ``keep_failed`` (a response lost on the way back)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sent: list[dict] = []
        self.fail_next: int | None = None
        self.keep_failed = False
        # hold: the next send is kept, then its answer waits (entered set) until release.
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeNotify

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        assert self.headers["Authorization"].startswith("Bearer ")
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        notification = {"id": str(uuid.uuid4()), **request}
        status, self.server.fail_next = self.server.fail_next, None
        if status is None or self.server.keep_failed:
            self.server.sent.append(notification)
        if self.server.hold:
            self.server.entered.set()
            self.server.release.wait()
        if status is not None:
            self._answer(status, {"errors": [{"error": "Error", "message": f"fake {status}"}]})
        else:
            self._answer(201, {"id": notification["id"], "reference": request.get("reference")})

    def do_GET(self) -> None:
        reference = parse_qs(urlparse(self.path).query).get("reference", [None])[0]
        found = [n for n in self.server.sent if n.get("reference") == reference]
        self._answer(200, {"notifications": found, "links": {}})


@pytest.fixture
def notify() -> Iterator[FakeNotify]:
    server = FakeNotify()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sms(notify):
    settings = NotifySettings(API_KEY, TEMPLATE, base_url=notify.url, timeout=5)
    return {MessageChannel.SMS: NotifyTransport(settings)}


def text(key: str, phone: str = "07700900123") -> OutboxMessage:
    return message(key, phone, channel=MessageChannel.SMS)


def test_a_text_goes_with_the_outbox_key_as_its_reference(app_context, notify, sms):
    row = text("absence:mark:1:sms:contact:1")

    assert send_due(NOW, transports=sms).sent == 1

    [sent] = notify.sent
    assert sent == {
        "id": sent["id"],
        "phone_number": "07700900123",
        "template_id": TEMPLATE,
        "personalisation": {"body": "Sam was marked absent at 09:15.\n"},
        "reference": "absence:mark:1:sms:contact:1",
    }
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).provider_ref == sent["id"]


def test_a_retry_after_a_lost_answer_finds_the_text_and_does_not_send_it_again(
    app_context, notify, sms
):
    notify.fail_next, notify.keep_failed = 500, True  # Notify has it; we heard an error
    row = text("absence:mark:1:sms:contact:1")

    assert send_due(NOW, transports=sms).retrying == 1
    assert send_due(NOW + timedelta(minutes=5), transports=sms).sent == 1

    assert len(notify.sent) == 1
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.status, row.provider_ref) == (MessageStatus.SENT, notify.sent[0]["id"])
    outcomes = db.session.scalars(
        select(DeliveryAttempt.outcome).where(DeliveryAttempt.message_id == row.id)
    ).all()
    assert outcomes == ["failed", "sent"]


def test_a_number_notify_refuses_fails_at_once(app_context, notify, sms):
    notify.fail_next = 400
    row = text("absence:mark:1:sms:contact:1", phone="12")

    assert send_due(NOW, transports=sms).failed == 1

    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert row.status == MessageStatus.FAILED
    assert "GOV.UK Notify answered 400" in row.last_error


def test_nothing_configured_only_logs_and_a_half_configured_notify_says_what_is_missing():
    assert all(isinstance(t, LogTransport) for t in transports_from({}).values())
    with pytest.raises(TransportConfigError, match="CASEWORK_NOTIFY_SMS_TEMPLATE_ID"):
        transports_from({"NOTIFY_API_KEY": API_KEY})
    configured = transports_from({"NOTIFY_API_KEY": API_KEY, "NOTIFY_SMS_TEMPLATE_ID": TEMPLATE})
    assert isinstance(configured[MessageChannel.SMS], NotifyTransport)


def test_a_sender_killed_while_notify_has_the_text_does_not_send_it_twice(
    app, app_context, notify, sms, tmp_path
):
    due = utcnow() - timedelta(minutes=1)
    row = message("absence:mark:1:sms:learner", "07700900123", channel="sms", due_at=due)
    notify.hold = True

    sender = start_sender(
        app,
        tmp_path,
        CASEWORK_NOTIFY_API_KEY=API_KEY,
        CASEWORK_NOTIFY_SMS_TEMPLATE_ID=TEMPLATE,
        CASEWORK_NOTIFY_BASE_URL=notify.url,
    )
    try:
        wait_inside(notify.entered, sender, tmp_path / "sender.log")
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=60)
    notify.hold = False
    notify.release.set()

    summary = send_due(utcnow() + timedelta(seconds=601), transports=sms)

    assert summary.sent == 1
    assert len(notify.sent) == 1  # found by its reference, not sent again
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.status, row.provider_ref) == (MessageStatus.SENT, notify.sent[0]["id"])
    attempts = db.session.execute(
        select(DeliveryAttempt.outcome, DeliveryAttempt.error)
        .where(DeliveryAttempt.message_id == row.id)
        .order_by(DeliveryAttempt.id)
    ).all()
    assert [tuple(a) for a in attempts] == [
        (
            "unknown",
            "the sender stopped while handing it over: the provider is asked before resending",
        ),
        ("sent", None),
    ]
