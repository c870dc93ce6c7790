"""What ``GET /health`` checks: the database answers, and Redis when one is configured.

Each check says "ok", "failed" or "not configured", never why: the reason (which may name a host)
goes to the log, not to whoever asked.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from casework.extensions import db

log = logging.getLogger(__name__)

OK = "ok"
FAILED = "failed"
NOT_CONFIGURED = "not configured"
# A health check must answer before the load balancer gives up on it.
REDIS_TIMEOUT_SECONDS = 2.0


def check_database() -> str:
    try:
        # A connection of its own, not the request's session: nothing to roll back or remove.
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("health check: the database did not answer: %s", error)
        return FAILED
    return OK


@lru_cache(maxsize=4)
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


def check_redis() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return NOT_CONFIGURED
    import redis

    try:
        _redis_client(str(url)).ping()
    except (redis.RedisError, ValueError) as error:
        log.warning("health check: Redis did not answer: %s", error)
        return FAILED
    return OK


def health() -> tuple[bool, dict[str, str]]:
    """Whether everything configured answers, and each check's result by name."""
    checks = {"database": check_database(), "redis": check_redis()}
    return all(result != FAILED for result in checks.values()), checks
