"""Accounts: the one place staff users are created (CLI now, admin pages and API later), and
where staff and learners prove who they are and change their passwords (the web pages)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from casework.extensions import db
from casework.models import LearnerAccount, Role, User, UserRole

MIN_PASSWORD_LENGTH = 12
# Checked when nobody has the email, so an unknown address takes as long as a wrong password.
_NOBODY = generate_password_hash("casework: no account has this email")

Account = User | LearnerAccount


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


def accounts_with_email(email: str) -> list[Account]:
    """The staff user and the learner account signing in with ``email`` (any letter case)."""
    email = email.strip().lower()
    found: list[Account] = []
    for model in (User, LearnerAccount):
        account = db.session.scalars(select(model).where(func.lower(model.email) == email)).first()
        if account is not None:
            found.append(account)
    return found


def authenticate(email: str, password: str) -> Account | None:
    """The account whose email and password these are (active or not: the caller says which
    may sign in), or None."""
    accounts = accounts_with_email(email)
    if not accounts:
        check_password_hash(_NOBODY, password)
        return None
    return next((a for a in accounts if a.check_password(password)), None)


def change_password(account: Account, current: str, new: str) -> None:
    """Sets a new password once the current one is proven; AccountError says what is wrong."""
    if not account.check_password(current):
        raise AccountError({"current_password": ["Your current password is not right."]})
    if len(new) < MIN_PASSWORD_LENGTH:
        too_short = f"Your new password must be at least {MIN_PASSWORD_LENGTH} characters."
        raise AccountError({"new_password": [too_short]})
    if new == current:
        same = "Your new password must differ from the current one."
        raise AccountError({"new_password": [same]})
    account.set_password(new)
    db.session.commit()
