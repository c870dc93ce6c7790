"""Registers in the browser: take a register, correct a mark, record an authorised absence,
upload a CSV."""

from __future__ import annotations

from flask import render_template

from casework.views.pages import staff_blueprint

bp = staff_blueprint("register_pages", __name__, url_prefix="/registers")


@bp.get("")
def index():
    return render_template("staff/placeholder.html", title="Registers")
