"""The home page: what casework is and where its API is. No learner data: nobody signs in here
yet (the staff web app comes later), so the page must show nothing a stranger may not see."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    return render_template("home.html")
