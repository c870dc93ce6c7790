"""A sender killed in the middle of a send (SIGKILL, no clean-up) and run again: every message
whose outcome was known is delivered exactly once, and the one it died on says what happened."""

from __future__ import annotations

import signal
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.messages.sender import send_due
from casework.models import DeliveryAttempt, MessageStatus, OutboxMessage
from casework.models.types import utcnow
from tests.messages.conftest import message, start_sender, wait_inside

LEASE = timedelta(seconds=600)  # the default SEND_LEASE_SECONDS


def start_smtp_sender(app, mailbox, tmp_path) -> subprocess.Popen:
    return start_sender(
        app,
        tmp_path,
        CASEWORK_SMTP_HOST="127.0.0.1",
        CASEWORK_SMTP_PORT=str(mailbox.port),
        CASEWORK_SMTP_SECURITY="none",
        CASEWORK_SMTP_FROM="attendance@college.example",
        CASEWORK_SMTP_TIMEOUT="120",  # the held server must not time out before the kill
    )


@pytest.mark.parametrize(
    ("held_at", "b_received", "b_status", "b_attempts"),
    [
        # Killed while the server held RCPT: known not sent, so sent again, once.
        (
            "hold_rcpt",
            1,
            MessageStatus.SENT,
            [("failed", "the sender stopped before handing it over"), ("sent", None)],
        ),
        # Killed once the whole message was in: it may have arrived, so it is not resent.
        (
            "hold_data",
            1,
            MessageStatus.FAILED,
            [("unknown", "the sender stopped after handing the message to the server")],
        ),
    ],
)
def test_a_killed_sender_leaves_nothing_sent_twice(
    app, app_context, mailbox, transports, tmp_path, held_at, b_received, b_status, b_attempts
):
    due = utcnow() - timedelta(minutes=1)
    rows = {
        name: message(f"absence:mark:{n}:email:learner", f"{name}@example.org", due_at=due)
        for n, name in enumerate("abc")
    }
    getattr(mailbox, held_at).add("b@example.org")

    sender = start_smtp_sender(app, mailbox, tmp_path)
    try:
        wait_inside(mailbox.entered, sender, tmp_path / "sender.log")
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=60)
    getattr(mailbox, held_at).clear()
    mailbox.release.set()

    db.session.expire_all()
    b = db.session.get(OutboxMessage, rows["b"].id)
    assert b.status == MessageStatus.SENDING  # claimed by the dead sender, its lease running
    assert send_due(utcnow(), transports=transports).sent == 1  # c; b not before the lease ends
    db.session.expire_all()
    assert db.session.get(OutboxMessage, rows["b"].id).status == MessageStatus.SENDING
    summary = send_due(utcnow() + LEASE + timedelta(seconds=1), transports=transports)
    send_due(utcnow() + 2 * LEASE, transports=transports)  # and again: nothing more

    received = [m["To"] for m in mailbox.received]
    assert received.count("Pat Parent <a@example.org>") == 1
    assert received.count("Pat Parent <b@example.org>") == b_received
    assert received.count("Pat Parent <c@example.org>") == 1
    assert summary.sent == (b_status == MessageStatus.SENT)
    db.session.expire_all()
    statuses = {name: db.session.get(OutboxMessage, row.id).status for name, row in rows.items()}
    assert statuses == {"a": MessageStatus.SENT, "b": b_status, "c": MessageStatus.SENT}
    attempts = db.session.execute(
        select(DeliveryAttempt.outcome, DeliveryAttempt.error)
        .where(DeliveryAttempt.message_id == rows["b"].id)
        .order_by(DeliveryAttempt.id)
    ).all()
    assert [tuple(a) for a in attempts] == b_attempts
    if b_status == MessageStatus.FAILED:
        assert (
            "check with the recipient before resending"
            in db.session.get(OutboxMessage, rows["b"].id).last_error
        )
