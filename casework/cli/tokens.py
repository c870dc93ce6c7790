"""API token commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from casework.accounts import AccountError
from casework.tokens import create_token, revoke_token, tokens_of


@click.command("create-token")
@click.argument("email")
@click.option("--name", default="API", show_default=True, help="What the token is for.")
@with_appcontext
def create_token_command(email: str, name: str) -> None:
    """Create an API token acting as the user EMAIL; the secret is printed once."""
    try:
        token, secret = create_token(email=email, name=name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Token {token.id} ({token.name}) for {token.user.email}. Keep it secret:")
    click.echo(secret)


@click.command("list-tokens")
@click.option("--user", "email", help="Only this user's tokens.")
@with_appcontext
def list_tokens_command(email: str | None) -> None:
    """List API tokens (never their secrets)."""
    for token in tokens_of(email):
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "live"
        click.echo(
            f"{token.id}\t{token.prefix}…\t{token.user.email}\t{token.name}\tlast used {used}\t"
            f"{state}"
        )


@click.command("revoke-token")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_token_command(token_id: int) -> None:
    """Revoke API token TOKEN_ID at once."""
    try:
        token = revoke_token(token_id)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Token {token.id} ({token.name}) of {token.user.email} is revoked.")


COMMANDS = [create_token_command, list_tokens_command, revoke_token_command]
