"""Fixtures: the app against each database, a clean database per test, and a model factory.

SQLite always runs. PostgreSQL runs when CASEWORK_TEST_POSTGRESQL_URL names a database that the
tests may wipe (CI sets it); without it those tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from casework import create_app
from casework.database import reset_database
from casework.extensions import db
from tests.cleanup import empty_database
from tests.factories import Factory

POSTGRESQL_ENV = "CASEWORK_TEST_POSTGRESQL_URL"
# A Redis database the tests may use (runs beside PostgreSQL in CI; database 15, kept apart).
REDIS_TEST_URL = os.environ.get("CASEWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytest_plugins = ["tests.case_fixtures"]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'casework.sqlite'}"
    url = os.environ.get(POSTGRESQL_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: set {POSTGRESQL_ENV}")
        pytest.skip(f"{POSTGRESQL_ENV} is not set")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis; skipped where none runs, as PostgreSQL is, but failing under CI."""
    import redis

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Redis tests: {REDIS_TEST_URL} does not answer ({error})")
        pytest.skip(f"Redis does not answer at {REDIS_TEST_URL}")
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": database_url,
            # Case tests fire hundreds of events; the letter tests turn rendering back on.
            "RENDER_LETTERS_ON_ACTION": False,
        }
    )
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    with app.app_context():
        reset_database()
    yield app
    with app.app_context():
        db.engine.dispose()  # close pooled connections before the interpreter does


@pytest.fixture
def app_context(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app
        empty_database()


@pytest.fixture
def statements(app_context) -> Callable[[FlaskClient, str], int]:
    """``statements(client, path)``: how many SQL statements a GET of ``path`` ran (a page, or
    an API resource through an ``ApiClient``: the N+1 check, a count must not grow with the
    rows listed); ``statements(client, path, seen)`` also puts them in the list ``seen``."""

    def count(client: FlaskClient, path: str, seen: list[str] | None = None) -> int:
        seen = [] if seen is None else seen  # the caller's list: the statements themselves

        def record(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = client.get(path)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        return len(seen)

    return count


@pytest.fixture
def make(app_context) -> Factory:
    return Factory()


@pytest.fixture
def client(app: Flask, app_context):
    return app.test_client()


@pytest.fixture
def runner(app: Flask, app_context):
    return app.test_cli_runner()
