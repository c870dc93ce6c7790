"""Idempotency-Key on POSTs: a retried request gets the first response and changes nothing.

The key's claim is written in the same transaction as the request's action: it is added and
flushed before the view runs but not committed, so the service's own commit commits the claim
and the change together, and a request that dies before that commit (its worker killed, say)
leaves neither, and its retry runs as new. A copy arriving meanwhile waits on the claim's unique
(user, key) index until the first commits or rolls back: it then finds the claim (and answers
from it, below) or takes the key itself.

Once the view has answered, its response is stored with the claim in a second, short
transaction; a retry with the same key and the same request gets it back byte for byte, with
``Idempotent-Replayed: true``. A view that answers 4xx without committing (a refusal it
returned) has its answer stored in a fresh claim, so it is replayed too; one that raises (a
refusal raised as an error, a server error) or answers 5xx before committing leaves no claim
and may be retried as new.

What remains is the moment between the action's commit and the stored response. A claim
without a response answers ``request-in-progress`` (409) for ``IDEMPOTENCY_RESPONSE_WAIT``
seconds from its creation (120 by default), then ``response-lost`` (409): the action was done,
so it is never run again; read the resource to see what it did. A view that failed after its
action committed says ``response-lost`` at once.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, make_response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from casework.api.auth import caller
from casework.api.problems import problem
from casework.extensions import db
from casework.models import IdempotentRequest

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's examples use
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")
RESPONSE_WAIT = "IDEMPOTENCY_RESPONSE_WAIT"  # seconds; the app's setting of that name
DEFAULT_RESPONSE_WAIT = 120

HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": (
        "Any unique string (a UUID, say) of up to 255 visible ASCII characters. Retrying the "
        "same request with the same key returns the first response and changes nothing more."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]+$"},
}


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode() + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(record: IdempotentRequest) -> Response:
    response = Response(record.response_body, status=record.status_code)
    for name, value in (record.response_headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _answer_to(record: IdempotentRequest, fingerprint: str) -> Response:
    if record.request_sha256 != fingerprint:
        return problem(
            "idempotency-key-reused",
            f"The key {record.key!r} was used for another request ({record.method} {record.path}).",
        )
    if record.status_code is not None:
        return _replay(record)
    wait = timedelta(seconds=current_app.config.get(RESPONSE_WAIT, DEFAULT_RESPONSE_WAIT))
    if record.completed_at is None and datetime.now(UTC) - record.created_at < wait:
        return problem("request-in-progress")
    return problem(
        "response-lost",
        f"The request with the key {record.key!r} (first received at "
        f"{record.created_at.isoformat()}) was done, but its response was not kept. Do not "
        "send it again: read the resource it acted on to see the result.",
    )


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Apply above flask-smorest's decorators (it needs the finished response)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.fullmatch(key):
            return problem(
                "invalid-data",
                "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
                errors={HEADER: ["Must be 1 to 255 visible ASCII characters."]},
            )
        user_id, fingerprint = caller().id, _fingerprint()
        existing = _find(user_id, key)
        if existing is not None:
            return _answer_to(existing, fingerprint)
        claim = _new_claim(user_id, key, fingerprint)
        db.session.add(claim)
        try:
            # Not committed: the view's service commits it with its change. A request holding
            # the same key makes this wait (PostgreSQL: on the unique index; SQLite: on the
            # write lock) until it commits or rolls back.
            db.session.flush()
        except IntegrityError:  # the same key, taken by a request that has just committed
            db.session.rollback()
            existing = _find(user_id, key)
            return _answer_to(existing, fingerprint) if existing else problem("request-in-progress")
        claim_id = claim.id
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            _settle(user_id, key, fingerprint, claim_id, None)
            raise
        _settle(user_id, key, fingerprint, claim_id, response)
        return response

    return wrapper


def _new_claim(user_id: int, key: str, fingerprint: str) -> IdempotentRequest:
    return IdempotentRequest(
        user_id=user_id,
        key=key,
        method=request.method,
        path=request.path[:500],
        request_sha256=fingerprint,
    )


def _settle(
    user_id: int, key: str, fingerprint: str, claim_id: int, response: Response | None
) -> None:
    """Keep the answer of a request that has run (``None``: it raised).

    Whatever the view left uncommitted is rolled back first (the services commit their own
    work), the claim with it if the view committed nothing; whether the claim is still there
    then says whether the action was done."""
    db.session.rollback()
    failed = response is None or response.status_code >= 500
    record = _find(user_id, key)
    if record is None:
        if failed:
            return  # nothing was done: no claim left, a retry runs as new
        record = _new_claim(user_id, key, fingerprint)
        db.session.add(record)
    elif record.id != claim_id:
        return  # nothing of ours committed, and another request has taken the key since
    record.completed_at = datetime.now(UTC)
    if not failed:
        record.status_code = response.status_code
        record.response_headers = {
            name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers
        }
        record.response_body = response.get_data()
    # else: the action was committed, then the view failed: no response to replay, and the
    # action must not run again; retries are told so (response-lost).
    try:
        db.session.commit()
    except IntegrityError:  # a fresh claim for a refusal, beaten by a retry that took the key
        db.session.rollback()


def _find(user_id: int, key: str) -> IdempotentRequest | None:
    return db.session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == user_id, IdempotentRequest.key == key
        )
    )
