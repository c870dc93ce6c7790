"""The sweeper (``casework send-due`` each minute, with Redis): whatever the database says is
waiting gets queued unless RQ has it queued or running, so a crash between a commit and its
enqueue, a flushed Redis, or a killed worker loses nothing. Also what `casework jobs` shows."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from casework.jobs.queues import (
    LETTERS,
    MESSAGES,
    QUEUES,
    enqueue_one,
    job_id,
    queue,
    waiting_ids,
)
from casework.messages.sender import due_message_ids


@dataclass
class Swept:
    letters: int = 0  # letter jobs queued by this sweep
    messages: int = 0  # due messages queued by this sweep
    reclaimed: list[str] = field(default_factory=list)  # jobs of dead workers, queued again

    def __str__(self) -> str:
        text = f"queued {self.letters} letter(s) and {self.messages} message(s)"
        if self.reclaimed:
            text += f"; {len(self.reclaimed)} job(s) of stopped workers queued again"
        return text


def sweep(redis: Redis, now: datetime | None = None) -> Swept:
    """Queue every pending or failed letter job and every due message that RQ does not hold, or
    has lost (a worker killed between taking a job and starting it); a job RQ gave up on waits
    in its failed registry for `casework jobs --retry-failed`."""
    swept = Swept(reclaimed=reclaim_abandoned(redis))
    swept.letters = queue_letters_waiting(redis)
    swept.messages = _queue_unheld(queue(MESSAGES, redis), due_message_ids(now))
    return swept


def queue_letters_waiting(redis: Redis) -> int:
    """Queue every letter job waiting (pending, or failed and to be retried) that RQ does not
    hold, or has lost; how many were queued. The sweeper's, and the scan's once it commits."""
    from casework.documents.jobs import pending_jobs  # WeasyPrint: not with the web app

    return _queue_unheld(queue(LETTERS, redis), pending_jobs())


def _queue_unheld(target: Queue, ids: list[int]) -> int:
    waiting = waiting_ids(target)
    return sum(enqueue_one(target, i, requeue_failed=False, waiting=waiting) for i in ids)


def reclaim_abandoned(redis: Redis, names: tuple[str, ...] = QUEUES) -> list[str]:
    """Jobs a dead worker left "started": RQ's own clean-up (a job whose worker stopped beating
    is retried), then, at once, those whose worker was on this machine and is gone (a SIGKILL
    leaves its job in the started registry until its heartbeat runs out: the job's timeout)."""
    reclaimed = []
    for name in names:
        target = queue(name, redis)
        registry = StartedJobRegistry(queue=target)
        registry.cleanup()
        for entry in registry.get_job_ids(cleanup=False):
            job = Job.fetch(entry, connection=redis) if Job.exists(entry, redis) else None
            if job is None or job.get_status() != JobStatus.STARTED or _worker_alive(job, redis):
                continue
            job.delete()
            row_id = int(job.args[0])
            if enqueue_one(target, row_id):
                reclaimed.append(job_id(name, row_id))
    return reclaimed


def _worker_alive(job: Job, redis: Redis) -> bool:
    if not job.worker_name:
        return True  # not ours to judge
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, redis)
    if worker is None:
        return False  # its key expired: it stopped beating
    if worker.hostname != socket.gethostname() or not worker.pid:
        return True  # another machine's: RQ's clean-up judges it by its heartbeat
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class FailedJob:
    id: str
    function: str
    args: tuple
    ended_at: datetime | None
    error: str


@dataclass
class QueueState:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: list[FailedJob]


def queue_states(redis: Redis) -> list[QueueState]:
    states = []
    for name in QUEUES:
        target = queue(name, redis)
        failed_ids = FailedJobRegistry(queue=target).get_job_ids()
        failed = [
            FailedJob(
                id=job.id,
                function=job.func_name,
                args=job.args,
                ended_at=job.ended_at,
                error=_last_line(job),
            )
            for job in Job.fetch_many(failed_ids, connection=redis)
            if job is not None
        ]
        states.append(
            QueueState(
                name=name,
                queued=target.count,
                started=StartedJobRegistry(queue=target).count,
                scheduled=ScheduledJobRegistry(queue=target).count,
                failed=failed,
            )
        )
    return states


def retry_failed(redis: Redis) -> int:
    """Queue every failed job again; how many."""
    count = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(name, redis))
        for failed in registry.get_job_ids():
            registry.requeue(failed)
            count += 1
    return count


@dataclass(frozen=True)
class Backlog:
    failed: int  # given up: waiting for `casework jobs --retry-failed`
    retrying: int  # failed, waiting out their back-off


def backlog(redis: Redis) -> Backlog:
    targets = [queue(name, redis) for name in QUEUES]
    return Backlog(
        failed=sum(FailedJobRegistry(queue=q).count for q in targets),
        retrying=sum(ScheduledJobRegistry(queue=q).count for q in targets),
    )


def _last_line(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
