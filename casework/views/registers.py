"""Registers in the browser: the sessions of a day with what is not taken, take a register,
correct a mark (its history kept), record an authorised absence with its evidence, upload a
register file. Every write goes through the register import the CLI and the API use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for

from casework.extensions import db
from casework.fields import FIRST_DAY, LAST_DAY, UNSTORABLE, storable_text
from casework.models import Mark
from casework.records.common import administers
from casework.records.marks import (
    Entry,
    correct_mark,
    keeps_any_register,
    mark_for,
    mark_history,
    not_taken_before,
    policy_codes,
    register_sheet,
    save_register,
    sessions_on,
    upload_register,
)
from casework.records.programmes import list_programmes
from casework.registers.importing import ImportRejected, RowError
from casework.routing import whole_number
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("register_pages", __name__, url_prefix="/registers")

MAX_UPLOAD = 5 * 1024 * 1024  # a register file of ~100,000 rows
WHY_LENGTH = 200
# The import names its columns; staff read their labels on the page.
_COLUMN_WORDS = {
    "minutes_late": "minutes late",
    "absence_reason": "reason",
    "evidence_ref": "evidence",
    "recorded_by": "recorded by",
    "recorded_at": "recorded at",
}


def column_of(message: str) -> str:
    """The column a problem is about (the code's where the message names no other)."""
    for name in _COLUMN_WORDS:
        if name in message:
            return name
    for name in ("learner_id", "session_id"):
        if name in message:
            return name
    if message.startswith(("unknown learner", "learner '")):
        return "learner_id"
    if message.startswith("unknown session") or message.startswith("session '"):
        return "session_id"
    return "code"


def in_words(message: str) -> str:
    text = message.replace("an absence_reason", "a reason")
    for name, words in _COLUMN_WORDS.items():
        text = text.replace(name, words)
    return text[:1].upper() + text[1:]


def _day() -> date:
    """The day asked for, on casework's calendar (the page counts days either side of it)."""
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return date.today()
    return day if FIRST_DAY <= day <= LAST_DAY else date.today()


def _programme_id() -> int | None:
    return whole_number(request.args.get("programme"), lowest=1)


@bp.get("")
def index():
    user, day, today = staff_user(), _day(), date.today()
    programmes = db.session.scalars(list_programmes(user)).all()
    programme_id = _programme_id()
    return render_template(
        "staff/registers/index.html",
        day=day,
        today=today,
        programmes=programmes,
        programme_id=programme_id,
        sessions=sessions_on(user, day, programme_id=programme_id),
        overdue=not_taken_before(user, today) if day == today else [],
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        may_upload=keeps_any_register(user),
    )


@dataclass
class Problem:
    field_id: str
    text: str


def _entry_values(eid: int) -> dict[str, str]:
    form = request.form
    return {
        "code": form.get(f"code-{eid}", "").strip(),
        "minutes": form.get(f"minutes-{eid}", "").strip(),
        "reason": form.get(f"reason-{eid}", "").strip(),
        "evidence": form.get(f"evidence-{eid}", "").strip(),
    }


KEEPERS_ONLY = "Only an administrator or the programme's administration officer keeps it."


def _mark_values(mark: Mark | None) -> dict[str, str]:
    """A mark as its form's fields show it (empty for no mark)."""
    if mark is None:
        return {"code": "", "minutes": "", "reason": "", "evidence": ""}
    return {
        "code": mark.code.code,
        "minutes": "" if mark.minutes_late is None else str(mark.minutes_late),
        "reason": mark.absence_reason.value if mark.absence_reason else "",
        "evidence": mark.evidence_ref or "",
    }


_FIELD_OF = {"minutes_late": "minutes", "absence_reason": "reason", "evidence_ref": "evidence"}


@bp.route("/sessions/<int:session_id>", methods=["GET", "POST"])
def session(session_id: int):
    user = staff_user()
    sheet = register_sheet(user, session_id)
    values = {row.enrolment.id: _mark_values(row.mark) for row in sheet.rows}
    # "Start with everyone present": the unmarked rows' lists open on the code given, to be
    # checked and saved (nothing is written until the register is saved).
    fill = request.args.get("fill", "").upper()
    if fill in {code.code for code in sheet.codes}:
        for value in values.values():
            value["code"] = value["code"] or fill
    problems: list[Problem] = []
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not sheet.keeps:
            abort(403, KEEPERS_ONLY)
        values = {row.enrolment.id: _entry_values(row.enrolment.id) for row in sheet.rows}
        for row in sheet.rows:
            if not values[row.enrolment.id]["code"]:
                field_id = f"code-{row.enrolment.id}"
                errors[field_id] = f"Choose a mark for {row.learner.full_name}"
                problems.append(Problem(field_id, errors[field_id]))
        if not problems and sheet.rows:
            entries = [
                Entry(
                    row.learner.learner_ref,
                    values[row.enrolment.id]["code"],
                    values[row.enrolment.id]["minutes"],
                    values[row.enrolment.id]["reason"],
                    values[row.enrolment.id]["evidence"],
                )
                for row in sheet.rows
            ]
            try:
                result = save_register(user, sheet.session, entries)
            except ImportRejected as rejected:
                for error in rejected.errors:
                    row = sheet.rows[error.row]
                    field = _FIELD_OF.get(column_of(error.message), "code")
                    field_id = f"{field}-{row.enrolment.id}"
                    text = f"{row.learner.full_name}: {in_words(error.message)}"
                    errors.setdefault(field_id, text)
                    problems.append(Problem(field_id, text))
            else:
                flash(
                    f"Register saved: {result.created} new, {result.updated} changed and "
                    f"{result.unchanged} unchanged {'mark' if result.rows == 1 else 'marks'}."
                )
                return redirect(url_for(".session", session_id=session_id), 303)
    return render_template(
        "staff/registers/session.html",
        sheet=sheet,
        values=values,
        problems=problems,
        errors=errors,
    )


@bp.route("/marks/<int:mark_id>", methods=["GET", "POST"])
def mark(mark_id: int):
    user = staff_user()
    found: Mark = mark_for(user, mark_id)
    keeps = administers(user, found.session.programme_id)
    codes, reasons = policy_codes(found.session.programme)
    values = _mark_values(found) | {"why": ""}
    problems: list[Problem] = []
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not keeps:
            abort(403, KEEPERS_ONLY)
        values = {name: request.form.get(name, "").strip() for name in values}
        if not values["code"]:
            errors["code"] = "Choose the new mark"
        if not values["why"]:
            errors["why"] = "Enter why the mark is changing"
        elif len(values["why"]) > WHY_LENGTH:
            errors["why"] = f"Why the mark is changing must be {WHY_LENGTH} characters or fewer"
        elif not storable_text(values["why"]):
            errors["why"] = f"Why the mark is changing {UNSTORABLE[0].lower()}{UNSTORABLE[1:]}"
        if not errors:
            entry = Entry(
                found.enrolment.learner.learner_ref,
                values["code"],
                values["minutes"],
                values["reason"],
                values["evidence"],
            )
            try:
                result = correct_mark(user, found, entry, values["why"])
            except ImportRejected as rejected:
                for error in rejected.errors:
                    field = _FIELD_OF.get(column_of(error.message), "code")
                    errors.setdefault(field, in_words(error.message))
            else:
                if result.updated:
                    flash("Mark corrected. Its previous version is kept in its history.")
                else:
                    flash("Nothing changed: the mark already says that.")
                return redirect(url_for(".mark", mark_id=mark_id), 303)
        problems = [Problem(field, text) for field, text in errors.items()]
    return render_template(
        "staff/registers/mark.html",
        mark=found,
        history=mark_history(found),
        keeps=keeps,
        codes=codes,
        reasons=reasons,
        values=values,
        problems=problems,
        errors=errors,
    )


_SAFE_NAME = re.compile(r"[^\w .()-]+")


@bp.post("/upload")
def upload():
    user = staff_user()
    if not keeps_any_register(user):
        abort(403, "Only an administrator or an administration officer may upload registers.")
    problem, result, rows = None, None, []
    file = None
    if request.content_length is not None and request.content_length > MAX_UPLOAD + 64 * 1024:
        problem = "The selected file must be smaller than 5 MB"
    else:
        file = request.files.get("register")
        if file is None or not file.filename:
            problem = "Select a register file to upload"
    if problem is None:
        filename = _SAFE_NAME.sub("_", file.filename)[:200]
        data = file.read(MAX_UPLOAD + 1)
        if not filename.lower().endswith(".csv"):
            problem = "The selected file must be a CSV (saved as CSV UTF-8)"
        elif len(data) > MAX_UPLOAD:
            problem = "The selected file must be smaller than 5 MB"
        elif not data.strip():
            problem = "The selected file is empty"
        else:
            try:
                result = upload_register(user, data, filename)
            except ImportRejected as rejected:
                rows = [_error_row(error) for error in rejected.errors]
                first = rejected.errors[0]
                if len(rows) == 1 and first.row in (0, 1):
                    problem = f"The file was not imported: {first.message}"
    return render_template("staff/registers/upload.html", problem=problem, result=result, rows=rows)


def _error_row(error: RowError) -> dict[str, object]:
    return {
        "row": error.row,
        "column": "" if error.row in (0, 1) else column_of(error.message),
        # The file's own column names: what the uploader sees in their file.
        "message": error.message[:1].upper() + error.message[1:],
    }
