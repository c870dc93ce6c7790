"""Request ids (casework.logs): a sane incoming X-Request-ID is kept, anything else replaced by a
new one; either goes back in the response and onto every log record made during the request."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from casework import create_app
from casework.cli import main
from casework.config import ConfigError
from casework.logs import (
    HEADER,
    JsonFormatter,
    RequestIdFilter,
    bind_request_id,
    current_request_id,
    request_id_from,
)


@pytest.mark.parametrize(
    "incoming",
    [
        "abc-123",
        "0b1a1f5e-0f4b-4e55-9d3c-1d2f3a4b5c6d",
        "Root=1-5759e988-bd862e3fe1be46a9",
        "a" * 128,
    ],
)
def test_a_sane_incoming_id_is_echoed(client, incoming):
    response = client.get("/healthz", headers={HEADER: incoming})
    assert response.headers[HEADER] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        None,
        "",
        "has space",
        'quo"te',
        "new\\nline",
        "-leading-dash",
        "a" * 129,
        "<script>",
        "naïve",
    ],
)
def test_an_insane_or_missing_id_is_replaced_by_a_new_one(client, incoming):
    headers = {} if incoming is None else {HEADER: incoming}
    first = client.get("/healthz", headers=headers).headers[HEADER]
    second = client.get("/healthz", headers=headers).headers[HEADER]
    assert first != incoming and request_id_from(first) == first  # the new one is sane itself
    assert first != second  # one per request


def test_records_made_during_a_request_carry_its_id_and_none_after(tmp_path, capsys):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'unused.sqlite'}",
        }
    )
    seen: list[str | None] = []

    @app.before_request
    def probe() -> None:
        logging.getLogger("casework.probe").warning("probing")
        seen.append(current_request_id())

    response = app.test_client().get("/nowhere", headers={HEADER: "probe-42"})
    assert response.status_code == 404 and response.headers[HEADER] == "probe-42"
    assert seen == ["probe-42"]
    logging.getLogger("casework.probe").warning("after")
    lines = capsys.readouterr().err.splitlines()
    [during] = [line for line in lines if "probing" in line]
    [after] = [line for line in lines if "after" in line]
    assert "WARNING casework.probe [probe-42] probing" in during  # the text format
    assert "[-] after" in after  # the request is over: no id
    assert current_request_id() is None


def test_a_job_can_carry_an_id_and_the_json_lines_hold_it_with_the_extras():
    logger = logging.getLogger("tests.logs")
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "sent %d", (3,), None)
    record.letter_id = 7  # passed as extra=
    undo = bind_request_id("job-from-request-9")
    try:
        assert current_request_id() == "job-from-request-9"
        assert RequestIdFilter().filter(record)
    finally:
        undo()
    assert current_request_id() is None
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "job-from-request-9" and line["message"] == "sent 3"
    assert line["level"] == "INFO" and line["logger"] == "tests.logs" and line["letter_id"] == 7


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("LOG_FORMAT", "xml", "CASEWORK_LOG_FORMAT must be one of text, json, not 'xml'"),
        (
            "LOG_LEVEL",
            "loud",
            "CASEWORK_LOG_LEVEL must be a logging level such as INFO, not 'LOUD'",
        ),
    ],
)
def test_a_bad_log_setting_stops_any_command_with_its_name_and_no_traceback(
    setting, value, error, tmp_path, monkeypatch, capsys
):
    with pytest.raises(ConfigError, match=error):
        create_app({"TESTING": True, setting: value})
    monkeypatch.setenv(f"CASEWORK_{setting}", value)
    monkeypatch.setenv("CASEWORK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.sqlite'}")
    monkeypatch.setattr(sys, "argv", ["casework", "serve", "--help"])  # never a server
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"Error: {error}\n"
