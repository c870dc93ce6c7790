"""Letters: downloading a stored letter, and the head of programme's approval of the letters a
policy holds back until approved.

Staff download any letter of a case they may see (those waiting and those returned too: the head
reads a letter before approving it). Approving or returning one goes through the case service
(``decide_letter``), an audited change of its case; a refusal comes back as a page in words (not
theirs to decide 403, no longer waiting 409, outside their scope 404).
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextArea
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from casework.cases.queries import (
    check_may_decide,
    letter_title,
    letters_awaiting_approval,
    staff_letter,
)
from casework.cases.service import decide_letter
from casework.errors import InvalidData
from casework.machines.events import NOTE_LIMIT
from casework.models import Letter, Role
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("letter_pages", __name__, url_prefix="/letters")


class ReturnLetterForm(FlaskForm):
    note = TextAreaField(
        "What is wrong with the letter",
        description="Say what needs to change. The letter is not sent, and the learner never "
        "sees it.",
        widget=GovTextArea(),
        validators=[
            DataRequired("Enter what is wrong with the letter"),
            Length(max=NOTE_LIMIT, message=f"Write at most {NOTE_LIMIT} characters"),
        ],
    )
    back = HiddenField()
    submit = SubmitField("Return the letter", widget=GovSubmitInput())


def pdf_download(letter: Letter) -> Response:
    """The stored PDF, byte for byte, as a file to save (named by its reference)."""
    response = Response(letter.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{letter.reference}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    response.set_etag(letter.sha256)
    return response


@bp.get("")
def index() -> ResponseReturnValue:
    """The head of programme's letters waiting for approval, the oldest first."""
    user = staff_user()
    if not user.has_role(Role.HEAD_OF_PROGRAMME):
        abort(403, "This page is for heads of programme, who approve letters before they go out.")
    letters, _total = letters_awaiting_approval(user)
    return render_template("staff/letters/index.html", letters=letters)


@bp.get("/<int:letter_id>")
def download(letter_id: int) -> ResponseReturnValue:
    # Outside their scope: 404.
    return pdf_download(staff_letter(staff_user(), letter_id, with_pdf=True))


@bp.post("/<int:letter_id>/approve")
def approve(letter_id: int) -> ResponseReturnValue:
    user = staff_user()
    letter = staff_letter(user, letter_id)  # outside their scope: 404
    check_may_decide(user, letter)  # not theirs to decide: 403; no longer waiting: 409
    decide_letter(actor=user, letter_id=letter_id, approve=True)
    flash(f"{letter_title(letter.template)} {letter.reference} approved: it can go out.", "success")
    return _back(request.form.get("back"), letter)


@bp.route("/<int:letter_id>/return", methods=["GET", "POST"])
def return_letter(letter_id: int) -> ResponseReturnValue:
    user = staff_user()
    letter = staff_letter(user, letter_id)
    check_may_decide(user, letter)
    form = ReturnLetterForm()
    if request.method == "GET":
        form.back.data = request.args.get("back", "list")
    if not form.validate_on_submit():
        return _return_page(form, letter, 422 if request.method == "POST" else 200)
    try:
        decide_letter(actor=user, letter_id=letter_id, approve=False, note=form.note.data)
    except InvalidData as exc:  # a note no database keeps (the service's rule): on the field
        form.note.errors = [m for messages in exc.errors.values() for m in messages]
        return _return_page(form, letter, 422)
    flash(
        f"{letter_title(letter.template)} {letter.reference} returned: it will not be sent.",
        "success",
    )
    return _back(form.back.data, letter)


def _return_page(form: ReturnLetterForm, letter: Letter, status: int) -> tuple[str, int]:
    title = letter_title(letter.template)
    return render_template(
        "staff/letters/return.html", form=form, letter=letter, title=title
    ), status


def _back(where: str | None, letter: Letter) -> Response:
    """Back to the page the decision was taken from (the list unless it says otherwise)."""
    if where == "case":
        return redirect(url_for("case_pages.page", case_id=letter.case_id, _anchor="letters"), 303)
    if where == "dashboard":
        return redirect(url_for("dashboard.index"), 303)
    return redirect(url_for(".index"), 303)
