"""The ``casework`` command: Flask's CLI group with the app's own commands."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup


def _create_app() -> Flask:
    from casework import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def cli() -> None:
    """casework: learner attendance concerns run as cases."""


def register_commands(app: Flask) -> None:
    from casework.cli import (
        cases,
        database,
        demo,
        jobs,
        letters,
        messages,
        registers,
        reports,
        serve,
        tokens,
        users,
    )

    for module in (
        database,
        demo,
        registers,
        users,
        tokens,
        cases,
        letters,
        messages,
        jobs,
        reports,
        serve,
    ):
        for command in module.COMMANDS:
            app.cli.add_command(command)


def main() -> None:
    from casework.config import ConfigError

    try:
        cli(prog_name="casework")
    except ConfigError as error:  # a setting the app cannot be built with: no traceback
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
