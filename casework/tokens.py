"""API tokens: created for a staff user (CLI), checked on every API request, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from casework.accounts import AccountError
from casework.extensions import db
from casework.models import ApiToken, User

TOKEN_PREFIX = "cw_"
# Recording every use would make each read a write; a minute's precision is enough to see
# whether a token is still in use.
LAST_USED_PRECISION = timedelta(minutes=1)


class NewTokenSchema(Schema):
    email = fields.Email(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, email: str, name: str) -> tuple[ApiToken, str]:
    """A new token for the user with ``email``; returns it and its secret, shown only once."""
    try:
        values = NewTokenSchema().load({"email": email, "name": name})
    except ValidationError as exc:
        raise AccountError(exc.messages) from exc
    user = db.session.scalar(
        select(User).where(func.lower(User.email) == values["email"].strip().lower())
    )
    if user is None:
        raise AccountError({"email": [f"There is no user {values['email']}."]})
    if not user.active:
        raise AccountError({"email": [f"{user.email} is not active."]})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=values["name"].strip(), secret_sha256=_digest(secret), prefix=secret[:10]
    )
    db.session.add(token)
    db.session.commit()
    return token, secret


def tokens_of(email: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.id)
    if email:
        query = query.where(func.lower(User.email) == email.strip().lower())
    return list(db.session.scalars(query))


def revoke_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise AccountError({"token": [f"There is no token {token_id}."]})
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        db.session.commit()
    return token


# A live token's user and their roles in one statement, built once: every API request runs it.
_TOKEN_WITH_USER = (
    select(ApiToken)
    .options(joinedload(ApiToken.user).joinedload(User.role_rows))
    .where(ApiToken.secret_sha256 == bindparam("digest"))
)


def user_for_secret(secret: str) -> User | None:
    """The active user a live token belongs to, or None; notes when the token was used."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = db.session.scalars(_TOKEN_WITH_USER, {"digest": _digest(secret)}).unique().one_or_none()
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
        db.session.commit()
    return token.user
