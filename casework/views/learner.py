"""A learner's own area: their letters, and nothing about anyone else."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from casework.cases.queries import learner_letters

bp = Blueprint("learner", __name__, url_prefix="/my")


@bp.before_request
def learners_only() -> None:
    if current_user.is_staff:
        abort(403, "This page is for learners, to read the letters written to them.")


@bp.get("")
def home():
    return render_template("learner/home.html", letters=learner_letters(current_user.account))
