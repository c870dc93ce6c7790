"""A learner's own area: their letters (to download) and their current action plan, and nothing
about anyone else. A letter waiting for the head of programme's approval, or returned, is not
theirs to read yet: it is not found, like anyone else's."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from casework.cases.queries import learner_letter, learner_letters, learner_plans
from casework.views.letters import pdf_download

bp = Blueprint("learner", __name__, url_prefix="/my")


@bp.before_request
def learners_only() -> None:
    if current_user.is_staff:
        abort(403, "This page is for learners, to read the letters written to them.")


@bp.get("")
def home() -> ResponseReturnValue:
    account = current_user.account
    return render_template(
        "learner/home.html", letters=learner_letters(account), plans=learner_plans(account)
    )


@bp.get("/letters/<int:letter_id>")
def download(letter_id: int) -> ResponseReturnValue:
    return pdf_download(learner_letter(current_user.account, letter_id))
