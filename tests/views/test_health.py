"""The health check (GET /healthz): public, answers without the database, even for someone
signed in (the page benchmark's bare endpoint)."""

from __future__ import annotations

from casework.extensions import db
from tests.views.conftest import sign_in


def test_answers_anyone_with_no_statement_and_the_security_headers(client, opened, statements):
    t, _case = opened
    db.session.commit()
    assert client.get("/healthz").json == {"status": "ok"}  # not signed in: no redirect
    assert sign_in(client, t.head.email).status_code == 303
    assert statements(client, "/healthz") == 0  # the session's account is not even loaded
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
