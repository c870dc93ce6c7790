"""Configuration: defaults, then CASEWORK_* environment variables, then the caller's mapping."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from casework.logs import FORMATS, configure_logging


class ConfigError(ValueError):
    """A setting casework cannot run with; the message names it and says what it takes."""


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common driverless form."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def configure(app: Flask, config: Mapping[str, Any] | None) -> None:
    app.config.update(
        # Pooled connections idle a while are pinged before use (casework.extensions).
        SQLALCHEMY_ENGINE_OPTIONS={},
        # Demo-friendly default; production must set CASEWORK_SECRET_KEY (see README).
        SECRET_KEY=None,
        DATABASE_URL=None,
        # Session cookies: never read by script, not sent on other sites' posts, and HTTPS-only
        # unless debugging or testing (None: decided below, once DEBUG and TESTING are known).
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=None,
        # Failed sign-ins are counted here (memory: per process); e.g. redis://host for several.
        RATELIMIT_STORAGE_URI="memory://",
        # How many proxies in front set X-Forwarded-For and -Proto: 0 trusts none (see below).
        TRUSTED_PROXIES=0,
        # The largest request body taken (413 beyond): the register upload page takes files of
        # up to 5 MB, and 10,000 marks, the most one API call takes, come to under 4 MB.
        MAX_CONTENT_LENGTH=10 * 2**20,
        # Logs: "text" for a terminal, "json" (one object a line) for a log collector.
        LOG_FORMAT="text",
        LOG_LEVEL="INFO",
        # Redis, when set: /health checks it (and the job queue uses it).
        REDIS_URL=None,
        # `casework serve` (gunicorn): None is 2 x CPU cores + 1 workers; seconds a request may
        # take before its worker is restarted, and a stopping worker has to finish its requests.
        WEB_WORKERS=None,
        WEB_TIMEOUT=30,
        WEB_GRACEFUL_TIMEOUT=30,
        # Seconds to wait for PostgreSQL to answer a new connection: a host that never answers
        # (a dropped route, a firewall) fails /health and the request instead of hanging it.
        DATABASE_CONNECT_TIMEOUT=10,
    )
    # CASEWORK_SECRET_KEY -> SECRET_KEY, CASEWORK_DATABASE_URL -> DATABASE_URL, ...
    app.config.from_prefixed_env("CASEWORK")
    if config:
        app.config.update(config)
    configure_logging(app, *_log_settings(app.config))

    url = app.config.get("SQLALCHEMY_DATABASE_URI") or app.config.get("DATABASE_URL")
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(app.instance_path) / 'casework.sqlite'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    _connect_timeout(app.config)

    if app.config["TRUSTED_PROXIES"]:
        # The client's own address and scheme, from the proxies we trust: else every sign-in
        # seems to come from the proxy, and one address's failed sign-ins lock out everyone.
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = not (app.debug or app.testing)

    if not app.config.get("SECRET_KEY"):
        # Sessions then last only as long as this process: fine for the demo, logged.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        app.logger.info("CASEWORK_SECRET_KEY is not set; using a random key for this process")


def _connect_timeout(config: dict[str, Any]) -> None:
    """libpq waits for ever by default; a ``connect_timeout`` in the URL itself wins."""
    url = str(config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("postgresql") or "connect_timeout=" in url:
        return
    value = config["DATABASE_CONNECT_TIMEOUT"]
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 1 or str(value).strip() != str(seconds):
        raise ConfigError(
            f"CASEWORK_DATABASE_CONNECT_TIMEOUT must be a whole number of seconds, at least 1, "
            f"not {value!r}"
        )
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    options["connect_args"] = {"connect_timeout": seconds, **options.get("connect_args", {})}
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _log_settings(config: Mapping[str, Any]) -> tuple[str, str]:
    log_format = str(config["LOG_FORMAT"]).lower()
    if log_format not in FORMATS:
        raise ConfigError(
            f"CASEWORK_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}"
        )
    level = str(config["LOG_LEVEL"]).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"CASEWORK_LOG_LEVEL must be a logging level such as INFO, not {level!r}")
    return log_format, level
