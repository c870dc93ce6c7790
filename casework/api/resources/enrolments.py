"""Enrolments, their tutor/mentor, and attendance figures."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import url_for
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validates_schema

from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, SelectPage
from casework.api.problems import PROBLEM_JSON, ProblemSchema
from casework.api.resources.learners import NewLearnerSchema
from casework.api.resources.programmes import StaffSchema
from casework.fields import LocalDateTime, day, record_id
from casework.models import EnrolmentStatus
from casework.records import enrolments

blp = api_blueprint("enrolments", "Enrolments, their tutor/mentor, and attendance figures.")

_MENTOR = "A user with the tutor / mentor role, or null for none."


class EnrolmentQuerySchema(Schema):
    programme_id = record_id()
    mentor_id = record_id()
    learner_id = record_id()
    status = fields.Enum(EnrolmentStatus, by_value=True)


class NewEnrolmentSchema(Schema):
    learner_id = record_id(
        metadata={"description": "A learner you may see. Give this or `learner`, not both."}
    )
    learner = fields.Nested(
        NewLearnerSchema,
        metadata={
            "description": "A new learner, added with this enrolment (how an administration "
            "officer adds one). Give this or `learner_id`, not both."
        },
    )
    programme_id = record_id(required=True)
    start_date = day(
        required=True, metadata={"description": "Its academic year (1 August on) is the year's."}
    )
    end_date = day(allow_none=True, load_default=None)
    is_apprentice = fields.Boolean(load_default=False)
    is_dual_registered = fields.Boolean(
        load_default=False, metadata={"description": "On roll at a main school too."}
    )
    mentor_id = record_id(allow_none=True, load_default=None, metadata={"description": _MENTOR})

    @validates_schema
    def _one_learner(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("learner_id" in data) == ("learner" in data):
            raise ValidationError("Give learner_id or learner, not both.", "learner_id")


class EnrolmentChangeSchema(Schema):
    mentor_id = record_id(allow_none=True, metadata={"description": _MENTOR})
    end_date = day(allow_none=True)
    status = fields.Enum(EnrolmentStatus, by_value=True)
    is_apprentice = fields.Boolean()
    is_dual_registered = fields.Boolean()


class EnrolmentSchema(Schema):
    id = fields.Integer()
    learner_id = fields.Integer()
    learner_ref = fields.String(attribute="learner.learner_ref")
    learner_name = fields.String(attribute="learner.full_name")
    programme_id = fields.Integer()
    programme_code = fields.String(attribute="programme.code")
    academic_year = fields.Integer(metadata={"description": "2026 is 2026/27."})
    start_date = fields.Date()
    end_date = fields.Date(allow_none=True)
    status = fields.Enum(EnrolmentStatus, by_value=True)
    is_apprentice = fields.Boolean()
    is_dual_registered = fields.Boolean()
    mentor_id = fields.Integer(allow_none=True)
    mentor = fields.Nested(StaffSchema, allow_none=True)


class AttendanceQuerySchema(Schema):
    as_at = day(metadata={"description": "Figures as at the end of this day (today)."})


class AbsencePeriodSchema(Schema):
    sessions = fields.Integer()
    started_at = LocalDateTime(metadata={"description": "The start of its first session."})


class EnrolmentAttendanceSchema(Schema):
    enrolment_id = fields.Integer()
    as_at = fields.Date()
    window_start = fields.Date(metadata={"description": "The policy's window starts here."})
    percent = fields.Float(allow_none=True, metadata={"description": "Attended / possible."})
    punctuality_percent = fields.Float(
        allow_none=True,
        metadata={"description": "On time / arrivals (present, late, arrived after the close)."},
    )
    possible = fields.Integer()
    attended = fields.Integer()
    present = fields.Integer()
    late = fields.Integer()
    approved_activity = fields.Integer()
    authorised = fields.Integer()
    unauthorised = fields.Integer(metadata={"description": "Including arrivals after close."})
    after_close = fields.Integer(metadata={"description": "Arrived after the register closed."})
    not_counted = fields.Integer()
    sessions_missed = fields.Integer()
    threshold = fields.String(metadata={"description": 'The policy\'s words, e.g. "below 90%".'})
    evaluable = fields.Boolean(metadata={"description": "Enough possible sessions to judge."})
    below = fields.Boolean()
    approaching = fields.Boolean(metadata={"description": "Within the early-warning margin."})
    assessment_at_risk = fields.Boolean()
    absence_period = fields.Nested(
        AbsencePeriodSchema,
        allow_none=True,
        metadata={"description": "The current run of unauthorised absences, if any."},
    )


@blp.route("/enrolments")
class Enrolments(MethodView):
    @blp.arguments(EnrolmentQuerySchema, location="query")
    @blp.response(200, EnrolmentSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List the enrolments you may see, oldest first."""
        return enrolments.list_enrolments(caller(), **args)

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(NewEnrolmentSchema)
    @blp.response(201, EnrolmentSchema)
    def post(self, body):
        """Enrol a learner on a programme (administrators, its administration officers): a
        learner you may see already (`learner_id`; any other is answered as one that does not
        exist), or a new one added with the enrolment (`learner`)."""
        enrolment = enrolments.create_enrolment(caller(), body)
        location = url_for("enrolments.EnrolmentById", enrolment_id=enrolment.id)
        return enrolment, 201, {"Location": location}


@blp.route("/enrolments/<int:enrolment_id>")
class EnrolmentById(MethodView):
    @blp.response(200, EnrolmentSchema)
    def get(self, enrolment_id: int):
        """An enrolment you may see."""
        return enrolments.enrolment_for(caller(), enrolment_id)

    @blp.arguments(EnrolmentChangeSchema)
    @blp.response(200, EnrolmentSchema)
    @blp.alt_response(
        409,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="case-open: the enrolment has an open case; nothing changed. `case_id` "
        "and `event` name the case and the event that ends the enrolment instead.",
    )
    def patch(self, body, enrolment_id: int):
        """Change the mentor, end date, status or flags (administrators, the programme's
        administration officers). While the enrolment has an open case, a status other than
        `active` is refused: withdraw through the case's `withdraw` event, or `close` the case
        before completing."""
        return enrolments.update_enrolment(caller(), enrolment_id, body)


@blp.route("/enrolments/<int:enrolment_id>/attendance")
class EnrolmentAttendance(MethodView):
    @blp.arguments(AttendanceQuerySchema, location="query")
    @blp.response(200, EnrolmentAttendanceSchema)
    def get(self, args, enrolment_id: int):
        """Attendance and punctuality over the policy's window as at a day, judged against
        the policy's threshold."""
        return enrolments.attendance(caller(), enrolment_id, args.get("as_at") or date.today())
