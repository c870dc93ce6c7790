"""send_due against a real SMTP server: each message once, failures on record, retries with
back-off, causes checked before sending, and two senders at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.messages.sender import send_due
from casework.models import DeliveryAttempt, MessageKind, MessageStatus, OutboxMessage, Report
from tests.messages.conftest import NOW, message


def attempts_of(row: OutboxMessage) -> list[tuple[str | None, str | None]]:
    return [
        (a.outcome, a.error)
        for a in db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == row.id)
            .order_by(DeliveryAttempt.id)
        )
    ]


def reload(row: OutboxMessage) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, row.id)


def test_a_due_message_is_sent_once_however_often_send_due_runs(app_context, mailbox, transports):
    row = message("absence:mark:1:email:contact:1")
    later = message("absence:mark:2:email:contact:1", due_at=NOW + timedelta(hours=1))

    first = send_due(NOW, transports=transports)
    again = send_due(NOW, transports=transports)

    assert (first.sent, again.sent) == (1, 0)
    assert len(mailbox.received) == 1
    row = reload(row)
    assert row.status == MessageStatus.SENT
    assert row.sent_at == NOW
    assert row.provider_ref == mailbox.received[0]["Message-ID"]
    assert attempts_of(row) == [("sent", None)]
    assert reload(later).status == MessageStatus.QUEUED


def test_a_refused_recipient_fails_at_once_with_the_servers_words(app_context, mailbox, transports):
    mailbox.refuse["gone@example.org"] = "550 5.1.1 No such user"
    row = message("absence:mark:1:email:contact:1", address="gone@example.org")

    summary = send_due(NOW, transports=transports)

    assert (summary.failed, summary.retrying) == (1, 0)
    row = reload(row)
    assert row.status == MessageStatus.FAILED
    assert "550 5.1.1 No such user" in row.last_error
    [(outcome, error)] = attempts_of(row)
    assert outcome == "failed" and "refused the recipient: 550" in error


def test_a_busy_server_is_retried_with_back_off_then_given_up(
    app, app_context, mailbox, transports
):
    app.config.update(SEND_MAX_ATTEMPTS=3, SEND_RETRY_BASE_SECONDS=60)
    mailbox.refuse["pat@example.org"] = "451 4.3.0 Try again later"
    row = message("absence:mark:1:email:contact:1")
    try:
        waits = []
        at = NOW
        for _ in range(3):
            summary = send_due(at, transports=transports)
            row = reload(row)
            waits.append(row.next_attempt_at - at)
            assert send_due(at, transports=transports).retrying == 0  # not due again yet
            at = row.next_attempt_at
    finally:
        app.config.pop("SEND_MAX_ATTEMPTS")
        app.config.pop("SEND_RETRY_BASE_SECONDS")

    assert waits[:2] == [timedelta(seconds=60), timedelta(seconds=120)]
    assert summary.failed == 1
    assert row.status == MessageStatus.FAILED
    assert row.last_error.startswith("gave up after 3 attempts: ")
    assert [outcome for outcome, _error in attempts_of(row)] == ["failed"] * 3
    assert mailbox.received == []


def test_a_server_that_does_not_answer_is_retried(app_context, mailbox, transports):
    mailbox.hold_rcpt.add("pat@example.org")
    row = message("absence:mark:1:email:contact:1")

    assert send_due(NOW, transports=transports).retrying == 1

    row = reload(row)
    assert row.status == MessageStatus.QUEUED
    assert "no answer within the configured timeout" in row.last_error
    mailbox.hold_rcpt.clear()
    mailbox.release.set()
    assert send_due(row.next_attempt_at, transports=transports).sent == 1
    assert [o for o, _e in attempts_of(row)] == ["failed", "sent"]


def test_a_message_whose_outcome_is_unknown_is_not_sent_again(app_context, mailbox, transports):
    mailbox.drop_data.add("pat@example.org")
    row = message("absence:mark:1:email:contact:1")

    assert send_due(NOW, transports=transports).failed == 1
    assert send_due(NOW + timedelta(days=1), transports=transports).sent == 0

    assert len(mailbox.received) == 1
    row = reload(row)
    assert row.status == MessageStatus.FAILED
    assert "check with the recipient before resending" in row.last_error
    [(outcome, error)] = attempts_of(row)
    assert outcome == "unknown" and "after the whole message was sent" in error


def test_two_senders_at_once_send_each_message_once(app, app_context, mailbox, transports):
    rows = [message(f"absence:mark:{n}:email:contact:1", f"p{n}@example.org") for n in range(6)]
    both_sending = threading.Barrier(2, timeout=30)
    smtp = transports[next(iter(transports))]

    class Meeting:
        """Each sender's first message waits until the other is sending too: they overlap."""

        can_look_up = False

        def __init__(self) -> None:
            self.first = threading.local()

        def send(self, outgoing, handing_over=lambda: None):
            if not getattr(self.first, "done", False):
                self.first.done = True
                both_sending.wait()
            return smtp.send(outgoing, handing_over)

        def already_sent(self, outgoing):
            return None

    meeting = Meeting()
    summaries = []

    def run() -> None:
        with app.app_context():
            summaries.append(send_due(NOW, transports={c: meeting for c in transports}))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(s.sent for s in summaries if s.sent) and sum(s.sent for s in summaries) == 6
    assert all(s.sent >= 1 for s in summaries)  # both took part
    assert sorted(m["To"] for m in mailbox.received) == sorted(
        f"Pat Parent <p{n}@example.org>" for n in range(6)
    )
    assert all(attempts_of(reload(r)) == [("sent", None)] for r in rows)


@pytest.mark.parametrize("address", ["", "   "])
def test_a_message_without_an_address_fails_and_says_so(app_context, transports, address):
    row = message("absence:mark:1:email:contact:1", address=address)
    assert send_due(NOW, transports=transports).failed == 1
    assert reload(row).last_error == "Pat Parent has no address for email"


def test_a_report_goes_with_its_csv_and_pdf(app_context, mailbox, transports):
    report = Report(
        key="main_school_daily:2026-12-01",
        name="main_school_daily",
        report_date=NOW.date(),
        title="Attendance today",
        rows=1,
        csv=b"learner,mark\r\nSam,N\r\n",
        pdf=b"%PDF-1.7 report",
    )
    db.session.add(report)
    db.session.commit()
    message(
        "report:main_school_daily:2026-12-01:contact:1",
        kind=MessageKind.REPORT,
        report_id=report.id,
    )

    assert send_due(NOW, transports=transports).sent == 1

    [got] = mailbox.received
    attachments = {a.get_filename(): a.get_content() for a in got.iter_attachments()}
    assert attachments == {
        "main_school_daily-2026-12-01.csv": "learner,mark\r\nSam,N\r\n",
        "main_school_daily-2026-12-01.pdf": b"%PDF-1.7 report",
    }
