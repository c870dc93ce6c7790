"""Schema fields the API's resources share."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from casework.routing import MAX_ID


def id_field(**kwargs: Any) -> fields.Integer:
    """A row id, as in paths: 1 to MAX_ID (a larger number would overflow the database)."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)
