"""``casework serve``: the app under gunicorn with the production settings (casework.serving)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from casework.serving import DEFAULT_BIND, CaseworkServer, ServeConfigError, server_options


@click.command("serve")
@click.option(
    "--bind",
    default=DEFAULT_BIND,
    show_default=True,
    help="HOST:PORT (or unix:PATH) to listen on.",
)
@click.option(
    "--workers",
    type=str,
    default=None,
    help="Worker processes [default: CASEWORK_WEB_WORKERS, else 2 x CPU cores + 1].",
)
@with_appcontext
def serve_command(bind: str, workers: str | None) -> None:
    """Serve the app with gunicorn: JSON access log on stdout, errors on stderr; SIGTERM stops
    it gracefully."""
    try:
        options = server_options(current_app.config, workers=workers, bind=bind)
    except ServeConfigError as error:
        raise click.UsageError(str(error)) from None
    CaseworkServer(options).run()


COMMANDS = [serve_command]
