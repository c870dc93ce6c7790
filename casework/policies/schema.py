"""The shape of a policy data file. Unknown or missing fields are errors that name the field."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from casework.models.codes import CodeSet
from casework.models.registers import AbsenceReason

_CLOCK = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Must be a time as HH:MM.")
_PERCENT = validate.Range(min=0, max=100)


class _Strict(Schema):
    class Meta:
        ordered = True


class AttendanceSchema(_Strict):
    target_percent = fields.Float(required=True, validate=_PERCENT)
    threshold_percent = fields.Float(required=True, validate=_PERCENT)
    # "below" 90% (FE) or "at_or_below" 90% (statutory persistent absence: missing 10% or more).
    threshold_rule = fields.String(
        load_default="below", validate=validate.OneOf(["below", "at_or_below"])
    )
    punctuality_target_percent = fields.Float(load_default=None, validate=_PERCENT)
    window = fields.String(
        load_default="academic_year", validate=validate.OneOf(["academic_year", "rolling_weeks"])
    )
    window_weeks = fields.Integer(load_default=None, validate=validate.Range(min=1, max=52))
    minimum_sessions = fields.Integer(required=True, validate=validate.Range(min=1))
    authorised_reasons = fields.List(
        fields.Enum(AbsenceReason, by_value=True), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _window_weeks(self, data, **_kwargs):
        if data["window"] == "rolling_weeks" and not data.get("window_weeks"):
            raise ValidationError("Required when window is rolling_weeks.", "window_weeks")
        if data["threshold_percent"] > data["target_percent"]:
            raise ValidationError("Must not be above target_percent.", "threshold_percent")


class RegistersSchema(_Strict):
    complete_by = fields.String(required=True, validate=validate.Length(min=1))
    closes_after_minutes = fields.Integer(load_default=None, validate=validate.Range(min=0))


class AbsenceSchema(_Strict):
    medical_certificate_after_days = fields.Integer(load_default=None, validate=validate.Range(1))
    absence_periods_per_half_term = fields.Integer(load_default=None, validate=validate.Range(0))
    leaves_of_absence_per_half_term = fields.Integer(load_default=None, validate=validate.Range(0))


class ContactsSchema(_Strict):
    parent_carer_under_age = fields.Integer(required=True, validate=validate.Range(min=1))
    # Involve parents or carers up to this age where unexplained absence harms achievement.
    parent_carer_extended_under_age = fields.Integer(load_default=None, validate=validate.Range(1))
    employer_letters = fields.Boolean(required=True)
    employer_told_of_unauthorised_absence = fields.String(
        load_default=None, validate=validate.OneOf(["same_day"])
    )
    main_school_letters = fields.Boolean(required=True)
    main_school_told_by = fields.String(load_default=None, validate=_CLOCK)
    school_told_within_minutes = fields.Integer(load_default=None, validate=validate.Range(1))
    parents_report_absence_by = fields.String(load_default=None, validate=_CLOCK)
    first_day_calling = fields.Boolean(load_default=False)
    first_absence_notice = fields.String(
        load_default=None, validate=validate.OneOf(["sms", "email", "phone"])
    )
    later_absence_notice = fields.String(
        load_default=None, validate=validate.OneOf(["sms", "email", "phone"])
    )


class DeadlinesSchema(_Strict):
    rebook_one_to_one_working_days = fields.Integer(load_default=None, validate=validate.Range(1))


class PolicySchema(_Strict):
    key = fields.String(
        required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]*$", flags=re.ASCII)
    )
    provider = fields.String(required=True, validate=validate.Length(min=1, max=200))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    provision = fields.String(required=True)
    source_document = fields.String(required=True)
    document_version = fields.String(load_default=None)
    code_set = fields.Enum(CodeSet, by_value=True, required=True)
    attendance = fields.Nested(AttendanceSchema, required=True)
    registers = fields.Nested(RegistersSchema, required=True)
    absence = fields.Nested(AbsenceSchema, load_default=dict)
    contacts = fields.Nested(ContactsSchema, required=True)
    deadlines = fields.Nested(DeadlinesSchema, load_default=dict)
