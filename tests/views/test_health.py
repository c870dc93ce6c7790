"""The health checks: GET /healthz (public, answers without the database, even for someone
signed in: the page benchmark's bare endpoint) and GET /health (the database, and Redis when
configured: 503 naming what failed, and nothing else about it)."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from casework import create_app
from casework.config import ConfigError
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


@pytest.fixture
def silent_postgresql_port():
    """A port that takes the connection and never says a word, as a host behind a dropped
    route or a firewall does: without a connect timeout libpq waits for ever."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nothing ever answers
        yield listener.getsockname()[1]


def test_health_is_503_when_postgresql_takes_the_connection_and_never_answers(
    silent_postgresql_port,
):
    down = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": f"postgresql://casework@127.0.0.1:{silent_postgresql_port}/x",
            "DATABASE_CONNECT_TIMEOUT": 1,
        }
    )
    answers: list = []
    asking = threading.Thread(target=lambda: answers.append(down.test_client().get("/health")))
    asking.start()
    asking.join(timeout=120)  # far longer than the timeout: only a hang gets here empty-handed
    try:
        assert answers, "/health hung on a PostgreSQL host that never answers"
        assert answers[0].status_code == 503
        assert answers[0].json["checks"]["database"] == "failed"
    finally:
        with down.app_context():
            db.engine.dispose()
        install_log_handler("text", "INFO")


@pytest.mark.parametrize("value", [0, -3, "soon", 2.5, True])
def test_a_connect_timeout_that_is_not_a_whole_number_of_seconds_is_refused(value):
    with pytest.raises(ConfigError, match="CASEWORK_DATABASE_CONNECT_TIMEOUT must be a whole"):
        create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": "postgresql://casework@127.0.0.1/x",
                "DATABASE_CONNECT_TIMEOUT": value,
            }
        )


def test_a_connect_timeout_in_the_url_itself_wins():
    url = "postgresql://casework@127.0.0.1/x?connect_timeout=3"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url.split("?")[0]})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"connect_timeout": 10}
