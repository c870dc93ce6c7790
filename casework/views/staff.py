"""Staff pages. This foundation has the caseload; every page here is for staff only, and shows
only what the services' scope rules let the signed-in user see."""

from __future__ import annotations

from flask import render_template

from casework.cases.queries import caseload as caseload_of
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("staff", __name__)


@bp.get("/cases")
def caseload():
    return render_template("staff/caseload.html", cases=caseload_of(staff_user()))
