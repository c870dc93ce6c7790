"""Staff resend a message that failed, or one that lacked an address once it is added: the same
row (its key, so its Message-ID and Notify reference, and its attempts so far) goes back in the
queue, to the address the person has now."""

from __future__ import annotations

from datetime import datetime

from casework.errors import NotAllowed, NotFound
from casework.extensions import db
from casework.models import Contact, Learner, MessageChannel, MessageStatus, OutboxMessage
from casework.models.types import utcnow

RESENDABLE = (MessageStatus.FAILED, MessageStatus.NO_ADDRESS)


def resend(message_id: int, now: datetime | None = None) -> OutboxMessage:
    """Queue the message again, due at once, with a fresh count of attempts; commits. A person
    who still has no address for the channel leaves it NO_ADDRESS, saying so."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    if message.status not in RESENDABLE:
        raise NotAllowed(
            f"only a failed message, or one that lacked an address, can be resent: this one is "
            f"{message.status.value}",
            allowed=[s.value for s in RESENDABLE],
        )
    now = now or utcnow()
    address = current_address(message)
    if address is None:
        message.status = MessageStatus.NO_ADDRESS
        what = "email address" if message.channel == MessageChannel.EMAIL else "mobile number"
        message.reason = f"{message.recipient_name} has no {what}: add one, then resend"
    else:
        message.address = address
        message.status = MessageStatus.QUEUED
        message.reason = None
        message.last_error = None
        message.attempts = 0
        message.next_attempt_at = now
        message.claimed_until = None
    db.session.commit()
    return message


def current_address(message: OutboxMessage) -> str | None:
    """The recipient's address for the channel as it stands (staff and schools' addresses,
    held on the message only, are kept)."""
    person: Learner | Contact | None = None
    if message.contact_id is not None:
        person = db.session.get(Contact, message.contact_id)
    elif message.recipient_kind == "learner" and message.learner_id is not None:
        person = db.session.get(Learner, message.learner_id)
    if person is None:
        return (message.address or "").strip() or None
    value = person.email if message.channel == MessageChannel.EMAIL else person.phone
    return (value or "").strip() or None
