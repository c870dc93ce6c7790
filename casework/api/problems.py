"""Errors as problem details (RFC 9457): one stable ``type`` per kind of problem.

Every error the API returns, from a refused case event to a route that does not exist, is an
``application/problem+json`` body; never HTML and never a stack trace.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, current_app, json, request
from marshmallow import Schema, fields
from werkzeug.exceptions import BadRequest, HTTPException

from casework.errors import CaseError

API_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
PROBLEMS_PATH = f"{API_PREFIX}/problems/"

# kind -> (HTTP status, title, what it means). The kind is the stable part of the type URI.
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "unauthenticated": (
        401,
        "Not signed in",
        "The request had no API token, or one that is unknown, revoked or of an inactive user. "
        "Send Authorization: Bearer <token> (casework create-token).",
    ),
    "forbidden": (403, "Not permitted", "Your role does not allow this action."),
    "not-found": (
        404,
        "Not found",
        "There is no such resource, or it is outside what you may see.",
    ),
    "not-allowed": (
        409,
        "Not allowed from this stage",
        "The case's stage does not allow this event; `allowed` lists the events it does.",
    ),
    "guard-failed": (
        409,
        "Conditions not met",
        "The event is allowed from this stage, but the policy's conditions for it are not met "
        "now; `detail` says which.",
    ),
    "case-open": (
        409,
        "The enrolment has an open case",
        "An enrolment with an open case is withdrawn or completed only through the case's "
        "workflow: fire `event` on case `case_id`. `withdraw` withdraws the learner; `close` "
        "ends the case, after which the enrolment may change.",
    ),
    "invalid-json": (
        400,
        "Invalid JSON",
        "The body is not JSON casework can read: not UTF-8, not well formed, nested deeper "
        "than casework's bodies ever are, or a number of thousands of digits; `detail` says "
        "which.",
    ),
    "too-large": (
        413,
        "Request too large",
        "The body is larger than casework takes (`detail` says how much it takes); send it "
        "in parts, e.g. fewer marks a request.",
    ),
    "invalid-data": (
        422,
        "Invalid data",
        "Some of the request's data is missing or wrong; `errors` says which, field by field.",
    ),
    "stale": (
        412,
        "The case has changed",
        "The case's version (ETag) is not the one sent in If-Match: someone acted on it since. "
        "Read it again, then decide.",
    ),
    "precondition-required": (
        428,
        "If-Match required",
        "Acting on a case needs the version you read: send its ETag as If-Match.",
    ),
    "idempotency-key-reused": (
        422,
        "Idempotency key used for another request",
        "This Idempotency-Key was used before for a different request. Use a new key.",
    ),
    "request-in-progress": (
        409,
        "The same request is still running",
        "A request with this Idempotency-Key has not finished. Wait, then retry it.",
    ),
    "integrity-failed": (
        409,
        "Failed its integrity check",
        "The stored letter's bytes do not match its SHA-256 or its seal, so it is not served. "
        "It has been logged; tell your administrator (casework verify-audit names it).",
    ),
    "response-lost": (
        409,
        "Done, but the response was lost",
        "The request with this Idempotency-Key was done (its change was committed), but its "
        "response was not kept: it is not run again. Read the resource it acted on (GET) to see "
        "the result.",
    ),
    "http-error": (
        400,
        "HTTP error",
        "A request the API cannot take as it is (for example an unsupported method or media "
        "type); `status` and `title` say which.",
    ),
    "server-error": (
        500,
        "Server error",
        "Something went wrong on casework's side; nothing was changed. It has been logged.",
    ),
}
_CASE_ERROR_PROBLEM = {
    "not_found": "not-found",
    "not_allowed": "not-allowed",
    "forbidden": "forbidden",
    "guard_failed": "guard-failed",
    "invalid_data": "invalid-data",
    "stale": "stale",
    "case_open": "case-open",
    "integrity_failed": "integrity-failed",
}
_STATUS_PROBLEM = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    422: "invalid-data",
}


class InvalidJson(BadRequest):
    """A JSON body casework cannot read (casework.api.jsonbody says why)."""


class ProblemSchema(Schema):
    """RFC 9457 problem details, with casework's extension members."""

    type = fields.String(required=True, metadata={"format": "uri-reference"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(metadata={"description": "Field by field (invalid-data)."})
    allowed = fields.List(fields.String(), metadata={"description": "Events allowed now."})
    current_version = fields.Integer(metadata={"description": "The case's version (stale)."})
    case_id = fields.Integer(metadata={"description": "The open case to act on (case-open)."})
    event = fields.String(metadata={"description": "The case event to fire (case-open)."})


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def problem(
    kind: str, detail: str | None = None, *, status: int | None = None, **extra: Any
) -> Response:
    default_status, title, _ = PROBLEMS[kind]
    status = status or default_status
    if kind == "http-error":
        title = HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": PROBLEMS_PATH + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update({key: value for key, value in extra.items() if value is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="casework"'
    return response


def case_problem(error: CaseError) -> Response:
    extra: dict[str, Any] = {}
    if error.kind == "invalid_data":
        extra["errors"] = getattr(error, "errors", None)
    elif error.kind == "not_allowed":
        extra["allowed"] = list(getattr(error, "allowed", []) or [])
    elif error.kind == "stale":
        current = getattr(error, "current_version", None)
        extra["current_version"] = current if current is not None and current >= 0 else None
    elif error.kind == "case_open":
        extra["case_id"] = getattr(error, "case_id", None)
        extra["event"] = getattr(error, "event", None)
    return problem(_CASE_ERROR_PROBLEM[error.kind], str(error), **extra)


def size_limit_words() -> str:
    """MAX_CONTENT_LENGTH in words: "10 MB", or bytes where it is less than a megabyte."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit} bytes"


def too_large_words() -> str:
    return f"The request is larger than casework takes ({size_limit_words()} at most)."


def http_problem(error: HTTPException) -> Response:
    """A werkzeug error (including webargs' validation errors) as a problem."""
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    if code == 422 and "messages" in data:
        # webargs: {"json": {"field": [...]}} -> the fields themselves
        messages = data["messages"]
        errors = {}
        for location_errors in messages.values():
            errors.update(location_errors if isinstance(location_errors, dict) else {})
        return problem("invalid-data", "Some of the data is missing or wrong.", errors=errors)
    if isinstance(error, InvalidJson):
        return problem("invalid-json", error.description)
    if code == 413:
        return problem("too-large", too_large_words())
    kind = _STATUS_PROBLEM.get(code, "server-error" if code >= 500 else "http-error")
    detail = data.get("message") or error.description
    response = problem(kind, detail, status=code)
    if code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response
