"""Staff accounts: the one place users are created (CLI now, admin pages and API later)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Role, User, UserRole

MIN_PASSWORD_LENGTH = 12


class NewUserSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    roles = fields.List(
        fields.Enum(Role, by_value=True), required=True, validate=validate.Length(min=1)
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=MIN_PASSWORD_LENGTH, error="Must be at least {min} characters."
        ),
    )


class AccountError(ValueError):
    def __init__(self, messages: dict[str, list[str]]):
        self.messages = messages
        super().__init__(
            "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in messages.items())
        )


def create_user(**data) -> User:
    try:
        values = NewUserSchema().load(data)
    except ValidationError as exc:
        raise AccountError(exc.messages) from exc
    email = values["email"].strip().lower()
    taken = db.session.scalar(select(func.count()).where(func.lower(User.email) == email))
    if taken:
        raise AccountError({"email": [f"A user with the email {email} already exists."]})
    user = User(name=values["name"].strip(), email=email)
    user.set_password(values["password"])
    user.role_rows = [UserRole(role=role) for role in dict.fromkeys(values["roles"])]
    db.session.add(user)
    db.session.commit()
    return user
