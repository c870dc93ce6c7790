"""Report commands: any report on demand, written as CSV and PDF files."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from casework.extensions import db
from casework.messages.reports import NAMES, ReportError, build
from casework.models import Programme


def _file_stem(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


@click.command("report")
@click.argument("name", type=click.Choice(NAMES))
@click.option(
    "--date",
    "day",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The report's day, as YYYY-MM-DD.",
)
@click.option("--programme", "code", default=None, help="Only this programme (its code).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The folder to write the CSV and PDF files to (made if missing).",
)
@with_appcontext
def report_command(name: str, day: datetime, code: str | None, out: Path) -> None:
    """Build report NAME for a day and write each report's CSV and PDF. Nothing is sent: the
    reports due to schools and staff are built and queued by `casework send-due`."""
    programme = None
    if code is not None:
        programme = db.session.scalar(select(Programme).where(Programme.code == code))
        if programme is None:
            raise click.BadParameter(f"there is no programme {code!r}", param_hint="--programme")
    try:
        reports = build(name, day.date(), programme)
    except ReportError as error:
        raise click.ClickException(str(error)) from error
    if not reports:
        click.echo(f"No {name} report for {day:%Y-%m-%d}: no programme calls for one that day.")
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        for report in reports:
            stem = out / _file_stem(report.key)
            stem.with_suffix(".csv").write_bytes(report.csv)
            stem.with_suffix(".pdf").write_bytes(report.pdf)
            click.echo(f"{stem}.csv and .pdf: {report.title} ({report.rows} rows)")
    except OSError as error:
        raise click.ClickException(f"cannot write to {out}: {error.strerror}") from error


COMMANDS = [report_command]
