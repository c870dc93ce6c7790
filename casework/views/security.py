"""What every page needs for its safety: sign-in before anything but the public pages, and the
security headers on every response."""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response

from casework.api.problems import is_api_request
from casework.extensions import login_manager

# Pages anyone may see: the overview, signing in, the design system's files, the health check.
PUBLIC_ENDPOINTS = frozenset(
    {"home.index", "auth.sign_in", "static", "health.check", "health.status"}
)
# Answered without looking at who is signed in (no session read, no account loaded): they are
# no one's, and a health check must not load an account (or, for /healthz, touch the database).
NO_ONES = frozenset({"static", "health.check", "health.status"})
API_DOCS = "api-docs."  # the API's docs page and OpenAPI document: public, like the API's own

# No inline script or style anywhere, nothing from other sites, never in a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
# Swagger UI (the API's docs page) sets style attributes and draws its icons from data: URIs;
# its own start-up script is a file (templates/swagger_ui.html), so script stays 'self'.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
).replace("img-src 'self'", "img-src 'self' data:")


def require_sign_in() -> ResponseReturnValue | None:
    """``before_request``: anyone not signed in goes to the sign-in page first. The API has its
    own tokens; an unknown address is left to be a 404."""
    endpoint = request.endpoint
    if (
        endpoint is None
        or endpoint in PUBLIC_ENDPOINTS
        or endpoint.startswith(API_DOCS)
        or is_api_request()
        or current_user.is_authenticated
    ):
        return None
    return login_manager.unauthorized()


def security_headers(response: Response) -> Response:
    docs = request.endpoint is not None and request.endpoint.startswith(API_DOCS)
    response.headers["Content-Security-Policy"] = (
        DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors for older browsers
    # Nobody's pages kept in a cache (the design system's files may be: they are no one's).
    if request.endpoint not in NO_ONES and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_security(app: Flask) -> None:
    app.before_request(require_sign_in)
    app.after_request(security_headers)
