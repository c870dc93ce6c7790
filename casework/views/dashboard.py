"""The dashboards: what each role needs to act on today, one page with a part for each role the
signed-in member of staff holds."""

from __future__ import annotations

from datetime import date

from flask import render_template

from casework.cases.dashboards import dashboard
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
def index():
    today = date.today()
    return render_template(
        "staff/dashboard/index.html", board=dashboard(staff_user(), today), today=today
    )
