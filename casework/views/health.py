"""``GET /healthz``: the app answers, and nothing else. For a load balancer's health check and
as the bare endpoint the page benchmark (bench/bench_pages.py) measures the pages against: no
database, no session, no template."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def check():
    # A health check's answer is never worth keeping: each must reach the app.
    return {"status": "ok"}, 200, {"Cache-Control": "no-store"}
