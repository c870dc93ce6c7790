"""Message commands: deliver the outbox's due messages (run every minute in production)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from casework.messages.sender import send_due
from casework.messages.transports import TransportConfigError


@click.command("send-due")
@with_appcontext
def send_due_command() -> None:
    """Send every message that is due; safe to run twice at once, or again after a kill."""
    try:
        summary = send_due()
    except TransportConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Outbox: {summary}.")
    if summary.letters_queued or summary.released:
        click.echo(
            f"Letters by email: {summary.letters_queued} queued, "
            f"{summary.released} rendered and released."
        )


COMMANDS = [send_due_command]
