"""Database commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from casework.database import init_database


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the schema by migrations, then load mark codes and policies."""
    report = init_database()
    click.echo(
        f"Database ready: {report.codes_added} mark codes added, "
        f"{report.policies_added} policies added, {report.policies_updated} updated."
    )


COMMANDS = [init_db_command]
