"""Idempotency-Key on POSTs: a retried request gets the first response and changes nothing.

The key is claimed (committed) before the request runs, so two copies arriving together cannot
both act: the second finds the claim and is told the first is still running. Once the first has
its answer, the answer is stored with the claim; a retry with the same key and the same request
gets it back byte for byte, with ``Idempotent-Replayed: true``. A request that fails on the
server's side (5xx) releases the key, since it changed nothing and may be retried as new.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from casework.api.auth import caller
from casework.api.problems import problem
from casework.extensions import db
from casework.models import IdempotentRequest

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's examples use
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")

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
    if record.completed_at is None:
        return problem("request-in-progress")
    return _replay(record)


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
        claim = IdempotentRequest(
            user_id=user_id,
            key=key,
            method=request.method,
            path=request.path[:500],
            request_sha256=fingerprint,
        )
        db.session.add(claim)
        try:
            db.session.commit()
        except IntegrityError:  # the same key, claimed a moment ago by a request still running
            db.session.rollback()
            existing = _find(user_id, key)
            return _answer_to(existing, fingerprint) if existing else problem("request-in-progress")
        claim_id = claim.id
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            db.session.rollback()
            _release(claim_id)
            raise
        if response.status_code >= 500:
            db.session.rollback()
            _release(claim_id)
            return response
        _store(claim_id, response)
        return response

    return wrapper


def _find(user_id: int, key: str) -> IdempotentRequest | None:
    return db.session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == user_id, IdempotentRequest.key == key
        )
    )


def _release(claim_id: int) -> None:
    db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == claim_id))
    db.session.commit()


def _store(claim_id: int, response: Response) -> None:
    record = db.session.get(IdempotentRequest, claim_id)
    record.status_code = response.status_code
    record.response_headers = {
        name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers
    }
    record.response_body = response.get_data()
    record.completed_at = datetime.now(UTC)
    db.session.commit()
