"""What the staff pages share: a blueprint that only staff may use, and the signed-in member of
staff as the services want them (a ``User``)."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from casework.models import User


def require_staff() -> None:
    # Signed in is checked for every page (casework.views.security); this is who may.
    if not current_user.is_staff:
        abort(403, "This page is for staff.")


def staff_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint of staff pages: a learner signed in gets a 403 on every one of them."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    blueprint.before_request(require_staff)
    return blueprint


def staff_user() -> User:
    """The signed-in member of staff (the services take the ``User``, never the session's)."""
    return current_user.account
