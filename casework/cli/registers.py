"""Register commands."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from casework.cli.progress import progress_bar
from casework.jobs.after_commit import messages_due_after_commit
from casework.registers.importing import ImportRejected, import_register, importer_problem

MAX_ERRORS_SHOWN = 50


def _importer(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # The import's own check, asked before the file is read: a usage error, not a row's.
    if problem := importer_problem(value):
        raise click.BadParameter(problem)
    return value


@click.command("import-register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--by",
    "imported_by",
    default="register import",
    show_default=True,
    callback=_importer,
    help="Who is importing (recorded on marks that name nobody else).",
)
@with_appcontext
def import_register_command(file: Path, imported_by: str) -> None:
    """Import a register CSV file (format in the README). Any bad row and nothing is imported."""
    name = click.format_filename(file.name)  # printable whatever the name's bytes
    try:
        with progress_bar(f"Importing {name}") as on_progress:
            result = import_register(
                file.read_bytes(),
                filename=file.name,
                imported_by=imported_by,
                on_progress=on_progress,
            )
    except ImportRejected as rejected:
        for error in rejected.errors[:MAX_ERRORS_SHOWN]:
            click.echo(f"{name}: {error}", err=True)
        hidden = len(rejected.errors) - MAX_ERRORS_SHOWN
        if hidden > 0:
            click.echo(f"... and {hidden} more problem(s)", err=True)
        raise click.ClickException(
            f"{name} was not imported: {len(rejected.errors)} problem(s); nothing changed."
        ) from rejected
    messages_due_after_commit()  # absence alerts due now, to the workers (with Redis)
    click.echo(
        f"Imported {name}: {result.rows} rows, {result.created} new marks, "
        f"{result.updated} changed, {result.unchanged} unchanged."
    )


COMMANDS = [import_register_command]
