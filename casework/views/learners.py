"""Learner pages: find a learner; their details, contacts (and the letters each receives),
enrolments, attendance with its weekly trend, and marks."""

from __future__ import annotations

from datetime import date

from flask import render_template, request

from casework.cases.contact_letters import learner_letters
from casework.records.learner_page import learner_page, learner_rows
from casework.routing import whole_number
from casework.views.charts import weekly_trend
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("learner_pages", __name__, url_prefix="/learners")

PER_PAGE = 25


def _page_number() -> int:
    return whole_number(request.args.get("page"), lowest=1) or 1


@bp.get("")
def index():
    # A NUL never matches a name, and PostgreSQL refuses the query holding one.
    text = request.args.get("q", "").replace("\x00", "").strip()[:100]
    page = _page_number()
    rows, total = learner_rows(staff_user(), text, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return render_template(
        "staff/learners/index.html", rows=rows, total=total, q=text, page=page, pages=pages
    )


@bp.get("/<int:learner_id>")
def show(learner_id: int):
    today = date.today()
    view = learner_page(
        staff_user(), learner_id, today, all_marks=request.args.get("marks") == "all"
    )
    charts = {
        item.enrolment.id: weekly_trend(
            [(week.week_start, week.percent) for week in item.weeks],
            item.threshold_percent,
            chart_id=f"trend-{item.enrolment.id}",
            title=f"Attendance per teaching week on {item.enrolment.programme.title}, "
            f"with the threshold at {item.threshold_percent:g}%",
        )
        for item in view.enrolments
        if item.weeks
    }
    letters = learner_letters(view.learner, [item.enrolment for item in view.enrolments], today)
    return render_template(
        "staff/learners/show.html", view=view, charts=charts, letters=letters, today=today
    )
