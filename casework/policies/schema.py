"""The shape of a policy data file. Unknown or missing fields are errors that name the field."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from casework.machines.workflow import (
    FINAL_STAGES,
    REQUIRED_EVENTS,
    Event,
    Stage,
    enabled_transitions,
)
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
    # Below this, the learner may not be entered for the exam or final assessment (nor, in year
    # one of two, progress): the case shows the risk.
    assessment_risk_below_percent = fields.Float(load_default=None, validate=_PERCENT)

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
    main_school_letters = fields.Boolean(required=True)
    main_school_told_by = fields.String(load_default=None, validate=_CLOCK)
    school_told_within_minutes = fields.Integer(load_default=None, validate=validate.Range(1))
    parents_report_absence_by = fields.String(load_default=None, validate=_CLOCK)
    first_day_calling = fields.Boolean(load_default=False)


class DeadlinesSchema(_Strict):
    rebook_one_to_one_working_days = fields.Integer(load_default=None, validate=validate.Range(1))


ACTORS = ("scan", "tutor_mentor", "head_of_programme")
RECIPIENTS = ("learner", "parent_carer", "parent_carer_extended", "employer", "main_school")
LETTERS = (
    "concern_notice",
    "verbal_warning",
    "fitness_to_study_plan",
    "written_warning",
    "updated_action_plan",
    "panel_invitation",
    "final_written_warning",
    "panel_outcome",
    "withdrawal",
    "closing_letter",
)


class LetterSchema(_Strict):
    template = fields.String(required=True, validate=validate.OneOf(LETTERS))
    # learner; parent_carer (under contacts.parent_carer_under_age); parent_carer_extended
    # (under contacts.parent_carer_extended_under_age); employer (apprentices); main_school
    # (dual-registered learners)
    to = fields.List(
        fields.String(validate=validate.OneOf(RECIPIENTS)),
        required=True,
        validate=validate.Length(min=1),
    )


class EventSchema(_Strict):
    label = fields.String(required=True, validate=validate.Length(min=1, max=120))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ACTORS)), required=True, validate=validate.Length(1)
    )
    letters = fields.List(fields.Nested(LetterSchema), load_default=list)
    # Narrows the event to some of the stages it can leave (all of them by default).
    from_stages = fields.List(fields.Enum(Stage, by_value=True), data_key="from", load_default=None)
    # The event is the decision on a new occurrence: one must be waiting for a decision.
    decides_occurrence = fields.Boolean(load_default=False)
    # At least this many occurrences recorded (2 for a written warning, 3 for a panel).
    min_occurrence = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10))
    # The event must come with an action plan (targets, support agreed, review dates).
    action_plan = fields.Boolean(load_default=False)
    # Health or personal circumstances: must be recorded (fitness to study), must not be
    # (disciplinary), or either.
    circumstances = fields.String(
        load_default="any", validate=validate.OneOf(["any", "required", "absent"])
    )


class WorkflowSchema(_Strict):
    # Working days (England and Wales) to decide on a new occurrence.
    decision_due_working_days = fields.Integer(required=True, validate=validate.Range(1, 60))
    # Flag learners within this many points above the threshold (early warning).
    early_warning_margin_percent = fields.Float(required=True, validate=validate.Range(0, 50))
    # A new unauthorised absence period that starts while attendance is below the
    # threshold, counted only after the previous occurrence was decided.
    occurrence_rule = fields.String(
        load_default="new_absence_period", validate=validate.OneOf(["new_absence_period"])
    )
    stages = fields.Dict(
        keys=fields.Enum(Stage, by_value=True),
        values=fields.String(validate=validate.Length(min=1, max=80)),
        required=True,
    )
    events = fields.Dict(
        keys=fields.Enum(Event, by_value=True), values=fields.Nested(EventSchema), required=True
    )

    @validates_schema
    def _consistent(self, data, **_kwargs):
        events = data["events"]
        missing = sorted(e.value for e in REQUIRED_EVENTS - events.keys())
        if missing:
            raise ValidationError(f"Every policy must enable {', '.join(missing)}.", "events")
        transitions = enabled_transitions({e: spec["from_stages"] for e, spec in events.items()})
        reached = {t for _e, _s, t in transitions} | {Stage.NEW}
        unnamed = sorted(s.value for s in reached if s not in data["stages"])
        if unnamed:
            raise ValidationError(f"Name these stages: {', '.join(unnamed)}.", "stages")
        for event, spec in events.items():
            if "scan" in spec["roles"] and event is not Event.OPEN:
                raise ValidationError("Only open may be fired by the scan.", f"events.{event}")
        # A stage the enabled events can enter but never leave would trap a case.
        for stage in reached - FINAL_STAGES:
            if not any(s == stage and t != stage for _e, s, t in transitions):
                raise ValidationError(f"Stage {stage} has no way out.", "events")


class LettersSchema(_Strict):
    # "supportive": the provider's letters never threaten (000, 002, 004); "formal": the staged
    # disciplinary process names its consequences (001, 003).
    tone = fields.String(load_default="formal", validate=validate.OneOf(["formal", "supportive"]))
    # The letterhead's contact details: the documents give none, so each provider fills them in.
    address = fields.String(load_default=None)
    phone = fields.String(load_default=None)
    email = fields.String(load_default=None)
    website = fields.String(load_default=None)
    # Who a letter names to reply to when the learner has no tutor or mentor and the programme
    # no head: the provider's attendance contact (a name, and an email or a phone number).
    contact_name = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    contact_email = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    contact_phone = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    # The letters that wait for the head of programme's approval before they are sent or shown
    # to the learner. Absent: rules.APPROVAL_DEFAULT (no load default, so that a file without
    # the key keeps its document, and its hash, as they were).
    approval = fields.List(fields.String(validate=validate.OneOf(LETTERS)))

    @validates_schema
    def _reachable(self, data, **_kwargs):
        reachable = data.get("contact_email") or data.get("contact_phone")
        if data.get("contact_name") and not reachable:
            raise ValidationError("Give the attendance contact an email or a phone number.")


# Which marks a notice is about: "unauthorised" absences, or any absence ("absent": authorised
# or unauthorised). Never an arrival, even one after the register closed.
NOTICE_MARKS = ("unauthorised", "absent")
# "first_in_period": the first absence of a new absence period (the learner's previous counted
# mark is not such an absence); "later_in_period": the others; "every": each one.
NOTICE_OCCASIONS = ("first_in_period", "later_in_period", "every")
# learner (always), learner_adult (at or over contacts.parent_carer_under_age), parent_carer
# (under it), employer (apprentices), main_school (dual-registered learners).
NOTICE_RECIPIENTS = ("learner", "learner_adult", "parent_carer", "employer", "main_school")
NOTICE_CHANNELS = ("sms", "email")
# "now", a clock time ("09:00"), or "parents_report_absence_by" (contacts' own clock): held until
# then, and cancelled if the mark is corrected (a parent's report) before it is sent.
_WHEN = validate.Regexp(
    r"^(now|parents_report_absence_by|([01]\d|2[0-3]):[0-5]\d)$",
    error='Must be "now", "parents_report_absence_by" or a time as HH:MM.',
)


class NoticeSchema(_Strict):
    marks = fields.String(required=True, validate=validate.OneOf(NOTICE_MARKS))
    occasion = fields.String(required=True, validate=validate.OneOf(NOTICE_OCCASIONS))
    to = fields.List(
        fields.String(validate=validate.OneOf(NOTICE_RECIPIENTS)),
        required=True,
        validate=validate.Length(min=1),
    )
    channel = fields.String(required=True, validate=validate.OneOf(NOTICE_CHANNELS))
    when = fields.String(load_default="now", validate=_WHEN)

    @validates_schema
    def _no_repeats(self, data, **_kwargs):
        if len(set(data["to"])) != len(data["to"]):
            raise ValidationError("Name each recipient once.", "to")


def _overlap(a: dict, b: dict) -> bool:
    """Whether one mark could be the subject of both notices."""
    occasions = {a["occasion"], b["occasion"]}
    return "every" in occasions or len(occasions) == 1


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReportsSchema(_Strict):
    """The reports a provider's staff get (casework.messages.reports). The schools' reports
    follow from ``[contacts]`` (main_school_told_by, school_told_within_minutes,
    first_day_calling); this table says when they are built and which staff reports there are."""

    # Reports to a school are built this many minutes before the policy's deadline, so that
    # ``casework send-due`` (every minute) delivers them before it.
    send_ahead_minutes = fields.Integer(load_default=10, validate=validate.Range(min=0, max=60))
    # The weekly report of learners below or approaching the threshold ("approaching": within
    # workflow.early_warning_margin_percent above it): on this day, at this time.
    weekly_on = fields.String(load_default=None, validate=validate.OneOf(WEEKDAYS))
    weekly_at = fields.String(load_default="07:00", validate=_CLOCK)
    # The registers not completed in time, for the day before: built at this time.
    registers_at = fields.String(load_default=None, validate=_CLOCK)
    # A face-to-face register is complete this long after the session starts (001: 30); other
    # registers by the end of the session's day.
    face_to_face_registers_within_minutes = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=24 * 60)
    )


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
    workflow = fields.Nested(WorkflowSchema, required=True)
    letters = fields.Nested(LettersSchema, load_default=dict)
    # Absence alerts, written with the marks that cause them (casework.registers.notices).
    notices = fields.List(fields.Nested(NoticeSchema), load_default=list)

    @validates_schema
    def _notices_consistent(self, data, **_kwargs):
        notices = data.get("notices") or []
        for i, notice in enumerate(notices):
            if notice["when"] == "parents_report_absence_by" and not data["contacts"].get(
                "parents_report_absence_by"
            ):
                raise ValidationError(
                    "Set contacts.parents_report_absence_by to hold a notice until it.",
                    f"notices.{i}.when",
                )
            for j, other in enumerate(notices[:i]):
                shared = set(notice["to"]) & set(other["to"])
                if shared and notice["channel"] == other["channel"] and _overlap(notice, other):
                    raise ValidationError(
                        f"Notice {j} already sends {notice['channel']} to "
                        f"{', '.join(sorted(shared))} about the same marks: merge the two.",
                        f"notices.{i}",
                    )

    # No load default: a file without the table keeps its document, and its hash, as it was.
    reports = fields.Nested(ReportsSchema)

    @validates_schema
    def _reports_ahead(self, data, **_kwargs):
        ahead = (data.get("reports") or {}).get("send_ahead_minutes", 0)
        within = data["contacts"].get("school_told_within_minutes")
        if within is not None and ahead >= within:
            raise ValidationError(
                "Must be less than contacts.school_told_within_minutes.",
                "reports.send_ahead_minutes",
            )
