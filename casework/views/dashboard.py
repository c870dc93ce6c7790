"""The dashboards: what each role needs to act on today."""

from __future__ import annotations

from flask import render_template

from casework.views.pages import staff_blueprint

bp = staff_blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
def index():
    return render_template("staff/placeholder.html", title="Dashboard")
