"""queue_message: one row per key, whether the first is stored or still pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from casework.extensions import db
from casework.messages.sender import send_due
from casework.models import MessageChannel, MessageKind, OutboxMessage, queue_message

FIELDS = {
    "kind": MessageKind.ABSENCE,
    "channel": MessageChannel.SMS,
    "recipient_kind": "learner",
    "recipient_name": "Sam Learner",
    "address": "07700900123",
    "subject": "Absent",
    "body": "You were marked absent.",
}


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_a_key_is_queued_once_pending_or_stored(app_context):
    first = queue_message(key="absence:mark:1:sms:learner", **FIELDS)
    assert first is not None
    assert queue_message(key="absence:mark:1:sms:learner", **FIELDS) is None  # pending
    db.session.commit()
    assert queue_message(key="absence:mark:1:sms:learner", **FIELDS) is None  # stored
    assert queue_message(key="absence:mark:2:sms:learner", **FIELDS) is not None
    db.session.commit()
    assert count() == 2


def test_a_rolled_back_row_can_be_queued_again(app_context):
    queue_message(key="absence:mark:1:sms:learner", **FIELDS)
    db.session.rollback()
    assert queue_message(key="absence:mark:1:sms:learner", **FIELDS) is not None
    db.session.commit()
    assert count() == 1


def test_a_message_due_later_is_first_tried_when_due(app_context):
    due = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
    row = queue_message(key="report:daily:2026-12-01:contact:1", due_at=due, **FIELDS)
    db.session.commit()
    assert (row.due_at, row.next_attempt_at) == (due, due)
    assert send_due(due - timedelta(minutes=1)).sent == 0
    assert send_due(due).sent == 1
