"""What callers do once their transaction has committed: queue the letters and messages it made
(with Redis), or render in-process as before (without). Redis being away never undoes or hides
the committed action: the letters render here instead, and the sweeper queues the messages."""

from __future__ import annotations

import logging

from flask import current_app
from redis import RedisError

from casework.extensions import db
from casework.jobs.queues import connection, enqueue_letters, enqueue_messages
from casework.jobs.sweep import queue_letters_waiting
from casework.messages.sender import due_message_ids
from casework.models import LetterJob

log = logging.getLogger(__name__)


def letters_after_commit(jobs: list[LetterJob]) -> None:
    """A staff action's letters: queued for a worker, else rendered at once in this process."""
    if not jobs or not current_app.config.get("RENDER_LETTERS_ON_ACTION", True):
        return
    ids = [job.id for job in jobs]
    try:
        if enqueue_letters(ids):
            return
    except RedisError:
        log.exception("queuing letters %s failed; rendering them here", ids)
    # WeasyPrint loads only where letters render, not with the app.
    from casework.documents.jobs import render_after_commit

    render_after_commit(jobs)


def pending_letters_after_commit() -> bool:
    """The letter jobs a scan made (and any other waiting): queued with Redis (True), as the
    sweeper queues them; else they wait for `casework render-letters`."""
    redis = connection()
    if redis is None:
        return False
    try:
        queue_letters_waiting(redis)
    except RedisError:  # the sweeper queues them within the minute
        log.exception("queuing the waiting letters failed; the sweeper will queue them")
        return False
    finally:
        db.session.rollback()  # end the read
    return True


def messages_due_after_commit() -> bool:
    """Messages an import made that are due now: queued with Redis (True). Later ones, and
    everything without Redis, wait for `casework send-due`."""
    if not current_app.config.get("REDIS_URL"):
        return False
    return _quietly(enqueue_messages, due_message_ids())


def _quietly(enqueue, ids: list[int]) -> bool:
    try:
        return enqueue(ids)
    except RedisError:  # the sweeper queues them within the minute
        log.exception("queuing %s failed; the sweeper will queue them", ids[:20])
        return False
