"""``casework serve`` (casework.serving): gunicorn's settings checked, and a real server with two
workers on 127.0.0.1 against each database, answering /health, logging each request as a JSON
line with its id, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from casework.serving import ServeConfigError, default_workers, server_options
from tests.ports import unused_port

SETTINGS = {
    "WEB_WORKERS": None,
    "WEB_TIMEOUT": 30,
    "WEB_GRACEFUL_TIMEOUT": 30,
    "LOG_FORMAT": "text",
}
STARTUP_DEADLINE_SECONDS = 60
STOP_DEADLINE_SECONDS = 60


def test_the_defaults_and_where_each_setting_comes_from():
    options = server_options(SETTINGS)
    assert options["bind"] == ["127.0.0.1:8000"]
    assert options["workers"] == default_workers() == 2 * len(os.sched_getaffinity(0)) + 1
    assert (options["timeout"], options["graceful_timeout"]) == (30, 30)
    assert (options["accesslog"], options["errorlog"]) == ("-", "-")
    assert options["forwarded_allow_ips"] == ""  # the app's ProxyFix decides whom to trust
    configured = {**SETTINGS, "WEB_WORKERS": "3", "WEB_TIMEOUT": 90, "WEB_GRACEFUL_TIMEOUT": 0}
    options = server_options(configured, bind="0.0.0.0:9000")
    assert (options["workers"], options["timeout"], options["graceful_timeout"]) == (3, 90, 0)
    assert options["bind"] == ["0.0.0.0:9000"]
    assert server_options(configured, workers="5")["workers"] == 5  # the option wins


@pytest.mark.parametrize(
    ("settings", "options", "error"),
    [
        ({}, {"workers": "0"}, "--workers must be at least 1, not 0"),
        ({}, {"workers": "many"}, "--workers must be a whole number, not 'many'"),
        ({"WEB_WORKERS": "two"}, {}, "CASEWORK_WEB_WORKERS must be a whole number, not 'two'"),
        ({"WEB_WORKERS": -1}, {}, "CASEWORK_WEB_WORKERS must be at least 1, not -1"),
        ({"WEB_TIMEOUT": 0}, {}, "CASEWORK_WEB_TIMEOUT must be at least 1, not 0"),
        ({"WEB_TIMEOUT": "30s"}, {}, "CASEWORK_WEB_TIMEOUT must be a whole number, not '30s'"),
        ({"WEB_GRACEFUL_TIMEOUT": -5}, {}, "CASEWORK_WEB_GRACEFUL_TIMEOUT must be at least 0"),
        ({}, {"bind": "8000"}, "--bind must be HOST:PORT"),
        ({}, {"bind": "localhost:"}, "--bind must be HOST:PORT"),
        ({}, {"bind": ":8000"}, "--bind must be HOST:PORT"),
        ({}, {"bind": "127.0.0.1:70000"}, "--bind must be HOST:PORT"),
        ({}, {"bind": "unix:"}, "--bind must be HOST:PORT"),
    ],
)
def test_a_bad_setting_is_named(settings, options, error):
    with pytest.raises(ServeConfigError, match=error.replace("(", r"\(")):
        server_options({**SETTINGS, **settings}, **options)


def test_the_command_says_what_is_wrong_without_a_traceback(runner, monkeypatch, app):
    result = runner.invoke(args=["serve", "--workers", "0"])
    assert result.exit_code == 2
    assert "Error: --workers must be at least 1, not 0" in result.output
    assert "Traceback" not in result.output
    monkeypatch.setitem(app.config, "WEB_TIMEOUT", "soon")
    result = runner.invoke(args=["serve"])
    assert result.exit_code == 2 and "CASEWORK_WEB_TIMEOUT must be a whole number" in result.output


def wait_for_health(base: str, server: subprocess.Popen) -> None:
    """Polls /health until it answers (the workers have booted), up to a deadline."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"casework serve exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # not yet listening: ask again
    pytest.fail(f"casework serve did not answer within {STARTUP_DEADLINE_SECONDS} s")


def server_environment(database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without its casework, Flask or gunicorn settings, plus a
    database, keys and ``settings``: what a server started by a test runs with."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CASEWORK_", "FLASK_", "GUNICORN"))
    }
    return env | {
        "CASEWORK_DATABASE_URL": database_url,
        "CASEWORK_SECRET_KEY": "serve-test",
        "CASEWORK_AUDIT_KEY": "serve-test-audit-key-of-32-characters",
        **settings,
    }


def test_a_real_server_with_two_workers_answers_logs_and_stops_cleanly(database_url, tmp_path):
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    env = server_environment(database_url, CASEWORK_LOG_FORMAT="json")
    command = [sys.executable, "-c", "from casework.cli import main; main()"]
    server = subprocess.Popen(
        [*command, "serve", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_health(base, server)
        request = urllib.request.Request(f"{base}/health", headers={"X-Request-ID": "serve-1"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["X-Request-ID"] == "serve-1"
            assert json.load(response) == {
                "status": "ok",
                "checks": {"database": "ok", "redis": "not configured"},
            }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = server.communicate(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            stdout, stderr = server.communicate()
            pytest.fail(f"casework serve did not stop on SIGTERM:\n{stderr}")

    assert server.returncode == 0, stderr
    access = [json.loads(line) for line in stdout.splitlines()]  # every line is JSON
    [ours] = [line for line in access if line["request_id"] == "serve-1"]
    assert (ours["method"], ours["path"], ours["status"]) == ("GET", "/health", 200)
    assert ours["remote_addr"] == "127.0.0.1" and ours["duration_ms"] >= 0
    errors = [json.loads(line) for line in stderr.splitlines()]  # LOG_FORMAT=json: JSON too
    booted = [line for line in errors if line["message"].startswith("Booting worker")]
    assert len(booted) == 2
    assert any(line["message"].startswith("Handling signal: term") for line in errors)
    assert not [line for line in errors if line["level"] in ("ERROR", "CRITICAL")]
    assert not list(Path(tmp_path).iterdir())  # nothing written beside it (no key, no socket)
