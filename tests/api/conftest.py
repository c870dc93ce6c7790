"""API fixtures: a test client that sends a real token (made by the real token service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from casework.models import User
from casework.tokens import create_token


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
