"""The home page (GET /): what casework is and where its API is, and no learner data at all."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import event, select

from casework.demo import build_demo
from casework.extensions import db
from casework.models import Learner


def page(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_says_what_casework_is_and_where_the_api_is(client):
    html = page(client)
    assert '<html lang="en-GB"' in html
    assert 'href="/sign-in"' in html
    assert "runs learner attendance concerns as cases" in html
    assert "<code>http://localhost/api/v1</code>" in html
    links = re.findall(r'href="([^"]+)"', html)
    assert "http://localhost/api/v1/docs" in links
    assert "http://localhost/api/v1/openapi.json" in links
    assert "casework create-token EMAIL" in html
    # The links lead somewhere: the docs page and the OpenAPI document need no token.
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/openapi.json").json["info"]["title"] == "casework"


def test_shows_no_learner_data_and_reads_no_database(client, app_context):
    build_demo(date.today())
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        html = page(client)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert statements == []
    learners = list(db.session.scalars(select(Learner)))
    assert len(learners) >= 55
    for learner in learners:
        assert learner.learner_ref not in html
        assert learner.family_name not in html
    assert "%" not in html  # no attendance or punctuality figure
