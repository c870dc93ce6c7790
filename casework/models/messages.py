"""The outbox: every email and text message casework sends, each attempt to send it, and the
reports it builds. A message row is written in the same transaction as the mark, event or report
that caused it, then delivered by the sender (``casework send-due``), which never sends the same
row twice (its ``key`` is unique, and is the idempotency key given to providers that take one)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.types import UTCDateTime, str_enum, utcnow


class MessageChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class MessageKind(enum.StrEnum):
    ABSENCE = "absence"  # an absence alert caused by a mark
    LETTER = "letter"  # a letter sent by email, the PDF attached
    REPORT = "report"  # a report sent to a school or to staff, CSV and PDF attached


class MessageStatus(enum.StrEnum):
    WAITING = "waiting"  # for its letter to be rendered and, where the policy says, approved
    QUEUED = "queued"  # due at ``due_at``, or retrying at ``next_attempt_at``
    SENDING = "sending"  # claimed by a sender until ``claimed_until``
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt: staff see why and may resend
    NO_ADDRESS = "no_address"  # the recipient has no address for its channel: a gap to fix
    CANCELLED = "cancelled"  # no longer true (mark corrected, absence reported, letter returned)

    @property
    def final(self) -> bool:
        return self in (MessageStatus.SENT, MessageStatus.CANCELLED)


class Report(db.Model):
    """A report built once for its day or session and kept: sending it again sends these bytes."""

    __tablename__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "main_school_daily:2026-12-01:programme:3"; building it twice finds this row.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    report_date: Mapped[date] = mapped_column(index=True)
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programme.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("session.id"))
    title: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int]
    csv: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(db.Model):
    """One email or text message to one recipient."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What it is about and for whom, e.g. "absence:mark:123:sms:contact:5": writing it twice
    # fails on this index, and providers with idempotency keys are given it.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind, "message_kind"))
    channel: Mapped[MessageChannel] = mapped_column(str_enum(MessageChannel, "message_channel"))
    # Whose staff may see it (the outbox pages are scoped by programme).
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programme.id"), index=True)
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learner.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    # learner, parent_carer, employer, main_school, commissioning_school, staff
    recipient_kind: Mapped[str] = mapped_column(String(30))
    recipient_name: Mapped[str] = mapped_column(String(200))
    # Email address or phone number, read from the person when queued (and again on resend).
    address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # What caused it: the sender checks it still holds before sending.
    mark_id: Mapped[int | None] = mapped_column(ForeignKey("mark.id"), index=True)
    mark_code_id: Mapped[int | None] = mapped_column(ForeignKey("mark_code.id"))
    letter_job_id: Mapped[int | None] = mapped_column(ForeignKey("letter_job.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), index=True)
    status: Mapped[MessageStatus] = mapped_column(
        str_enum(MessageStatus, "message_status"), default=MessageStatus.QUEUED
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Why it was cancelled, or what is missing (NO_ADDRESS), in words staff can act on.
    reason: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="message", order_by="DeliveryAttempt.id"
    )
    report: Mapped[Report | None] = relationship()

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.key} {self.status}>"


class DeliveryAttempt(db.Model):
    """One try at handing a message to the SMTP server or the text message provider."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # sent, failed, or null while the attempt runs (a sender that died mid-attempt leaves it so)
    outcome: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(200))

    message: Mapped[OutboxMessage] = relationship(back_populates="attempt_log")


def queue_message(**fields: object) -> OutboxMessage | None:
    """Add an outbox row to the session unless a row with its ``key`` exists already, stored or
    pending in this session (None then). Does not commit: the caller's transaction writes it with
    whatever caused it. Two transactions racing on one key still meet the unique index."""
    key = fields["key"]
    for pending in db.session.new:
        if isinstance(pending, OutboxMessage) and pending.key == key:
            return None
    # No autoflush: a caller writing many rows (a register import) flushes them once, not per row.
    with db.session.no_autoflush:
        if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
            return None
    message = OutboxMessage(**fields)
    db.session.add(message)
    return message
