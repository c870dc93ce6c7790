"""Resending a failed message: staff put it back in the queue (casework.messages.outbox.resend,
whose rules the outbox tests cover) and the sender delivers it to the address the person has now."""

from __future__ import annotations

import time_machine

from casework.extensions import db
from casework.messages.outbox import resend
from casework.messages.sender import send_due
from casework.models import ContactKind, MessageStatus, Role
from tests.messages.conftest import NOW, message


def test_a_failed_email_is_resent_to_the_address_the_contact_has_now(
    app_context, make, mailbox, transports
):
    admin = make.user(Role.ADMINISTRATOR)
    contact = make.contact(make.learner(), ContactKind.PARENT_CARER, email="new@example.org")
    db.session.commit()
    mailbox.refuse["old@example.org"] = "550 No such user"
    row = message("absence:mark:1:email:contact:1", "old@example.org", contact_id=contact.id)
    send_due(NOW, transports=transports)
    assert row.status == MessageStatus.FAILED

    with time_machine.travel(NOW, tick=False):  # resent due at once, on the test's clock
        resent = resend(row.id, admin)
    assert (resent.status, resent.address, resent.attempts) == (
        MessageStatus.QUEUED,
        "new@example.org",
        0,
    )
    assert send_due(NOW, transports=transports).sent == 1
    assert [m["To"] for m in mailbox.received] == ["Pat Parent <new@example.org>"]
    assert [a.outcome for a in resent.attempt_log] == ["failed", "resend", "sent"]
