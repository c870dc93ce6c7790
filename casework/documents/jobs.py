"""Rendering letter jobs after their transition has committed.

One letter per event, template, recipient and template version, however often this runs. A
render that fails marks its job failed with the reason (visible on the case) and is retried by
the next run; it never touches the transition, which committed before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from weasyprint.urls import FatalURLFetchingError

from casework.documents.render import LetterRefused, letter_data, letter_pdf, template_version
from casework.extensions import db
from casework.models import Letter, LetterJob, LetterStatus
from casework.models.types import utcnow

MAX_ERROR = 2000


def render_job(job_id: int) -> Letter | None:
    """Render one job (if it has no letter yet); commits. None when the render failed."""
    job = db.session.get(LetterJob, job_id)
    if job is None:
        raise LookupError(f"no letter job {job_id}")
    version = template_version(job.template)
    existing = _existing(job, version)
    if existing is not None:
        _mark_rendered(job)
        db.session.commit()
        return existing
    try:
        # Read-only until the PDF exists: nothing is flushed, so on SQLite no worker holds the
        # write lock through a render and parallel workers really run side by side.
        data = letter_data(job.snapshot, job.id)
        pdf = letter_pdf(data)
    except (Exception, FatalURLFetchingError) as exc:  # the job records why, the case shows it
        job.attempts += 1
        refused = isinstance(exc, LetterRefused)  # retrying cannot help: staff must act
        job.status = LetterStatus.REFUSED if refused else LetterStatus.FAILED
        reason = str(exc) if refused else f"{type(exc).__name__}: {exc}"
        job.last_error = reason[:MAX_ERROR]
        db.session.commit()
        return None
    letter = Letter(
        job_id=job.id,
        case_id=job.case_id,
        event_id=job.event_id,
        template=job.template,
        template_version=version,
        recipient_kind=job.recipient_kind,
        recipient_key=job.recipient_key,
        recipient_name=data["recipient"]["name"],
        reference=data["reference"],
        sha256=hashlib.sha256(pdf).hexdigest(),
        pdf=pdf,
        size=len(pdf),
        rendered_at=utcnow(),
    )
    db.session.add(letter)
    job.attempts += 1
    _mark_rendered(job)
    try:
        db.session.commit()
    except IntegrityError:  # another worker rendered it first: keep theirs
        db.session.rollback()
        job = db.session.get(LetterJob, job_id)
        return _existing(job, version)
    return letter


def render_jobs(job_ids: Iterable[int]) -> tuple[int, int]:
    """Render each job; (rendered, failed)."""
    rendered = failed = 0
    for job_id in job_ids:
        if render_job(job_id) is None:
            failed += 1
        else:
            rendered += 1
    return rendered, failed


def pending_jobs() -> list[int]:
    """Jobs waiting for a letter or to be retried, oldest first (not refused ones)."""
    return list(
        db.session.scalars(
            select(LetterJob.id)
            .where(LetterJob.status.in_([LetterStatus.PENDING, LetterStatus.FAILED]))
            .order_by(LetterJob.id)
        )
    )


def _existing(job: LetterJob, version: str) -> Letter | None:
    return db.session.scalars(
        select(Letter).where(
            Letter.event_id == job.event_id,
            Letter.template == job.template,
            Letter.recipient_key == job.recipient_key,
            Letter.template_version == version,
        )
    ).one_or_none()


def _mark_rendered(job: LetterJob) -> None:
    job.status = LetterStatus.RENDERED
    job.last_error = None


def render_after_commit(jobs: list[LetterJob]) -> None:
    """A staff action's letters are rendered straight after its commit. A failure stays on the
    job (and the case) for the next run; it never undoes or hides the committed action."""
    if not jobs or not current_app.config.get("RENDER_LETTERS_ON_ACTION", True):
        return
    job_ids = [job.id for job in jobs]
    try:
        render_jobs(job_ids)
    except Exception:  # e.g. the database went away mid-render: the jobs stay pending
        db.session.rollback()
        current_app.logger.exception("rendering letters %s failed; they stay pending", job_ids)
