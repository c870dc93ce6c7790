"""Web page fixtures: signing in through the real form (with its CSRF token)."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from casework.extensions import db, limiter
from tests.api.conftest import opened  # noqa: F401  (a case the scan opened: the caseload's)
from tests.case_fixtures import render_letters, to_written_warning

PASSWORD = "correct horse"


class PageClient(FlaskClient):
    """A browser's view: each request in an app context of its own, as when served, so nothing
    cached in ``g`` (the signed-in user, the CSRF token) leaks from one request or client into
    the next. The test's own session sees only what was committed."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def new_client(app: Flask, app_context):
    """Another browser: ``new_client()`` has no cookies."""
    limiter.reset()  # failed sign-ins counted by earlier tests (one address: the test client's)
    return lambda: PageClient(app, app.response_class)


@pytest.fixture
def client(new_client) -> PageClient:
    return new_client()


def pdf_text(body: bytes) -> str:
    """A downloaded PDF read back: the text of all its pages."""
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*? value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, path: str = "/sign-in"):
    token = csrf_token(client.get(path).get_data(as_text=True))
    return client.post(path, data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def with_letters(opened):  # noqa: F811
    """The opened case with its letters rendered, and an account for its learner."""
    t, case = opened
    render_letters(case)
    account = t.factory.learner_account(case.enrolment.learner, password=PASSWORD)
    db.session.commit()
    return t, case, account


@pytest.fixture
def written(opened, clock):  # noqa: F811
    """The opened case taken to a written warning (whose letters wait for the head's approval),
    every letter rendered, and an account for its learner."""
    t, case = opened
    to_written_warning(t, case, clock, case.opened_on)
    render_letters(case)
    account = t.factory.learner_account(case.enrolment.learner, password=PASSWORD)
    db.session.commit()
    return t, case, account
