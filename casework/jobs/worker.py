"""The RQ worker: one app per process, built once, and each job run in its app context with the
request id of the request that caused it. A SimpleWorker: jobs run in this process, so the
database pool and WeasyPrint's font configuration (one per thread) are made once, not per job;
SIGTERM lets the current job finish (RQ's warm shutdown)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

from casework.extensions import db
from casework.logs import bind_request_id


class AppWorker(SimpleWorker):
    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = app

    def execute_job(self, job: Job, queue: Queue) -> None:
        undo = bind_request_id(job.meta.get("request_id"))
        try:
            with self.app.app_context():
                try:
                    super().execute_job(job, queue)
                finally:
                    db.session.remove()
        finally:
            undo()
