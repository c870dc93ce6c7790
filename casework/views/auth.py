"""Signing in and out, and changing one's password: staff and learners use the same form.

Wrong passwords are limited twice over (Flask-Limiter's storage): per account, where the sixth
in a row (signing in, or as the current password when changing it) is refused before the
password is even checked, and per address, for signing in across accounts.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from limits import parse
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import EqualTo, InputRequired, Length

from casework.accounts import (
    MIN_PASSWORD_LENGTH,
    Account,
    AccountError,
    authenticate,
    change_password,
)
from casework.extensions import db, limiter, login_manager
from casework.models import LearnerAccount, User

bp = Blueprint("auth", __name__)

# Per account: five failures in a row, then the account waits out the window.
ACCOUNT_FAILURES = parse("5 per 15 minutes")
# Per address, whatever the accounts tried: a guesser working through many accounts.
ADDRESS_FAILURES = "20 per 15 minutes"
LOCKED = (
    "There have been too many wrong passwords for this account. Wait 15 minutes, then try again."
)
WRONG = "Enter a correct email address and password."
_KINDS: dict[str, type[Account]] = {"staff": User, "learner": LearnerAccount}


def _stamp(account: Account) -> str:
    """Changes with the password: a session made before a password change no longer loads."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


class Principal(UserMixin):
    """Who is signed in (Flask-Login's user): a staff user or a learner account."""

    def __init__(self, account: Account):
        self.account = account

    @property
    def is_staff(self) -> bool:
        return isinstance(self.account, User)

    @property
    def is_active(self) -> bool:
        return self.account.active

    @property
    def name(self) -> str:
        account = self.account
        return account.name if isinstance(account, User) else account.learner.full_name

    def get_id(self) -> str:
        kind = "staff" if self.is_staff else "learner"
        return f"{kind}:{self.account.id}:{_stamp(self.account)}"


@login_manager.user_loader
def load_principal(session_id: str) -> Principal | None:
    kind, _, rest = session_id.partition(":")
    account_id, _, stamp = rest.partition(":")
    model = _KINDS.get(kind)
    if model is None or not account_id.isdigit():
        return None
    # A staff user with their roles, which every page asks, in one statement.
    options = (joinedload(User.role_rows),) if model is User else ()
    account = db.session.get(model, int(account_id), options=options)
    if account is None or not account.active or not hmac.compare_digest(_stamp(account), stamp):
        return None
    return Principal(account)


class SignInForm(FlaskForm):
    email = StringField(
        "Email address",
        widget=GovTextInput(),
        validators=[InputRequired("Enter your email address."), Length(max=254)],
    )
    password = PasswordField(
        "Password", widget=GovPasswordInput(), validators=[InputRequired("Enter your password.")]
    )
    submit = SubmitField("Sign in", widget=GovSubmitInput())


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        widget=GovPasswordInput(),
        validators=[InputRequired("Enter your current password.")],
    )
    new_password = PasswordField(
        "New password",
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
        widget=GovPasswordInput(),
        validators=[InputRequired("Enter a new password.")],
    )
    confirm_password = PasswordField(
        "Confirm new password",
        widget=GovPasswordInput(),
        validators=[
            InputRequired("Enter the new password again."),
            EqualTo("new_password", "The passwords do not match."),
        ],
    )
    submit = SubmitField("Change password", widget=GovSubmitInput())


def landing() -> str:
    """Where a signed-in person starts: staff their dashboard, a learner their own area."""
    return url_for("dashboard.index" if current_user.is_staff else "learner.home")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never send someone on to another site after signing in."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


class WrongPasswords:
    """One account's wrong passwords in a row, counted in Flask-Limiter's storage."""

    def __init__(self, email: str):
        self.key = email.strip().lower()

    def locked(self) -> bool:
        return not limiter.limiter.test(ACCOUNT_FAILURES, "password", self.key)

    def count(self) -> None:
        limiter.limiter.hit(ACCOUNT_FAILURES, "password", self.key)

    def clear(self) -> None:
        limiter.limiter.clear(ACCOUNT_FAILURES, "password", self.key)


def _failed(response: Response) -> bool:
    return response.status_code != 303  # a successful sign-in redirects


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(
    ADDRESS_FAILURES,
    methods=["POST"],
    deduct_when=_failed,
    error_message="There have been too many failed attempts to sign in from your network. "
    "Wait 15 minutes, then try again.",
)
def sign_in() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(landing(), 303)
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("auth/sign_in.html", form=form)
    wrong = WrongPasswords(form.email.data)
    if wrong.locked():
        form.form_errors.append(LOCKED)
        return render_template("auth/sign_in.html", form=form), 429
    account = authenticate(form.email.data, form.password.data)
    if account is None:
        wrong.count()
        form.form_errors.append(WRONG)
        return render_template("auth/sign_in.html", form=form)
    if not account.active:
        form.form_errors.append("This account is not active. Ask your administrator.")
        return render_template("auth/sign_in.html", form=form), 403
    wrong.clear()
    target = _safe_next(request.args.get("next"))
    session.clear()  # a fresh session: nothing from before signing in carries over
    login_user(Principal(account))
    return redirect(target or landing(), 303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    logout_user()
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("auth.sign_in"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/password.html", form=form)
    account = current_user.account
    wrong = WrongPasswords(account.email)  # a borrowed session guesses no faster than a stranger
    if wrong.locked():
        form.form_errors.append(LOCKED)
        return render_template("auth/password.html", form=form), 429
    try:
        change_password(account, form.current_password.data, form.new_password.data)
    except AccountError as exc:
        if "current_password" in exc.messages:
            wrong.count()
        for name, messages in exc.messages.items():
            getattr(form, name).errors.extend(messages)
        return render_template("auth/password.html", form=form)
    wrong.clear()
    login_user(Principal(account))  # this session carries the new stamp
    flash("Your password has been changed.")
    return redirect(landing(), 303)
