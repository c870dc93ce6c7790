"""Staff user commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from casework.accounts import AccountError, create_user
from casework.models import Role


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="Full name, as printed on letters.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="A role; repeat for several.",
)
@click.password_option(help="Prompted for (twice) when not given.")
@with_appcontext
def create_user_command(email: str, name: str, roles: tuple[str, ...], password: str) -> None:
    """Create a staff user who signs in with EMAIL."""
    try:
        user = create_user(email=email, name=name, roles=list(roles), password=password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {user.name} <{user.email}> ({', '.join(sorted(roles))}).")


COMMANDS = [create_user_command]
