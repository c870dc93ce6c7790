"""Case commands: the nightly scan, the audit check and workflow diagrams."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.cli.progress import progress_bar
from casework.extensions import db
from casework.jobs.after_commit import pending_letters_after_commit
from casework.machines.audit import verify_chains, verify_letters
from casework.machines.diagram import DiagramError, mermaid, svg
from casework.machines.seal import AuditKeyMissing
from casework.models import Policy


@click.command("scan")
@click.option(
    "--date",
    "as_at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Judge attendance as at the end of this day (YYYY-MM-DD); today by default.",
)
@with_appcontext
def scan_command(as_at) -> None:
    """Open cases below threshold, record occurrences, mark what is overdue, flag early warnings."""
    with progress_bar("Scanning") as on_progress:
        report = run_scan(as_at.date() if as_at else date.today(), on_progress)
    if pending_letters_after_commit():
        click.echo("Letters queued for the workers.")
    for line in report.lines():
        click.echo(line)
    if not report.changed_anything:
        click.echo("Nothing changed.")


@click.command("verify-audit")
@with_appcontext
def verify_audit_command() -> None:
    """Walk every case's audit chain and check every stored letter; name the first altered,
    removed, reordered or forged event of each case, and each letter whose bytes, event or seal
    do not match."""
    try:
        chains = list(verify_chains())
        letters = list(verify_letters())
    except AuditKeyMissing as exc:
        raise click.ClickException(str(exc)) from None
    for problem in [*chains, *letters]:
        click.echo(str(problem), err=True)
    if chains or letters:
        raise click.ClickException(
            f"The audit trail is broken in {len(chains)} case(s); "
            f"{len(letters)} letter(s) failed their check."
        )
    click.echo("Every case's audit trail is intact, and every letter matches its seal.")


@click.command("diagram")
@click.argument("policy_key")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for POLICY.svg and POLICY.mmd.",
)
@with_appcontext
def diagram_command(policy_key: str, out_dir: Path) -> None:
    """Draw POLICY's workflow (its enabled events, its stage names) as SVG and Mermaid."""
    policy = db.session.scalars(select(Policy).where(Policy.key == policy_key)).one_or_none()
    if policy is None:
        keys = ", ".join(db.session.scalars(select(Policy.key).order_by(Policy.key)))
        raise click.ClickException(f"There is no policy '{policy_key}'. Policies: {keys}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    mmd = out_dir / f"{policy.key}.mmd"
    mmd.write_text(mermaid(policy), encoding="utf-8")
    click.echo(f"Wrote {mmd}")
    try:
        drawing = svg(policy)
    except DiagramError as exc:
        raise click.ClickException(str(exc)) from exc
    target = out_dir / f"{policy.key}.svg"
    target.write_text(drawing, encoding="utf-8")
    click.echo(f"Wrote {target}")


COMMANDS = [scan_command, verify_audit_command, diagram_command]
