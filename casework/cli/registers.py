"""Register commands."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from casework.cli.progress import progress_bar
from casework.jobs.after_commit import messages_due_after_commit
from casework.registers.importing import ImportRejected, import_register, importer_problem
from casework.registers.tallies import repair_tallies, tally_differences

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


@click.group("tallies")
def tallies_group() -> None:
    """The enrolment tallies the scan reads: check them against a recount, or repair them."""


@tallies_group.command("check")
@with_appcontext
def tallies_check_command() -> None:
    """List every tally that differs from a full recount of its marks; exit 1 if any does."""
    differences = 0
    for difference in tally_differences():
        differences += 1
        if differences <= MAX_ERRORS_SHOWN:
            click.echo(
                f"enrolment {difference.enrolment_id} from {difference.window_start}: "
                f"stored {_tally_words(difference.stored)}; "
                f"recounted {_tally_words(difference.recounted)}"
            )
    if differences:
        raise click.ClickException(
            f"{differences} tally(ies) differ from a recount; run 'casework tallies repair'."
        )
    click.echo("Every tally equals a recount of its marks.")


def _tally_words(values: dict | None) -> str:
    if values is None:
        return "none"
    return ", ".join(
        f"{key} {value}"
        for key, value in values.items()
        if key not in ("enrolment_id", "window_start")
    )


@tallies_group.command("repair")
@with_appcontext
def tallies_repair_command() -> None:
    """Recount every enrolment's tally from its marks (after upgrading, or if check fails)."""
    click.echo(f"Recounted {repair_tallies()} enrolment tallies.")


COMMANDS = [import_register_command, tallies_group]
