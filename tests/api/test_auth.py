"""Tokens: required, hashed, revocable, inactive users locked out; errors never HTML."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import ApiToken, Role
from casework.tokens import create_token, revoke_token
from tests.api.conftest import problem_type


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer cw_not-a-real-token", "Bearer x"],
)
def test_requests_without_a_valid_token_are_401_problems(client, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/api/v1/cases", headers=headers)
    assert response.status_code == 401 and problem_type(response) == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_is_stored_only_as_its_hash_and_its_use_is_recorded(make, client):
    user = make.user(Role.HEAD_OF_PROGRAMME)
    _token, secret = create_token(email=user.email, name="MIS")
    stored = db.session.scalars(select(ApiToken)).one()
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (stored.prefix, stored.name) and stored.last_used_at is None
    response = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    db.session.refresh(stored)
    assert stored.last_used_at is not None


def test_revoked_token_and_inactive_user_are_refused(make, client):
    user = make.user(Role.HEAD_OF_PROGRAMME)
    token, secret = create_token(email=user.email, name="MIS")
    _, other = create_token(email=user.email, name="Spare")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/cases", headers=headers).status_code == 200
    revoke_token(token.id)
    assert client.get("/api/v1/cases", headers=headers).status_code == 401
    user.active = False
    db.session.commit()
    response = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/api/v1/no-such-thing", 404, "not-found"),
        ("DELETE", "/api/v1/cases", 405, "http-error"),
        ("GET", "/api/v1/cases/not-a-number", 404, "not-found"),
    ],
)
def test_routing_errors_are_problems(api_as, make, method, path, status, kind):
    api = api_as(make.user(Role.ADMINISTRATOR))
    response = api.client.open(path, method=method, headers={"Authorization": api.auth})
    assert response.status_code == status and problem_type(response) == kind


def test_pages_still_get_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.content_type.startswith("text/html")


def test_openapi_and_docs_are_served(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and spec.json["openapi"].startswith("3.")
    assert "/api/v1/cases/{case_id}/events" in spec.json["paths"]
    assert spec.json["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data
    # the docs' script comes from the package, not from a CDN
    assert b"https://" not in docs.data
    with client.get("/api/v1/docs/assets/swagger-ui-bundle.js") as script:
        assert script.status_code == 200 and b"SwaggerUIBundle" in script.get_data()


def test_problem_types_are_described(client):
    response = client.get("/api/v1/problems/stale")
    assert response.status_code == 200 and response.json["status"] == 412
