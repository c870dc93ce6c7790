"""Who is calling: the bearer token on every API request, and role checks for writes."""

from __future__ import annotations

from flask import g, request
from flask.typing import ResponseReturnValue

from casework.api.problems import problem
from casework.api.reads import begin_read
from casework.models import Role, User
from casework.records import common as records
from casework.tokens import user_for_secret


def authenticate() -> ResponseReturnValue | None:
    """``before_request`` of every API blueprint: no valid token, no access."""
    begin_read()
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return problem("unauthenticated", "Send Authorization: Bearer <token>.")
    user = user_for_secret(secret.strip())
    if user is None:
        return problem("unauthenticated", "This token is unknown, revoked or of an inactive user.")
    g.api_user = user
    return None


def caller() -> User:
    return g.api_user


def require_role(*roles: Role) -> User:
    """The caller, if they hold one of ``roles``; otherwise Forbidden (the records' check)."""
    user = caller()
    records.require_role(user, *roles)
    return user
