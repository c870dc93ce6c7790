"""The health checks: GET /healthz (public, answers without the database, even for someone
signed in: the page benchmark's bare endpoint) and GET /health (the database, and Redis when
configured: 503 naming what failed, and nothing else about it)."""

from __future__ import annotations

import json

import pytest

from casework import create_app
from casework.extensions import db
from casework.logs import install_log_handler
from tests.ports import unused_port
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


def test_health_checks_the_database_for_anyone_with_one_statement(client, opened, statements):
    t, _case = opened
    db.session.commit()
    seen: list[str] = []
    assert statements(client, "/health", seen) == 1 and seen == ["SELECT 1"]
    assert sign_in(client, t.head.email).status_code == 303
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "not configured"},
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # the session neither read nor written


def test_health_says_ok_for_redis_that_answers(client, app, redis_url, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize(
    "redis_url",
    [
        pytest.param(lambda: f"redis://:hunter2-secret@127.0.0.1:{unused_port()}/0", id="closed"),
        pytest.param(lambda: "http://hunter2-secret@example.invalid/", id="not-a-redis-url"),
    ],
)
def test_health_is_503_when_configured_redis_does_not_answer(client, app, monkeypatch, redis_url):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url())
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json == {"status": "failed", "checks": {"database": "ok", "redis": "failed"}}
    assert "hunter2" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            lambda tmp: f"postgresql://casework:hunter2-secret@127.0.0.1:{unused_port()}/casework",
            id="postgresql-closed-port",
        ),
        pytest.param(lambda tmp: f"sqlite:///{tmp}/no-such-folder/casework.sqlite", id="sqlite"),
    ],
)
def test_health_is_503_and_logs_why_with_the_request_id_when_the_database_is_down(
    url, tmp_path, capsys
):
    down = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": url(tmp_path),
            "LOG_FORMAT": "json",
        }
    )
    try:
        response = down.test_client().get("/health", headers={"X-Request-ID": "lb-probe-7"})
    finally:
        with down.app_context():
            db.engine.dispose()
        install_log_handler("text", "INFO")  # as the tests' own app has it
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert response.json == {
        "status": "failed",
        "checks": {"database": "failed", "redis": "not configured"},
    }
    assert "hunter2" not in body and "Traceback" not in body
    assert response.headers["X-Request-ID"] == "lb-probe-7"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [why] = [line for line in lines if line["logger"] == "casework.health"]
    assert why["level"] == "WARNING" and why["request_id"] == "lb-probe-7"
    assert why["message"].startswith("health check: the database did not answer")
