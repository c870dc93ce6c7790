"""Staff pages. This foundation has the caseload; every page here is for staff only, and shows
only what the services' scope rules let the signed-in user see."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from casework.cases.queries import caseload as caseload_of

bp = Blueprint("staff", __name__)


@bp.before_request
def staff_only() -> None:
    # Signed in is checked for every page (casework.views.security); this is who may.
    if not current_user.is_staff:
        abort(403, "This page is for staff.")


@bp.get("/cases")
def caseload():
    return render_template("staff/caseload.html", cases=caseload_of(current_user.account))
