"""Learner pages: details, contacts, enrolments, attendance with its weekly trend, marks."""

from __future__ import annotations

from flask import render_template

from casework.views.pages import staff_blueprint

bp = staff_blueprint("learner_pages", __name__, url_prefix="/learners")


@bp.get("")
def index():
    return render_template("staff/placeholder.html", title="Learners")
