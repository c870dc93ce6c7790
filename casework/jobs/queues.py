"""The queues and enqueuing: a no-op returning False when no Redis is configured.

Job ids are deterministic (``letter-<LetterJob.id>``, ``message-<OutboxMessage.id>``), so work
already queued or running is not queued again. Enqueue only after the transaction that wrote the
rows has committed: a worker must find them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from casework.logs import current_request_id

LETTERS = "letters"
MESSAGES = "messages"
QUEUES = (LETTERS, MESSAGES)
# Still to run, or running: queuing it again would only run it twice.
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
# Transient faults (the database or a server away) are retried with back-off; the last failure
# stays in RQ's failed registry, for `casework jobs` and the Messages page, for a week.
RETRY = Retry(max=3, interval=[10, 60, 300])
FAILURE_TTL = 7 * 24 * 3600
TIMEOUTS = {LETTERS: 120, MESSAGES: 180}  # seconds; an email's SMTP timeouts are 30 s each
LOST_NOTE_TTL = 600  # seconds a sweep's note of a job it found in no list is kept
TASKS = {
    LETTERS: "casework.jobs.tasks.render_letter",
    MESSAGES: "casework.jobs.tasks.deliver_message",
}


@lru_cache(maxsize=4)
def _redis(url: str) -> Redis:
    return Redis.from_url(url)


def connection() -> Redis | None:
    """Redis from ``CASEWORK_REDIS_URL``, or None: then letters and messages run in-process."""
    url = current_app.config.get("REDIS_URL")
    return _redis(url) if url else None


def queue(name: str, redis: Redis) -> Queue:
    return Queue(name, connection=redis, default_timeout=TIMEOUTS[name])


def job_id(queue_name: str, row_id: int) -> str:
    return f"{'letter' if queue_name == LETTERS else 'message'}-{row_id}"


def enqueue_letters(letter_job_ids: Iterable[int]) -> bool:
    """Queue each LetterJob's render; False (nothing done) without Redis."""
    return _enqueue(LETTERS, letter_job_ids)


def enqueue_messages(message_ids: Iterable[int]) -> bool:
    """Queue each OutboxMessage's delivery; False (nothing done) without Redis."""
    return _enqueue(MESSAGES, message_ids)


def waiting_ids(target: Queue) -> set[str]:
    """The ids in the queue's list and in its intermediate list (popped by a worker with one
    queue, not yet started)."""
    return set(target.get_job_ids()) | set(target.intermediate_queue.get_job_ids())


def _lost(job: Job) -> bool:
    """A worker on several queues pops a job's id off its list (BLPOP) and then marks it
    started: one killed in between leaves it "queued" but in no list, where RQ never looks.
    A worker takes milliseconds between the two, so a job seen so by two sweeps (a minute apart)
    is lost; the first only notes it."""
    key = f"casework:lost:{job.id}"
    seen = job.enqueued_at.isoformat() if job.enqueued_at else "-"
    if job.connection.set(key, seen, nx=True, ex=LOST_NOTE_TTL):
        return False
    noted = job.connection.get(key)
    if noted is None or noted.decode() != seen:  # a note about an earlier enqueue: note this one
        job.connection.set(key, seen, ex=LOST_NOTE_TTL)
        return False
    job.connection.delete(key)
    return True


def _enqueue(queue_name: str, row_ids: Iterable[int]) -> bool:
    redis = connection()
    if redis is None:
        return False
    target = queue(queue_name, redis)
    for row_id in row_ids:
        enqueue_one(target, row_id)
    return True


def enqueue_one(
    target: Queue,
    row_id: int,
    *,
    requeue_failed: bool = True,
    waiting: set[str] | None = None,
) -> bool:
    """Queue one row's job unless it is queued or running; True when queued now. A finished
    job's leftovers are replaced; a failed one only with ``requeue_failed``. Given ``waiting``
    (the ids in the queue's lists), a job "queued" but in none of them is lost (below)."""
    name = job_id(target.name, row_id)
    try:
        previous = Job.fetch(name, connection=target.connection)
    except NoSuchJobError:
        previous = None
    if previous is not None:
        status = previous.get_status(refresh=False)
        if status == JobStatus.QUEUED and waiting is not None and name not in waiting:
            if not _lost(previous):
                return False
        elif status in ACTIVE or (status == JobStatus.FAILED and not requeue_failed):
            return False
        previous.delete()
    try:
        target.enqueue(
            TASKS[target.name],
            row_id,
            job_id=name,
            unique=True,  # atomic: of two enqueuers at once, one queues it
            retry=RETRY,
            result_ttl=0,  # the database records the outcome
            failure_ttl=FAILURE_TTL,
            meta={"request_id": current_request_id()},
            description=name,
        )
    except DuplicateJobError:
        return False
    return True
