"""Resending a failed message, or one whose recipient now has an address."""

from __future__ import annotations

import pytest

from casework.errors import NotAllowed, NotFound
from casework.extensions import db
from casework.messages.resend import resend
from casework.messages.sender import send_due
from casework.models import ContactKind, MessageStatus
from tests.messages.conftest import NOW, message


def test_a_failed_email_is_resent_to_the_address_the_contact_has_now(
    app_context, make, mailbox, transports
):
    contact = make.contact(make.learner(), ContactKind.PARENT_CARER, email="new@example.org")
    db.session.commit()
    mailbox.refuse["old@example.org"] = "550 No such user"
    row = message("absence:mark:1:email:contact:1", "old@example.org", contact_id=contact.id)
    send_due(NOW, transports=transports)
    assert row.status == MessageStatus.FAILED

    resent = resend(row.id, NOW)
    assert (resent.status, resent.address, resent.attempts) == (
        MessageStatus.QUEUED,
        "new@example.org",
        0,
    )
    assert send_due(NOW, transports=transports).sent == 1
    assert [m["To"] for m in mailbox.received] == ["Pat Parent <new@example.org>"]
    assert [a.outcome for a in resent.attempt_log] == ["failed", "sent"]


def test_a_contact_still_without_a_number_stays_a_gap_to_fix(app_context, make):
    contact = make.contact(make.learner(), ContactKind.PARENT_CARER, name="Pat Parent")
    db.session.commit()
    row = message(
        "absence:mark:1:sms:contact:1",
        None,
        channel="sms",
        contact_id=contact.id,
        status=MessageStatus.NO_ADDRESS,
    )

    resent = resend(row.id, NOW)

    assert resent.status == MessageStatus.NO_ADDRESS
    assert resent.reason == "Pat Parent has no mobile number: add one, then resend"


@pytest.mark.parametrize("status", [MessageStatus.QUEUED, MessageStatus.SENT])
def test_only_failed_or_addressless_messages_are_resent(app_context, status):
    row = message("absence:mark:1:email:learner", status=status)
    with pytest.raises(NotAllowed, match=f"this one is {status.value}"):
        resend(row.id)


def test_resending_a_message_that_is_not_there_says_so(app_context):
    with pytest.raises(NotFound, match="no message 404"):
        resend(404)
