"""Letters that go by email: an outbox message per email letter job, waiting until the letter
is rendered and released.

The messages are written here, by ``casework send-due``, not where the jobs are recorded: the
nightly scan records thousands of jobs in one INSERT, and a message's key needs its job's id
(a flush per case). The sweep is keyed by the job (``letter:job:<id>``) and finds every email
job without a message, so none is lost, whichever sender runs it and however often."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from casework.extensions import db
from casework.messages.transports import Attachment
from casework.models import (
    Case,
    Contact,
    Letter,
    LetterApproval,
    LetterJob,
    LetterStatus,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    queue_message,
)


def letter_key(job_id: int) -> str:
    return f"letter:job:{job_id}"


def queue_letter_emails(now: datetime) -> int:
    """An outbox message (WAITING) for each email letter job that has none; commits. How many."""
    jobs = db.session.scalars(
        select(LetterJob)
        .where(
            LetterJob.channel == "email",
            ~exists().where(OutboxMessage.letter_job_id == LetterJob.id),
        )
        .order_by(LetterJob.id)
    ).all()
    queued = 0
    for job in jobs:
        if queue_message(**_fields(job, now)) is not None:
            queued += 1
    try:
        db.session.commit()
    except IntegrityError:  # another sender queued them at the same moment: theirs stand
        db.session.rollback()
        return 0
    return queued


def _fields(job: LetterJob, now: datetime) -> dict[str, object]:
    case = db.session.get(Case, job.case_id)
    learner = case.enrolment.learner
    person = learner if job.contact_id is None else db.session.get(Contact, job.contact_id)
    name = learner.full_name if job.contact_id is None else person.name
    snapshot = job.snapshot or {}
    email = (person.email or "").strip() or None
    provider = (snapshot.get("provider") or {}).get("name") or "Casework"
    title = snapshot.get("title") or job.template.replace("_", " ").capitalize()
    return {
        "key": letter_key(job.id),
        "kind": MessageKind.LETTER,
        "channel": MessageChannel.EMAIL,
        "programme_id": case.enrolment.programme_id,
        "learner_id": learner.id,
        "contact_id": job.contact_id,
        "recipient_kind": job.recipient_kind,
        "recipient_name": name,
        "address": email,
        "subject": f"{title}: {learner.full_name}"[:200],
        "body": (
            f"Dear {name},\n\n"
            f"Please find attached a letter from {provider} about {learner.full_name}"
            f"{' (' + snapshot['programme'] + ')' if snapshot.get('programme') else ''}.\n\n"
            "The letter is a PDF file. If you cannot open it, please reply to this email.\n"
        ),
        "letter_job_id": job.id,
        "status": MessageStatus.WAITING if email else MessageStatus.NO_ADDRESS,
        "reason": None
        if email
        else f"{name} has no email address: add one, or a postal address to send it by post",
        "due_at": now,
        "next_attempt_at": now,
    }


def letter_cause(message: OutboxMessage) -> tuple[str, str | None]:
    """("send", None) when the letter is rendered and released, ("wait", None) until then,
    ("cancel", why) when it will never go."""
    job = db.session.get(LetterJob, message.letter_job_id)
    if job is None:
        return "cancel", "the letter no longer exists"
    if job.approval == LetterApproval.RETURNED:
        note = f": {job.approval_note}" if job.approval_note else ""
        return "cancel", f"the head of programme returned the letter{note}"
    if job.status == LetterStatus.REFUSED:
        return "cancel", f"the letter cannot be produced: {job.last_error}"
    if job.status != LetterStatus.RENDERED or not job.approval.released:
        return "wait", None
    return "send", None


def letter_attachment(message: OutboxMessage) -> Attachment:
    """The letter's stored PDF, byte for byte (its latest template version)."""
    letter = db.session.scalars(
        select(Letter).where(Letter.job_id == message.letter_job_id).order_by(Letter.id.desc())
    ).first()
    if letter is None:
        raise LookupError(f"letter job {message.letter_job_id} has no rendered letter")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", letter.reference).strip("-") or str(letter.id)
    return Attachment(f"letter-{safe}.pdf", "application/pdf", letter.pdf)
