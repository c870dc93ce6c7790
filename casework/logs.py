"""Logs: every request's id on every record made while it runs, and JSON lines when configured.

Each request gets an id: the one a proxy or client sent in ``X-Request-ID`` when it is a sane
token, else a new one. It goes back in the response's ``X-Request-ID`` (so gunicorn's access log
and whoever called can name the request) and, through a context variable, onto every log record
made while the request runs. ``current_request_id()`` is how work started by a request (a queued
job) takes the id along.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask

HEADER = "X-Request-ID"
# A proxy's or client's id is kept only if it could not upset a log line or a header: letters,
# digits and a little punctuation (UUIDs, AWS and Heroku ids all fit), at most 128 characters.
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=-]{0,127}")
FORMATS = ("text", "json")
TEXT_FORMAT = "[%(asctime)s] %(levelname)s %(name)s [%(request_id)s] %(message)s"
# The standard LogRecord attributes: anything else on a record was passed in `extra=` and is kept.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}

_request_id: ContextVar[str | None] = ContextVar("casework_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served (or of the job carrying one), else None."""
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Callable[[], None]:
    """Make ``request_id`` the current id (a job resuming its request's id); returns the undo."""
    token = _request_id.set(request_id)
    return lambda: _request_id.reset(token)


def request_id_from(incoming: str | None) -> str:
    """The incoming id when it is a sane token, else a new random one."""
    if incoming and SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or "-") on each record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request id, and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _RECORD_FIELDS
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last resort does),
    so a test's or a server's replacement stream gets the lines."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class RequestIdMiddleware:
    """WSGI middleware: the request's id is current for the whole request, errors included, and
    is sent back in the response."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = request_id

        def start_with_id(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        reset = bind_request_id(request_id)
        try:
            return self.app(environ, start_with_id)
        finally:
            reset()


def configure_logging(app: Flask, log_format: str, level: str) -> None:
    """Send the app's records (the ``casework`` logger and its children) to standard error as
    text or JSON lines, each with its request id; and give each request its id."""
    install_log_handler(log_format, "DEBUG" if app.debug else level)
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]


def install_log_handler(log_format: str, level: str) -> None:
    """The ``casework`` logger's one handler (in place of Flask's default): standard error, with
    the request id. Another app built in this process (tests build many) replaces it."""
    from flask.logging import default_handler

    logger = logging.getLogger("casework")
    logger.removeHandler(default_handler)
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(log_format))
    logger.addHandler(handler)
    logger.setLevel(level)
