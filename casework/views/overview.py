"""A plain overview: programmes and learners with their attendance, until the staff app arrives."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template

from casework.registers.overview import programme_overview

bp = Blueprint("overview", __name__)


@bp.get("/")
def index():
    today = date.today()
    return render_template("overview/index.html", programmes=programme_overview(today), as_at=today)
