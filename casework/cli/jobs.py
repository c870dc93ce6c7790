"""Job queue commands: run a worker, and see (and retry) the queues' work."""

from __future__ import annotations

import logging
import os
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from casework.cli.processes import die_with
from casework.extensions import db
from casework.jobs.queues import QUEUES, connection, queue


def _redis():
    redis = connection()
    if redis is None:
        raise click.ClickException(
            "CASEWORK_REDIS_URL is not set: letters and messages run in-process "
            "(render-letters, send-due), with no queue to work on."
        )
    return redis


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
@click.option(
    "--queue",
    "names",
    multiple=True,
    type=click.Choice(QUEUES),
    help="A queue to work on (repeat for more); both by default.",
)
@with_appcontext
def worker_command(burst: bool, names: tuple[str, ...]) -> None:
    """Run an RQ worker rendering letters and delivering messages; SIGTERM lets its current job
    finish. Run as many as you like, on as many machines."""
    from casework.jobs.sweep import reclaim_abandoned
    from casework.jobs.worker import AppWorker

    redis = _redis()
    names = names or QUEUES
    # RQ forks its scheduler (retries' back-off) from here: it ends with this worker, even one
    # killed by SIGKILL, rather than lingering with the scheduler's lock.
    parent = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with(parent))
    # A worker of this machine killed mid-job left it "started": queue it again now.
    for reclaimed in reclaim_abandoned(redis, names):
        click.echo(f"Queued {reclaimed} again: its worker had stopped.")
    worker = AppWorker(
        [queue(name, redis) for name in names],
        connection=redis,
        app=current_app._get_current_object(),
    )
    worker.work(
        burst=burst,
        with_scheduler=True,  # retries wait in the scheduled registry for their back-off
        logging_level=current_app.config["LOG_LEVEL"],
    )
    # Leave without the interpreter's teardown. After a long run a worker was seen to die with
    # SIGSEGV at exit, after its last job and past the point where faulthandler reports (so in
    # the native libraries' clean-up: WeasyPrint's Pango and fontconfig), which reads as a
    # failed stop. Everything is committed; close the connections and flush the logs first.
    db.engine.dispose()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@click.command("jobs")
@click.option("--retry-failed", is_flag=True, help="Queue every failed job again.")
@with_appcontext
def jobs_command(retry_failed: bool) -> None:
    """Each queue's queued, started, scheduled (waiting to retry) and failed jobs, and why each
    failed job failed."""
    from casework.jobs import sweep

    redis = _redis()
    if retry_failed:
        click.echo(f"Queued {sweep.retry_failed(redis)} failed job(s) again.")
    for state in sweep.queue_states(redis):
        click.echo(
            f"{state.name}: {state.queued} queued, {state.started} started, "
            f"{state.scheduled} scheduled, {len(state.failed)} failed"
        )
        for job in state.failed:
            when = job.ended_at.isoformat(timespec="seconds") if job.ended_at else "-"
            args = ", ".join(map(repr, job.args))
            click.echo(f"  {job.id}  {job.function}({args})  {when}  {job.error}")


COMMANDS = [worker_command, jobs_command]
