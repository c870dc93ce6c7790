"""Signing in and out, changing a password, and the limits on failed sign-ins."""

from __future__ import annotations

import pytest
from flask import request

from casework import create_app
from casework.extensions import db
from casework.models import Role
from casework.models.types import PasswordMixin
from casework.views.auth import LOCKED
from tests.views.conftest import PASSWORD, csrf_token, sign_in


@pytest.fixture
def mentor(make):
    user = make.user(Role.TUTOR_MENTOR, name="Mo Mentor", password=PASSWORD)
    db.session.commit()
    return user


@pytest.fixture
def learner_account(make):
    account = make.learner_account(password=PASSWORD)
    db.session.commit()
    return account


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Every password check made, by the hash it was checked against (a spy)."""
    checked: list[str] = []
    real = PasswordMixin.check_password

    def spy(self, password: str) -> bool:
        checked.append(self.password_hash)
        return real(self, password)

    monkeypatch.setattr(PasswordMixin, "check_password", spy)
    return checked


@pytest.mark.parametrize("path", ["/cases", "/my", "/account/password"])
def test_pages_need_signing_in_first(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sign-in?next=%2F{path[1:].replace('/', '%2F')}"


@pytest.mark.parametrize("path", ["/", "/sign-in", "/api/v1/docs", "/static/vendor/casework.css"])
def test_public_pages_need_no_sign_in(client, path):
    with client.get(path) as response:  # a static file's response holds the file open
        assert response.status_code == 200


def test_staff_land_on_their_dashboard_and_learners_on_their_area(client, mentor, learner_account):
    response = sign_in(client, mentor.email.upper())  # any letter case
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    response = client.get("/cases")
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Mo Mentor" in page and "Sign out" in page
    client.post("/sign-out", data={"csrf_token": csrf_token(page)})

    response = sign_in(client, learner_account.email)
    assert response.status_code == 303 and response.headers["Location"] == "/my"


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(new_client, mentor):
    client = new_client()
    assert sign_in(client, mentor.email, path="/sign-in?next=/my").headers["Location"] == "/my"
    response = sign_in(new_client(), mentor.email, path="/sign-in?next=//evil.example/x")
    assert response.headers["Location"] == "/dashboard"


def test_a_wrong_password_or_unknown_email_says_so_and_signs_nobody_in(client, mentor):
    for email, password in [(mentor.email, "wrong password"), ("nobody@example.org", PASSWORD)]:
        response = sign_in(client, email, password)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert (
            "There is a problem" in page and "Enter a correct email address and password." in page
        )
        assert "<title>Error: Sign in" in page
    assert client.get("/cases").status_code == 302


def test_empty_fields_are_named(client):
    page = sign_in(client, "", "").get_data(as_text=True)
    assert "Enter your email address." in page and "Enter your password." in page
    assert 'href="#email"' in page and 'href="#password"' in page


def test_an_inactive_account_is_refused(client, mentor):
    mentor.active = False
    db.session.commit()
    response = sign_in(client, mentor.email)
    assert response.status_code == 403
    assert "This account is not active" in response.get_data(as_text=True)
    assert client.get("/cases").status_code == 302


def test_a_deactivated_user_is_signed_out_at_their_next_request(client, mentor):
    sign_in(client, mentor.email)
    mentor.active = False
    db.session.commit()
    assert client.get("/cases").status_code == 302


def test_the_sixth_failure_in_a_row_is_refused_without_checking_the_password(
    client, mentor, password_checks
):
    for _ in range(5):
        assert sign_in(client, mentor.email, "wrong password").status_code == 200
    assert password_checks == [mentor.password_hash] * 5
    response = sign_in(client, mentor.email, PASSWORD)  # even the right one
    assert response.status_code == 429
    assert LOCKED in response.get_data(as_text=True)
    assert len(password_checks) == 5
    assert client.get("/cases").status_code == 302


def test_a_success_starts_the_count_again(client, mentor):
    for _ in range(4):
        sign_in(client, mentor.email, "wrong password")
    page = client.get(sign_in(client, mentor.email).headers["Location"]).get_data(as_text=True)
    client.post("/sign-out", data={"csrf_token": csrf_token(page)})
    for _ in range(5):
        assert sign_in(client, mentor.email, "wrong password").status_code == 200
    assert sign_in(client, mentor.email, "wrong password").status_code == 429


def test_one_address_failing_across_many_accounts_is_stopped(client, new_client):
    for n in range(20):
        assert sign_in(client, f"guess{n}@example.org", "guess").status_code == 200
    response = sign_in(client, "guess20@example.org", "guess")
    assert response.status_code == 429
    assert "too many failed attempts to sign in from your network" in response.get_data(
        as_text=True
    )
    elsewhere = new_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_in(elsewhere, "guess21@example.org", "guess").status_code == 200


def test_behind_trusted_proxies_the_address_limited_is_the_clients(tmp_path):
    """The per-address limit counts request.remote_addr (Flask-Limiter's get_remote_address)."""
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "TRUSTED_PROXIES": 1})
    seen = []
    app.before_request(lambda: seen.append(request.remote_addr))
    app.test_client().get("/", headers={"X-Forwarded-For": "198.51.100.4"})
    assert seen == ["198.51.100.4"]


@pytest.mark.parametrize(
    ("path", "data"),
    [("/sign-in", {"email": "a@example.org", "password": "x"}), ("/sign-out", {})],
)
def test_a_form_without_its_csrf_token_is_refused(client, path, data):
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "did not come from casework" in response.get_data(as_text=True)


def test_signing_out_ends_the_session(client, mentor):
    page = client.get(sign_in(client, mentor.email).headers["Location"]).get_data(as_text=True)
    response = client.post("/sign-out", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303 and response.headers["Location"] == "/sign-in"
    assert "You have signed out." in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/cases").status_code == 302


def change(client, current: str, new: str, confirm: str | None = None):
    token = csrf_token(client.get("/account/password").get_data(as_text=True))
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
            "csrf_token": token,
        },
    )


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong password", "a brand new passphrase", None, "Your current password is not right."),
        (PASSWORD, "too short", None, "must be at least 12 characters"),
        (PASSWORD, "a brand new passphrase", "something else", "The passwords do not match."),
        (PASSWORD, PASSWORD + " again", None, None),
    ],
)
def test_changing_a_password(client, new_client, mentor, current, new, confirm, message):
    sign_in(client, mentor.email)
    other_browser = new_client()
    sign_in(other_browser, mentor.email)
    response = change(client, current, new, confirm)
    if message:
        assert response.status_code == 200 and message in response.get_data(as_text=True)
        assert sign_in(new_client(), mentor.email).status_code == 303
        return
    assert response.status_code == 303
    assert client.get("/cases").status_code == 200  # still signed in here
    assert other_browser.get("/cases").status_code == 302  # every other session has ended
    assert sign_in(new_client(), mentor.email, new).status_code == 303


def test_the_sixth_wrong_current_password_in_a_row_is_refused_unchecked(
    client, mentor, password_checks
):
    sign_in(client, mentor.email)
    password_checks.clear()
    for _ in range(5):
        assert change(client, "wrong password", "a brand new passphrase").status_code == 200
    assert len(password_checks) == 5
    response = change(client, PASSWORD, "a brand new passphrase")
    assert response.status_code == 429 and LOCKED in response.get_data(as_text=True)
    assert len(password_checks) == 5


def test_pages_carry_the_security_headers(client):
    response = client.get("/sign-in")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "<style" not in html and "style=" not in html


def test_the_api_docs_page_has_no_inline_script(client):
    response = client.get("/api/v1/docs")
    html = response.get_data(as_text=True)
    assert "<script>" not in html and 'data-spec-url="/api/v1/openapi.json"' in html
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    with client.get("/static/swagger-init.js") as script:
        assert script.status_code == 200


def test_session_cookies_are_secure_unless_debugging_or_testing(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert create_app({"SQLALCHEMY_DATABASE_URI": url}).config["SESSION_COOKIE_SECURE"] is True
    testing = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    assert testing.config["SESSION_COOKIE_SECURE"] is False
    chosen = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SESSION_COOKIE_SECURE": True, "DEBUG": True}
    )
    assert chosen.config["SESSION_COOKIE_SECURE"] is True


def test_the_session_cookie_is_http_only_and_same_site(client, mentor):
    response = sign_in(client, mentor.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
