"""What a worker runs, inside the worker's app context (casework.jobs.worker). Each task does its
work through the same code as in-process runs, which is idempotent against the database: a
render finds the letter already stored, a delivery claims its message or finds it gone."""

from __future__ import annotations

from casework.extensions import db
from casework.messages.sender import deliver_one
from casework.models import LetterJob, LetterStatus


class RenderFailed(RuntimeError):
    """The render failed (recorded on the job and the case); raised so RQ retries it."""


def render_letter(letter_job_id: int) -> str:
    # WeasyPrint loads in the worker that renders, not with whoever enqueues.
    from casework.documents.jobs import render_job

    letter = render_job(letter_job_id)
    if letter is not None:
        return f"letter {letter.id}"
    job = db.session.get(LetterJob, letter_job_id)
    if job.status == LetterStatus.REFUSED:  # retrying cannot help: staff must act
        return f"refused: {job.last_error}"
    raise RenderFailed(job.last_error or "the render failed")


def deliver_message(message_id: int) -> str:
    """One message through send_due's claim, attempt and retry policy. A message left to retry
    later is queued again by the sweeper when it is due."""
    return str(deliver_one(message_id))
