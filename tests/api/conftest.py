"""API fixtures: a test client that sends a real token (made by the real token service)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import Case, ContactKind, User
from casework.tokens import create_token
from tests.case_fixtures import PLAN

# How the schemathesis tests draw: a real database behind every call, so few examples, no
# deadline and no example database; drawing for a large schema is slow, and that is fine.
FUZZING = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class ApiClient:
    """The app's test client, calling /api/v1 as one user with their bearer token."""

    def __init__(self, client: FlaskClient, secret: str):
        self.client, self.secret = client, secret

    @property
    def auth(self) -> str:
        return f"Bearer {self.secret}"

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw):
        headers = {"Authorization": self.auth, **(headers or {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any):
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any):
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api_as(client: FlaskClient) -> Callable[[User], ApiClient]:
    def for_user(user: User) -> ApiClient:
        _, secret = create_token(email=user.email, name="tests")
        return ApiClient(client, secret)

    return for_user


def problem_type(response) -> str:
    """The kind of an RFC 9457 problem response (the last part of its type URI)."""
    assert response.content_type == "application/problem+json", response.get_data(as_text=True)
    return response.json["type"].rsplit("/", 1)[-1]


@pytest.fixture
def opened(team, make, clock):
    """A 003 case opened by the scan for an under-18 with a parent, as the API sees it."""
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1))
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent", address="1 Road")
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    return t, case


def warning(**overrides):
    body = {"event": "give_verbal_warning", "note": "Spoke to them", "data": {"action_plan": PLAN}}
    return {**body, **overrides}
