"""Message commands: build the reports that are due and deliver the outbox's due messages (run
every minute in production)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from casework.jobs.queues import connection
from casework.jobs.sweep import sweep
from casework.messages.reports import ReportsFailed, build_due
from casework.messages.sender import prepare_outbox, send_due
from casework.messages.transports import TransportConfigError
from casework.models.types import utcnow


@click.command("send-due")
@with_appcontext
def send_due_command() -> None:
    """Build the reports that are due, then send every message that is due; safe to run twice
    at once, or again after a kill. With CASEWORK_REDIS_URL, queue them for the workers instead,
    with every letter waiting and any job a stopped worker left."""
    problem = None
    try:
        reports = build_due()
    except ReportsFailed as exc:  # the others are built: send them, then say what failed
        reports, problem = exc.built, str(exc)
    redis = connection()
    swept = None
    if redis is not None:  # workers deliver; this run is the sweeper
        summary = prepare_outbox(utcnow())
        swept = sweep(redis)
    else:
        try:
            summary = send_due()
        except TransportConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    if reports:
        click.echo(
            f"Reports built: {len(reports)} ({', '.join(sorted({r.name for r in reports}))})."
        )
    click.echo(f"Outbox: {summary}.")
    if swept is not None:
        click.echo(f"Sweeper: {swept}.")
    if summary.letters_queued or summary.released:
        click.echo(
            f"Letters by email: {summary.letters_queued} queued, "
            f"{summary.released} rendered and released."
        )
    if problem:
        raise click.ClickException(f"Reports: {problem}.")


COMMANDS = [send_due_command]
