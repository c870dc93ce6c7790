"""The demo command: a fresh database full of demo data, then the app served locally."""

from __future__ import annotations

import os
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext

from casework.cases.scan import run_scan
from casework.cli.letters import render_waiting
from casework.database import reset_database
from casework.demo import (
    build_demo,
    demo_messages,
    flag_for_safeguarding,
    programme_summaries,
    staff_tokens,
)
from casework.extensions import db
from casework.models import Role, academic_year_label

# The README's first call is this one, made with the head of programme's token.
FIRST_CALL = "curl -H 'Authorization: Bearer {token}' '{base}/api/v1/cases?stage=monitoring'"


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to serve on.")
@click.option("--no-serve", is_flag=True, help="Build the demo data and exit without serving.")
@with_appcontext
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """Replace the database with demo data, render its letters, print the sign-in details and
    an API token for each staff account, then serve the app.

    Everything already in the database is dropped first.
    """
    url = db.engine.url.render_as_string(hide_password=True)
    click.echo(f"Resetting the database at {url} ...")
    reset_database()
    summary = build_demo(date.today())
    # The nightly scan as at the last register day opens the demo's cases.
    scan = run_scan(summary.last_session_day)
    flagged = flag_for_safeguarding()

    click.echo(
        f"\nDemo data built for {academic_year_label(summary.academic_year)}, registers "
        f"{summary.first_session_day:%d/%m/%Y} to {summary.last_session_day:%d/%m/%Y}:"
    )
    click.echo(
        f"  {summary.programmes} programmes, {summary.learners} learners, "
        f"{summary.sessions} sessions, {summary.marks} marks (one register import)"
    )
    click.echo(
        f"  contacts: {summary.parent_carers} parents or carers, {summary.employers} employers, "
        f"{summary.main_schools} main schools"
    )
    click.echo(
        f"  nightly scan as at {summary.last_session_day:%d/%m/%Y}: "
        f"{len(scan.cases_opened)} cases opened, {scan.approaching_flagged} learners approaching "
        "the threshold"
    )
    for programme in programme_summaries():
        click.echo(
            f"  {programme.code:<8} {programme.title} ({programme.provider}): "
            f"{programme.open_cases} of {programme.learners} learners with an open case "
            f"(attendance {programme.threshold})"
        )
    if flagged is not None:
        click.echo(f"  case {flagged.id} flagged for safeguarding by the head of programme")

    rendered, failed = render_waiting(workers=os.cpu_count() or 1)
    retry = f"; {failed} failed (casework render-letters retries them)" if failed else ""
    click.echo(f"  {rendered} letters rendered{retry}")
    day = demo_messages(summary)
    click.echo(
        f"  messages for {summary.last_session_day:%d/%m/%Y}: {day.alerts} absence alerts, "
        f"{day.reports} reports; send-due (logged, not sent): {day.outbox}; "
        f"{day.gaps} held for want of an address"
    )

    base = f"http://{host}:{port}"
    click.echo(
        f"\nSign in at {base}/sign-in (every account's password is {summary.sign_ins[0].password}):"
    )
    width = max(len(s.email) for s in summary.sign_ins)
    click.echo(f"  {'email':<{width}}  {'password':<14}  role")
    for sign_in in summary.sign_ins:
        click.echo(
            f"  {sign_in.email:<{width}}  {sign_in.password:<14}  {sign_in.label} ({sign_in.name})"
        )

    tokens = staff_tokens(summary.sign_ins)
    click.echo(f"\nAPI tokens, one for each staff account (docs at {base}/api/v1/docs):")
    for sign_in, secret in tokens:
        click.echo(f"  {sign_in.label:<22}  {sign_in.email:<{width}}  {secret}")
    head = next(secret for sign_in, secret in tokens if sign_in.role == Role.HEAD_OF_PROGRAMME)
    click.echo("\nA first call, as the head of programme (who may act on every case):")
    click.echo("  " + FIRST_CALL.format(token=head, base=base))

    if no_serve:
        return
    db.session.remove()
    app = current_app._get_current_object()
    # The casework command is Flask's CLI group, which makes app.run() a no-op (it guards against
    # servers started by accident at import time). Serving is this command's purpose.
    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    # The demo serves plain HTTP: a session cookie marked Secure would never be sent back.
    app.config["SESSION_COOKIE_SECURE"] = False
    click.echo(f"\nServing: open {base}/sign-in and sign in as one of the accounts above")
    click.echo("(press CTRL+C to stop)")
    app.run(host=host, port=port)


COMMANDS = [demo_command]
