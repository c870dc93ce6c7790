"""Health checks for a load balancer, public and cheap (no session, no template, no cookie):

- ``GET /healthz``: the app answers, and nothing else; the bare endpoint the page benchmark
  (bench/bench_pages.py) measures the pages against.
- ``GET /health``: the database answers (``SELECT 1``), and Redis when ``CASEWORK_REDIS_URL`` is
  set; 503 naming the check that failed.
"""

from __future__ import annotations

from flask import Blueprint

from casework.extensions import csrf, limiter
from casework.health import health

bp = Blueprint("health", __name__)
# A health check's answer is never worth keeping: each must reach the app.
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def check():
    return {"status": "ok"}, 200, NO_STORE


@bp.get("/health")
@csrf.exempt
@limiter.exempt
def status():
    healthy, checks = health()
    body = {"status": "ok" if healthy else "failed", "checks": checks}
    return body, 200 if healthy else 503, NO_STORE
