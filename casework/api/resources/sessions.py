"""Planned sessions of a programme."""

from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validates_schema

from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, SelectPage
from casework.fields import LocalDateTime, day, optional_text, record_id, text
from casework.models import DeliveryMode, SessionKind
from casework.records import sessions

blp = api_blueprint("sessions", "Planned sessions of a programme.")

_REF = "The MIS session ID, as in register files (unique)."
_CLOSES = (
    "Arriving after this is an unauthorised absence: between the start and the end. Without "
    "it, the policy's minutes after the start (or the end, where the policy names none)."
)


class SessionQuerySchema(Schema):
    programme_id = record_id()
    from_date = day(data_key="from", metadata={"description": "Starting on or after this day."})
    to_date = day(data_key="to", metadata={"description": "Starting on or before this day."})

    @validates_schema
    def _in_order(self, data, **_kw):
        if "from_date" in data and "to_date" in data and data["to_date"] < data["from_date"]:
            raise ValidationError("Must not be before from.", "to")


class SessionChangeSchema(Schema):
    session_ref = text(60, metadata={"description": _REF})
    title = optional_text(200)
    kind = fields.Enum(SessionKind, by_value=True)
    delivery_mode = fields.Enum(DeliveryMode, by_value=True)
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    register_closes_at = LocalDateTime(metadata={"description": _CLOSES})


class NewSessionSchema(SessionChangeSchema):
    session_ref = text(60, required=True, metadata={"description": _REF})
    programme_id = record_id(required=True)
    kind = fields.Enum(SessionKind, by_value=True, required=True)
    delivery_mode = fields.Enum(DeliveryMode, by_value=True, required=True)
    starts_at = LocalDateTime(required=True)
    ends_at = LocalDateTime(required=True)


class SessionSchema(Schema):
    id = fields.Integer()
    session_ref = fields.String()
    programme_id = fields.Integer()
    programme_code = fields.String(attribute="programme.code")
    title = fields.String(allow_none=True)
    kind = fields.Enum(SessionKind, by_value=True)
    delivery_mode = fields.Enum(DeliveryMode, by_value=True)
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    register_closes_at = LocalDateTime()


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.arguments(SessionQuerySchema, location="query")
    @blp.response(200, SessionSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List the sessions of the programmes you may see, by start."""
        return sessions.list_sessions(caller(), **args)

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(NewSessionSchema)
    @blp.response(201, SessionSchema)
    def post(self, body):
        """Plan a session (administrators, the programme's administration officers)."""
        session = sessions.create_session(caller(), body)
        return session, 201, {"Location": url_for("sessions.SessionById", session_id=session.id)}


@blp.route("/sessions/<int:session_id>")
class SessionById(MethodView):
    @blp.response(200, SessionSchema)
    def get(self, session_id: int):
        """A session of a programme you may see."""
        return sessions.session_for(caller(), session_id)

    @blp.arguments(SessionChangeSchema)
    @blp.response(200, SessionSchema)
    def patch(self, body, session_id: int):
        """Change a session; its programme stays (administrators, the programme's
        administration officers)."""
        return sessions.update_session(caller(), session_id, body)
