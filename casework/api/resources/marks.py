"""Register marks: bulk upsert, all or nothing, through the register import the CLI uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from webargs.flaskparser import FlaskParser

from casework import scope
from casework.api import api_blueprint
from casework.api.auth import caller, require_role
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, SelectPage
from casework.api.problems import PROBLEM_JSON, ProblemSchema
from casework.errors import InvalidData
from casework.extensions import db
from casework.fields import UNSTORABLE, LocalDateTime, record_id, storable_text
from casework.models import (
    AbsenceReason,
    Enrolment,
    Learner,
    Mark,
    Role,
    Session,
    User,
)
from casework.records.common import administered_programmes
from casework.registers.importing import ImportRejected, import_marks

blp = api_blueprint("marks", "Register marks: bulk upsert, all or nothing.")

MAX_MARKS = 10_000


def _text(value: str) -> None:
    if not storable_text(value):
        raise ValidationError(UNSTORABLE)
    if not value.strip():
        raise ValidationError("Must not be blank.")


def _ref(max_length: int, **kw: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), _text], **kw)


class MarkItemSchema(Schema):
    learner_ref = _ref(40, required=True, metadata={"description": "The learner's MIS ID."})
    session_ref = _ref(60, required=True, metadata={"description": "The MIS session ID."})
    code = _ref(
        4,
        required=True,
        metadata={
            "description": "A code of the code set the session's programme's policy uses "
            "(further education: P L A U N X E; England's school codes: / \\ L C U N ...)."
        },
    )
    minutes_late = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, max=24 * 60),
        metadata={"description": "Only for late or unauthorised marks."},
    )
    absence_reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([r.value for r in AbsenceReason]),
        metadata={"description": "Required for codes that need one (e.g. A); only for absences."},
    )
    evidence_ref = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=120), _text],
        metadata={"description": "E.g. a medical certificate's reference."},
    )
    recorded_at = fields.DateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "When the register was taken (now by default); without an offset "
            "it is UK time."
        },
    )


class MarkBatchSchema(Schema):
    items = fields.List(
        fields.Nested(MarkItemSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_MARKS),
        metadata={"description": f"1 to {MAX_MARKS:,} marks, at most one per learner and session."},
    )


class MarkImportSchema(Schema):
    import_id = fields.Integer(metadata={"description": "The register import this request made."})
    items = fields.Integer(metadata={"description": "How many marks the request held."})
    created = fields.Integer()
    updated = fields.Integer(metadata={"description": "Changed marks (the old version is kept)."})
    unchanged = fields.Integer()


class MarkQuerySchema(Schema):
    session_ref = _ref(60)
    enrolment_id = record_id()
    learner_ref = _ref(40)

    @validates_schema
    def _one_filter(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one of session_ref, enrolment_id, learner_ref.")


class MarkSchema(Schema):
    id = fields.Integer()
    enrolment_id = fields.Integer()
    learner_ref = fields.String(attribute="enrolment.learner.learner_ref")
    session_id = fields.Integer()
    session_ref = fields.String(attribute="session.session_ref")
    session_starts_at = LocalDateTime(attribute="session.starts_at")
    code = fields.String(attribute="code.code")
    category = fields.String(attribute="code.category.value")
    minutes_late = fields.Integer(allow_none=True)
    absence_reason = fields.String(allow_none=True)
    evidence_ref = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.DateTime()
    import_id = fields.Integer(allow_none=True)


_ITEM_PROBLEM = {
    "type": "object",
    "description": "One bad item, named by its refs as sent (null if not text).",
    "properties": {
        "learner_ref": {"type": "string", "nullable": True},
        "session_ref": {"type": "string", "nullable": True},
        "messages": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["learner_ref", "session_ref", "messages"],
}


class MarkProblemSchema(ProblemSchema):
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={
            "description": (
                'Field by field. `errors.items` names every bad item by its index: `{"3": '
                '{"learner_ref": "L000123", "session_ref": "HSC3-2026-09-07-AM", "messages": '
                "[\"unknown session 'HSC3-2026-09-07-AM'\"]}}`. The schema's checks come first "
                "(then their messages are `field: message`); only when every item passes them "
                "is each looked up. A session you may not write to is reported as unknown. A "
                "problem with the list itself (e.g. too many items) is a list of messages."
            ),
            "properties": {
                "items": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "string"}},
                        {"type": "object", "additionalProperties": _ITEM_PROBLEM},
                    ]
                }
            },
        },
    )


def _item_problem(item: Any, messages: list[str]) -> dict[str, Any]:
    item = item if isinstance(item, Mapping) else {}
    refs = {name: item.get(name) for name in ("learner_ref", "session_ref")}
    return {
        **{name: value if isinstance(value, str) else None for name, value in refs.items()},
        "messages": messages,
    }


class _MarksParser(FlaskParser):
    """webargs' parser, naming each item that fails the schema as the import names the rest."""

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        body = error.messages.get("json") if isinstance(error.messages, dict) else None
        if isinstance(body, dict) and isinstance(body.get("items"), dict):
            sent = req.get_json(silent=True)
            sent = sent.get("items") if isinstance(sent, dict) else None
            sent = sent if isinstance(sent, list) else []
            body["items"] = {
                str(index): _item_problem(
                    sent[index] if isinstance(index, int) and index < len(sent) else None,
                    _flatten(problems),
                )
                for index, problems in body["items"].items()
            }
        super().handle_error(
            error,
            req,
            schema,
            error_status_code=error_status_code,
            error_headers=error_headers,
        )


def _flatten(problems: Any) -> list[str]:
    if not isinstance(problems, Mapping):
        return [str(m) for m in problems] if isinstance(problems, list) else [str(problems)]
    return [
        message if name == "_schema" else f"{name}: {message}"
        for name, messages in problems.items()
        for message in _flatten(messages)
    ]


blp.ARGUMENTS_PARSER = _MarksParser()


def _writable_programmes(user: User) -> list[int] | None:
    """The programmes whose registers ``user`` may write (None: all of them)."""
    require_role(Role.ADMINISTRATOR, Role.ADMINISTRATION_OFFICER)
    if user.has_role(Role.ADMINISTRATOR):
        return None
    return list(db.session.scalars(administered_programmes(user)))


def _fields(item: dict[str, Any]) -> list[str]:
    """An item as a register file's row would hold it (importing.COLUMNS, as text)."""
    recorded_at = item["recorded_at"]
    return [
        item["learner_ref"],
        item["session_ref"],
        item["code"],
        "" if item["minutes_late"] is None else str(item["minutes_late"]),
        item["absence_reason"] or "",
        item["evidence_ref"] or "",
        "",  # recorded_by: the caller
        "" if recorded_at is None else recorded_at.isoformat(),
    ]


@blp.route("/marks")
class Marks(MethodView):
    @blp.arguments(MarkQuerySchema, location="query")
    @blp.response(200, MarkSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List marks by session, enrolment or learner.

        Only the marks of enrolments you may see, in session order. Give at least one of
        session_ref, enrolment_id, learner_ref (invalid data otherwise)."""
        visible = scope.visible_enrolments(caller()).with_only_columns(Enrolment.id)
        query = (
            select(Mark)
            .join(Mark.session)
            .where(Mark.enrolment_id.in_(visible))
            .order_by(Session.starts_at, Mark.id)
            .options(
                selectinload(Mark.session),
                selectinload(Mark.code),
                selectinload(Mark.enrolment).selectinload(Enrolment.learner),
            )
        )
        if "session_ref" in args:
            query = query.where(Session.session_ref == args["session_ref"])
        if "enrolment_id" in args:
            query = query.where(Mark.enrolment_id == args["enrolment_id"])
        if "learner_ref" in args:
            learner = select(Learner.id).where(Learner.learner_ref == args["learner_ref"])
            enrolments = select(Enrolment.id).where(Enrolment.learner_id.in_(learner))
            query = query.where(Mark.enrolment_id.in_(enrolments))
        return query

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(MarkBatchSchema)
    @blp.response(200, MarkImportSchema)
    @blp.alt_response(
        422,
        schema=MarkProblemSchema,
        content_type=PROBLEM_JSON,
        description="Invalid data: nothing was written; `errors.items` names every bad item.",
    )
    def post(self, body):
        """Create or update up to 10,000 marks, all or nothing.

        For administrators, and administration officers for the sessions of their programmes
        (any other session is reported as unknown). One bad item and nothing is written; the
        problem names every bad item. Unchanged marks are left alone, so posting the same marks
        again changes nothing; a changed mark keeps its previous version. Each mark records
        you (your email) as who took it. Checked and written by the same register import as
        `casework import-register`."""
        user = caller()
        programme_ids = _writable_programmes(user)
        items = body["items"]
        try:
            result = import_marks(
                [_fields(item) for item in items],
                source="API: POST /api/v1/marks",
                imported_by=user.email,
                programme_ids=programme_ids,
            )
        except ImportRejected as rejected:
            problems: dict[str, dict[str, Any]] = {}
            for error in rejected.errors:
                entry = problems.setdefault(str(error.row), _item_problem(items[error.row], []))
                entry["messages"].append(error.message)
            raise InvalidData(
                f"{len(problems)} of {len(items)} marks are wrong; nothing was written.",
                errors={"items": problems},
            ) from rejected
        return {
            "import_id": result.import_id,
            "items": result.rows,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
