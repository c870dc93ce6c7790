"""Pooled connections: one used moments ago is trusted (no ping, no round trip before the
request's first statement); one idle a while is pinged, and replaced if the server dropped it."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from casework import extensions
from casework.extensions import db


@pytest.fixture
def pings(app_context, monkeypatch) -> list[object]:
    """The pings made from here on, one entry each; the pool starts empty."""
    made: list[object] = []
    real = extensions.ping

    def counted(dbapi_connection) -> None:
        made.append(dbapi_connection)
        real(dbapi_connection)

    monkeypatch.setattr(extensions, "ping", counted)
    db.session.remove()
    db.engine.dispose()
    return made


def request_like() -> None:
    """What a request does with the pool: check a connection out, use it, give it back."""
    db.session.execute(text("SELECT 1"))
    db.session.remove()


def test_a_connection_used_moments_ago_is_not_pinged_and_an_idle_one_is(pings, monkeypatch):
    request_like()  # a new connection: alive, not pinged
    request_like()  # back in the pool moments ago
    assert pings == []
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)  # every one counts as idle
    request_like()
    assert len(pings) == 1


@pytest.fixture
def dropped_by_the_server(pings, database_url):
    """Make a pooled connection and have the server drop it (as a restart would)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a server to drop the connection: PostgreSQL")
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.remove()  # back in the pool
    other = create_engine(db.engine.url)
    try:
        with other.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()
    return pid


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    dropped_by_the_server, monkeypatch
):
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != dropped_by_the_server


def test_without_the_ping_the_dropped_connection_fails_its_request(
    dropped_by_the_server, monkeypatch
):
    """What the ping spares an idle connection's request (and shows the test above can fail);
    the pool is then discarded, so the next request has a new connection."""
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", math.inf)
    with pytest.raises(OperationalError):
        db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.remove()
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != dropped_by_the_server
