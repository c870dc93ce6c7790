"""Seals: an HMAC-SHA256 over each audit event, each stored letter and each case's chain head,
keyed by a secret kept outside the database (``CASEWORK_AUDIT_KEY``, else a key file in the
instance folder). Whoever can write the database but lacks the key can still recompute the SHA-256
chain, but cannot make a seal that matches, so ``verify-audit`` names what they forged.

What each seal covers includes the row's own id (and its case's), so moving a row to another id,
case, event or learner breaks its seal as surely as changing its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import set_committed_value

from casework.config import ConfigError
from casework.extensions import db
from casework.models import Case, CaseEvent, Enrolment, Letter

KEY_FILE = "audit.key"
MIN_KEY_LENGTH = 32
_CACHE = "casework.audit_key"


class AuditKeyMissing(Exception):
    """There is no key to check seals with: none configured and no key file."""


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_path(app: Flask) -> Path:
    return Path(app.instance_path) / KEY_FILE


def check_configured_key(app: Flask) -> None:
    """Refuse to start with a configured key too short to be a secret."""
    configured = app.config.get("AUDIT_KEY")
    if configured and len(str(configured)) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"CASEWORK_AUDIT_KEY must be at least {MIN_KEY_LENGTH} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )


def audit_key(*, create: bool = True) -> bytes:
    """The sealing key: ``AUDIT_KEY`` (``CASEWORK_AUDIT_KEY``) if set, else the instance folder's
    key file, made on first use when ``create`` (writing). Checking never makes one: a new key
    would call every existing seal forged, when the truth is that the key was lost."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    key = app.extensions.get(_CACHE)
    if key is not None:
        return key
    configured = app.config.get("AUDIT_KEY")
    if configured:
        key = str(configured).encode()
    else:
        path = key_path(app)
        if not path.exists():
            if not create:
                raise AuditKeyMissing(
                    f"CASEWORK_AUDIT_KEY is not set and there is no key file {path}: "
                    "the seals cannot be checked (restore the key from its backup)"
                )
            _create_key_file(path)
            app.logger.warning(
                "CASEWORK_AUDIT_KEY is not set: sealing the audit trail with the new key in %s "
                "(production must set CASEWORK_AUDIT_KEY and back it up)",
                path,
            )
        key = path.read_text(encoding="ascii").strip().encode()
    app.extensions[_CACHE] = key
    return key


def _create_key_file(path: Path) -> None:
    """Write a random key readable by its owner only, atomically: of two processes making it at
    once, both end up with the one that was linked first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # the other one's stands
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _seal(key: bytes, kind: str, fields: dict[str, Any]) -> str:
    return hmac.new(key, canonical({"kind": kind, **fields}), hashlib.sha256).hexdigest()


def event_seal(key: bytes, *, id: int, case_id: int, seq: int, hash: str) -> str:
    # The hash covers the content and the event before; the seal adds the row's own id.
    return _seal(key, "case_event", {"id": id, "case_id": case_id, "seq": seq, "hash": hash})


def head_seal(
    key: bytes, *, case_id: int, enrolment_id: int, event_count: int, audit_head: str | None
) -> str:
    """Where a case's chain ends, and whose case it is: removing its last events and rewinding
    the head shows, and so does moving the case (its whole history) to another enrolment."""
    fields = {"case_id": case_id, "enrolment_id": enrolment_id}
    return _seal(key, "case_head", {**fields, "count": event_count, "head": audit_head})


# Everything a letter row says; its PDF through its SHA-256 and size.
LETTER_SEALED = (
    "id",
    "job_id",
    "case_id",
    "event_id",
    "template",
    "template_version",
    "recipient_kind",
    "recipient_key",
    "recipient_name",
    "reference",
    "sha256",
    "size",
)


def seal_of_letter(key: bytes, letter: Any, learner_id: int | None) -> str:
    """``letter``: a Letter or a row with its columns; ``learner_id``: its case's learner."""
    fields = {name: getattr(letter, name) for name in LETTER_SEALED}
    rendered_at = letter.rendered_at
    if rendered_at.tzinfo is None:  # stored as naive UTC
        rendered_at = rendered_at.replace(tzinfo=UTC)
    fields["rendered_at"] = rendered_at.astimezone(UTC).replace(microsecond=0).isoformat()
    fields["learner_id"] = learner_id
    return _seal(key, "letter", fields)


def learners_of(connection: Any, case_ids: set[int]) -> dict[int, int]:
    """Each case's learner (through its enrolment)."""
    if not case_ids:
        return {}
    query = (
        select(Case.id, Enrolment.learner_id)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .where(Case.id.in_(sorted(case_ids)))
    )
    return dict(connection.execute(query).all())


def seal_of_event(key: bytes, row: Any) -> str:
    return event_seal(key, id=row.id, case_id=row.case_id, seq=row.seq, hash=row.hash)


def _seal_new_rows(session: Session, _flush: UOWTransaction) -> None:
    """After each flush, in its transaction: seal the events and letters it inserted, now that
    they have their ids. Filling in an empty seal is the one UPDATE the append-only triggers let
    through (migration 0010)."""
    events = [o for o in session.new if isinstance(o, CaseEvent) and o.seal is None]
    letters = [o for o in session.new if isinstance(o, Letter) and o.seal is None]
    if not events and not letters:
        return
    key = audit_key()
    connection = session.connection()
    if events:
        seals = [(e, seal_of_event(key, e)) for e in events]
        _fill(connection, CaseEvent, seals)
    if letters:
        learners = learners_of(connection, {letter.case_id for letter in letters})
        seals = [(x, seal_of_letter(key, x, learners.get(x.case_id))) for x in letters]
        _fill(connection, Letter, seals)


def _fill(connection: Any, model: Any, seals: list[tuple[Any, str]]) -> None:
    table = model.__table__
    connection.execute(
        update(table).where(table.c.id == bindparam("row_id")).values(seal=bindparam("row_seal")),
        [{"row_id": row.id, "row_seal": seal} for row, seal in seals],
    )
    for row, seal in seals:
        set_committed_value(row, "seal", seal)


def init_app(app: Flask) -> None:
    check_configured_key(app)
    if not event.contains(db.session, "after_flush", _seal_new_rows):
        event.listen(db.session, "after_flush", _seal_new_rows)
