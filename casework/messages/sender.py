"""Delivering the outbox: ``send_due`` hands each due message to its transport, once.

A message is claimed by a conditional UPDATE (queued and due, or ``sending`` with its lease
run out: a sender killed mid-run gives its rows back) and the claim is committed with a
DeliveryAttempt row before the server is contacted, so two senders at once never take the same
row and every try is on record. Just before the point of no return (the end of an email's
DATA) the attempt is marked ``unknown`` and committed: a sender killed before then left a
message known not to be sent (retried); one killed after left one that may have arrived. An
email whose outcome is unknown is not resent (SMTP has no idempotency key): it fails with the
reason, for staff to check and resend. A text message is retried, because Notify is first
asked whether it has the message's reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from casework.extensions import db
from casework.messages.letter_emails import letter_attachment, letter_cause, queue_letter_emails
from casework.messages.transports import (
    Attachment,
    DeliveryError,
    OutcomeUnknown,
    Outgoing,
    Transport,
    TransportConfigError,
    transports_from,
)
from casework.models import (
    DeliveryAttempt,
    LetterApproval,
    LetterJob,
    LetterStatus,
    Mark,
    MarkCode,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Report,
)
from casework.models.types import utcnow

log = logging.getLogger(__name__)

MAX_ERROR = 2000
UNKNOWN = "unknown"  # DeliveryAttempt.outcome once the message may be with the server


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    cancelled: int = 0
    letters_queued: int = 0  # letter emails added to the outbox by this run
    released: int = 0  # waiting letter emails whose letter was rendered and released

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, failed {self.failed}, retrying {self.retrying}, "
            f"cancelled {self.cancelled}"
        )


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay: timedelta
    max_delay: timedelta
    lease: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> RetryPolicy:
        def number(name: str, default: float) -> float:
            value = config.get(name, default)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = -1
            if number <= 0:
                raise TransportConfigError(f"CASEWORK_{name} is {value!r}: give a number above 0")
            return number

        return cls(
            max_attempts=int(number("SEND_MAX_ATTEMPTS", 5)),
            base_delay=timedelta(seconds=number("SEND_RETRY_BASE_SECONDS", 60)),
            max_delay=timedelta(seconds=number("SEND_RETRY_MAX_SECONDS", 6 * 3600)),
            # Longer than any one attempt can take (the SMTP and Notify timeouts are 30 s).
            lease=timedelta(seconds=number("SEND_LEASE_SECONDS", 600)),
        )

    def delay(self, attempts: int) -> timedelta:
        return min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay)


def send_due(
    now: datetime | None = None,
    *,
    transports: Mapping[MessageChannel, Transport] | None = None,
) -> SendSummary:
    """Deliver every message due at ``now`` (default: the clock, read afresh for each claim);
    commits as it goes. Safe to run twice at once, and to run again after a kill."""
    clock, policy, transports = _setup(now, transports)
    summary = prepare_outbox(clock())
    seen: set[int] = set()
    while True:
        batch = [i for i in _due_ids(clock()) if i not in seen]
        if not batch:
            return summary
        for message_id in batch:
            seen.add(message_id)
            _deliver(message_id, clock, policy, transports, summary)


def deliver_one(
    message_id: int,
    now: datetime | None = None,
    *,
    transports: Mapping[MessageChannel, Transport] | None = None,
) -> SendSummary:
    """Deliver one message if it is due (a job worker's unit of work): the same claim, attempt
    record and retry policy as ``send_due``, so running it twice, or beside ``send_due``, sends
    it once."""
    clock, policy, transports = _setup(now, transports)
    summary = SendSummary()
    _deliver(message_id, clock, policy, transports, summary)
    return summary


def prepare_outbox(at: datetime) -> SendSummary:
    """Queue the emails of letters rendered since the last run and release the waiting ones
    whose letter moved on; commits."""
    summary = SendSummary()
    summary.letters_queued = queue_letter_emails(at)
    summary.released = _release_letters(summary)
    return summary


def due_message_ids(now: datetime | None = None) -> list[int]:
    """Every message due at ``now`` (default: the clock), oldest first."""
    return _due_ids(now or utcnow(), limit=None)


def _setup(
    now: datetime | None, transports: Mapping[MessageChannel, Transport] | None
) -> tuple[Callable[[], datetime], RetryPolicy, Mapping[MessageChannel, Transport]]:
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    config = current_app.config
    policy = RetryPolicy.from_config(config)
    return clock, policy, transports if transports is not None else transports_from(config)


def _due(at: datetime):
    return or_(
        and_(
            OutboxMessage.status == MessageStatus.QUEUED,
            OutboxMessage.next_attempt_at <= at,
            OutboxMessage.due_at <= at,
        ),
        and_(OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.claimed_until < at),
    )


def _due_ids(at: datetime, limit: int | None = 100) -> list[int]:
    ids = db.session.scalars(
        select(OutboxMessage.id)
        .where(_due(at))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.rollback()  # end the read: no transaction stays open between claims
    return list(ids)


def _release_letters(summary: SendSummary) -> int:
    """Waiting letter emails whose letter is now rendered and released are queued; returned
    ones are cancelled. Conditional on still waiting, as two senders may both look."""
    released = 0
    # Only those whose letter moved on: letters awaiting approval may wait for days.
    moved_on = or_(
        and_(
            LetterJob.status == LetterStatus.RENDERED,
            LetterJob.approval.in_([a for a in LetterApproval if a.released]),
        ),
        LetterJob.approval == LetterApproval.RETURNED,
        LetterJob.status == LetterStatus.REFUSED,
    )
    waiting = db.session.scalars(
        select(OutboxMessage)
        .join(LetterJob, LetterJob.id == OutboxMessage.letter_job_id)
        .where(OutboxMessage.status == MessageStatus.WAITING, moved_on)
    ).all()
    for message in waiting:
        verdict, reason = letter_cause(message)
        if verdict == "wait":
            continue
        values = (
            {"status": MessageStatus.QUEUED}
            if verdict == "send"
            else {"status": MessageStatus.CANCELLED, "reason": reason}
        )
        changed = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.status == MessageStatus.WAITING)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed and verdict == "send":
            released += 1
        elif changed:
            summary.cancelled += 1
    db.session.commit()
    return released


def _claim(message_id: int, at: datetime, lease: timedelta) -> bool:
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _due(at))
        .values(status=MessageStatus.SENDING, claimed_until=at + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()  # another sender has it
        return False
    return True


def _deliver(
    message_id: int,
    clock: Callable[[], datetime],
    policy: RetryPolicy,
    transports: Mapping[MessageChannel, Transport],
    summary: SendSummary,
) -> None:
    at = clock()
    if not _claim(message_id, at, policy.lease):
        return
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    transport = transports[message.channel]
    can_ask = transport.can_look_up

    # A sender that died holding this row left an attempt without an outcome.
    dangling = _dangling_attempt(message)
    if dangling is not None:
        dangling.finished_at = at
        if dangling.outcome == UNKNOWN and not can_ask:
            dangling.error = "the sender stopped after handing the message to the server"
            _fail(message, _unknown_reason(dangling.error), summary)
            db.session.commit()
            return
        dangling.error = (
            "the sender stopped while handing it over: the provider is asked before resending"
            if dangling.outcome == UNKNOWN
            else "the sender stopped before handing it over"
        )
        dangling.outcome = dangling.outcome or "failed"

    verdict, reason = _cause(message)
    if verdict != "send":
        message.status = MessageStatus.WAITING if verdict == "wait" else MessageStatus.CANCELLED
        message.reason = reason
        message.claimed_until = None
        summary.cancelled += verdict == "cancel"
        db.session.commit()
        return
    try:
        outgoing = _outgoing(message)
    except (LookupError, ValueError) as exc:
        _fail(message, str(exc), summary)
        db.session.commit()
        return
    message.attempts += 1
    retry = message.attempts > 1
    attempt = DeliveryAttempt(message_id=message.id, started_at=at)
    db.session.add(attempt)
    db.session.commit()  # the claim and the attempt are on record before the server is asked
    attempt_id = attempt.id

    def handing_over() -> None:
        # Past here the server may have it: a kill leaves this on record.
        db.session.execute(
            update(DeliveryAttempt).where(DeliveryAttempt.id == attempt_id).values(outcome=UNKNOWN)
        )
        db.session.commit()

    try:
        provider_ref = transport.already_sent(outgoing) if retry else None
        if provider_ref is None:
            provider_ref = transport.send(outgoing, handing_over)
    except OutcomeUnknown as exc:
        outcome = Outcome(UNKNOWN, str(exc))
    except DeliveryError as exc:
        outcome = Outcome("failed", str(exc), permanent=exc.permanent)
    except Exception as exc:  # a fault of ours: on record, retried, and the run goes on
        log.exception("sending outbox message %s failed", message_id)
        db.session.rollback()
        outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
    else:
        outcome = Outcome("sent", provider_ref=provider_ref)
    _record(message_id, attempt_id, outcome, max(clock(), at), can_ask, policy, summary)


@dataclass(frozen=True)
class Outcome:
    outcome: str  # sent, failed, unknown
    error: str | None = None
    provider_ref: str | None = None
    permanent: bool = False


def _record(
    message_id: int,
    attempt_id: int,
    result: Outcome,
    done: datetime,
    can_ask: bool,
    policy: RetryPolicy,
    summary: SendSummary,
) -> None:
    """The attempt's outcome, and what becomes of the message: sent, retried or failed."""
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    attempt = db.session.get(DeliveryAttempt, attempt_id, populate_existing=True)
    error = result.error[:MAX_ERROR] if result.error else None
    attempt.finished_at = done
    attempt.outcome = result.outcome
    attempt.error = error
    attempt.provider_ref = result.provider_ref
    message.claimed_until = None
    if result.outcome == "sent":
        message.status = MessageStatus.SENT
        message.sent_at = done
        message.provider_ref = result.provider_ref
        message.last_error = None
        summary.sent += 1
    elif result.outcome == UNKNOWN and not can_ask:
        _fail(message, _unknown_reason(error), summary)
    elif result.permanent or message.attempts >= policy.max_attempts:
        why = error if result.permanent else f"gave up after {message.attempts} attempts: {error}"
        _fail(message, why, summary)
    else:
        message.status = MessageStatus.QUEUED
        message.next_attempt_at = done + policy.delay(message.attempts)
        message.last_error = error
        summary.retrying += 1
    db.session.commit()


def _dangling_attempt(message: OutboxMessage) -> DeliveryAttempt | None:
    last = message.attempt_log[-1] if message.attempt_log else None
    if last is not None and last.outcome in (None, UNKNOWN) and last.finished_at is None:
        return last
    return None


def _unknown_reason(error: str | None) -> str:
    return (
        f"it may have been delivered: {error}. Email cannot be asked, so it was not sent "
        "again: check with the recipient before resending"
    )


def _fail(message: OutboxMessage, why: str, summary: SendSummary) -> None:
    message.status = MessageStatus.FAILED
    message.last_error = why[:MAX_ERROR]
    message.claimed_until = None
    summary.failed += 1


def _cause(message: OutboxMessage) -> tuple[str, str | None]:
    """Whether what caused the message still holds: ("send" | "wait" | "cancel", reason)."""
    if message.letter_job_id is not None:
        return letter_cause(message)
    if message.mark_id is not None:
        mark = db.session.get(Mark, message.mark_id)
        if mark is None:
            return "cancel", "the mark was removed before it was sent"
        if message.mark_code_id is not None and mark.code_id != message.mark_code_id:
            code = db.session.get(MarkCode, mark.code_id)
            return "cancel", f"the mark was corrected to {code.code} before it was sent"
    return "send", None


def _outgoing(message: OutboxMessage) -> Outgoing:
    if not (message.address or "").strip():
        raise ValueError(f"{message.recipient_name} has no address for {message.channel.value}")
    attachments: tuple[Attachment, ...] = ()
    if message.kind == MessageKind.LETTER:
        attachments = (letter_attachment(message),)
    elif message.kind == MessageKind.REPORT and message.report_id is not None:
        report = db.session.get(Report, message.report_id)
        if report is None:
            raise LookupError(f"report {message.report_id} no longer exists")
        stem = f"{report.name}-{report.report_date.isoformat()}"
        attachments = (
            Attachment(f"{stem}.csv", "text/csv", report.csv),
            Attachment(f"{stem}.pdf", "application/pdf", report.pdf),
        )
    return Outgoing(
        key=message.key,
        address=message.address.strip(),
        name=message.recipient_name,
        subject=message.subject,
        body=message.body,
        attachments=attachments,
    )
