"""Job queue fixtures: the app with the test Redis configured (emptied before and after), and a
worker run in this process until the queues are empty."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from redis import Redis

from casework.extensions import db
from casework.jobs.queues import QUEUES, queue
from casework.jobs.worker import AppWorker
from tests.documents.conftest import case_003, rendering  # noqa: F401 (shared fixtures)
from tests.views.conftest import new_client  # noqa: F401


@pytest.fixture
def queues(app, app_context, redis_url, monkeypatch) -> Iterator[Redis]:
    """``CASEWORK_REDIS_URL`` set: letters and messages go to the test Redis's queues."""
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    yield redis
    redis.flushdb()
    redis.close()


@pytest.fixture
def work(app, queues) -> callable:
    """``work()`` runs a real worker here until the queues are empty; how many jobs it ran."""

    def run() -> int:
        db.session.commit()  # the worker's own session must see what the test wrote
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        worker = AppWorker([queue(name, queues) for name in QUEUES], connection=queues, app=app)
        ran = []
        execute = worker.execute_job

        def counted(job, job_queue) -> None:
            ran.append(job.id)
            execute(job, job_queue)

        worker.execute_job = counted
        try:
            worker.work(burst=True)
        finally:
            for number, handler in handlers.items():  # RQ installs its own
                signal.signal(number, handler)
        db.session.expire_all()
        return len(ran)

    return run
