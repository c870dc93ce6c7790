"""``casework serve``: gunicorn, configured for production through its own API.

Workers default to 2 x CPU cores + 1 (gunicorn's advice for sync workers); timeouts come from the
app's settings; the access log is one JSON object a line on standard output, carrying the
request's id; the error log (and the app's records) go to standard error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from casework.config import ConfigError
from casework.logs import HEADER, formatter

DEFAULT_BIND = "127.0.0.1:8000"


class ServeConfigError(ConfigError):
    """A setting or option `casework serve` cannot run with; its message says which and why."""


class JsonLinesLogger(Logger):
    """gunicorn's logger with the access log as JSON lines (a user agent or path holding quotes
    cannot break a line), and the error log as JSON too when ``LOG_FORMAT`` is json."""

    log_format = "text"

    def setup(self, cfg) -> None:
        super().setup(cfg)
        if self.log_format == "json":
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter("json"))

    def access(self, resp, req, environ, request_time) -> None:
        if self.cfg.accesslog is None:
            return
        try:
            self.access_log.info(json.dumps(self._entry(resp, environ, request_time)))
        except Exception:  # a log line is never worth a failed request
            self.exception("could not write the access log line")

    def _entry(self, resp, environ, request_time) -> dict[str, Any]:
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        headers = {name.lower(): value for name, value in resp.headers}
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "protocol": environ.get("SERVER_PROTOCOL"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "referer": environ.get("HTTP_REFERER"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": headers.get(HEADER.lower()),
            "pid": os.getpid(),
        }


def _whole_number(name: str, value: Any, *, least: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ServeConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number < least:
        raise ServeConfigError(f"{name} must be at least {least}, not {number}")
    return number


def _bind(value: str) -> str:
    if value.startswith("unix:") and len(value) > len("unix:"):
        return value
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ServeConfigError(
            f"--bind must be HOST:PORT (a port from 1 to 65535) or unix:PATH, not {value!r}"
        )
    return value


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 * (cores or 1) + 1


def server_options(
    config: Mapping[str, Any], *, workers: int | None = None, bind: str | None = None
) -> dict[str, Any]:
    """gunicorn's settings from the app's (``WEB_*``) and the command's options, checked."""
    configured = config.get("WEB_WORKERS")
    if workers is not None:
        count = _whole_number("--workers", workers, least=1)
    elif configured not in (None, ""):
        count = _whole_number("CASEWORK_WEB_WORKERS", configured, least=1)
    else:
        count = default_workers()
    logger = type(
        "CaseworkLogger", (JsonLinesLogger,), {"log_format": str(config.get("LOG_FORMAT"))}
    )
    return {
        "bind": [_bind(bind or DEFAULT_BIND)],
        "workers": count,
        # 0 would let a stuck request hold its worker for good.
        "timeout": _whole_number("CASEWORK_WEB_TIMEOUT", config.get("WEB_TIMEOUT"), least=1),
        "graceful_timeout": _whole_number(
            "CASEWORK_WEB_GRACEFUL_TIMEOUT", config.get("WEB_GRACEFUL_TIMEOUT"), least=0
        ),
        "accesslog": "-",
        "errorlog": "-",
        "logger_class": logger,
        "proc_name": "casework",
        # The app's ProxyFix is the one place that trusts X-Forwarded-* headers, as many hops as
        # CASEWORK_TRUSTED_PROXIES says; gunicorn trusts none, so with TRUSTED_PROXIES at 0 no
        # client can claim HTTPS with a header.
        "forwarded_allow_ips": "",
    }


class CaseworkServer(BaseApplication):
    """gunicorn running the app; each worker builds its own (no connections shared by fork)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn 24+ opens a control socket at one path per user: a second server (a
            # second site, a test) would take the first one's. Nothing here uses it.
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from casework import create_app

        return create_app()
