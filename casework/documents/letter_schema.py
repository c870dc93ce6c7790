"""What a letter says, as plain JSON-safe data: the shape of a letter job's snapshot (built by
``casework.cases.letter_snapshot`` when the event commits) and of what templates see."""

from __future__ import annotations

from marshmallow import Schema, fields


class _Block(Schema):
    class Meta:
        ordered = True


class ProviderSchema(_Block):
    name = fields.String()
    address = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    website = fields.String(allow_none=True)


class PersonSchema(_Block):
    kind = fields.String()  # learner, parent_carer, employer, main_school
    name = fields.String()
    address_lines = fields.List(fields.String())
    postcode = fields.String(allow_none=True)


class FiguresSchema(_Block):
    as_at = fields.Date()
    attendance_percent = fields.Float(allow_none=True)
    punctuality_percent = fields.Float(allow_none=True)
    possible = fields.Integer()
    attended = fields.Integer()
    sessions_missed = fields.Integer()
    unauthorised = fields.Integer()
    unexplained = fields.Integer(dump_default=0)  # unauthorised or without a reason
    threshold = fields.String()  # "below 90%" or "at or below 90%"
    below_threshold = fields.Boolean(dump_default=False)  # still where the policy steps in
    target_percent = fields.Float()


class PlanSchema(_Block):
    targets = fields.List(fields.String())
    support = fields.List(fields.String())
    review_dates = fields.List(fields.Date())  # sorted, each once


class PanelSchema(_Block):
    date = fields.Date()
    time = fields.String()
    place = fields.String()
    members = fields.List(fields.String())


class ContactSchema(_Block):
    """The person a letter names to reply to: never empty on a letter that is sent."""

    name = fields.String(allow_none=True)
    role = fields.String(allow_none=True)  # "tutor and mentor", "head of programme"...
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class LetterSchema(_Block):
    template = fields.String()
    title = fields.String()
    # The reference is the case reference and the letter job's id (or "PREVIEW"), added when
    # the letter renders; a snapshot holds the case reference only.
    case_ref = fields.String()
    reference = fields.String()
    date = fields.Date()  # the event's as-at date: the letter's date
    supportive = fields.Boolean()  # the provider's letters never threaten
    # The steps (workflow events) of the provider's process: a letter names no step the
    # provider does not have.
    steps = fields.List(fields.String())
    provider = fields.Nested(ProviderSchema)
    recipient = fields.Nested(PersonSchema)
    learner_name = fields.String()
    learner_ref = fields.String()
    programme = fields.String()
    figures = fields.Nested(FiguresSchema)
    what_happened = fields.String()
    stage = fields.String()
    note = fields.String()
    next_step_by = fields.Date(allow_none=True)
    plan = fields.Nested(PlanSchema, allow_none=True)
    panel = fields.Nested(PanelSchema, allow_none=True)
    outcome = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    exit_strategy = fields.String(allow_none=True)
    appeal_by = fields.Date(allow_none=True)
    sender_name = fields.String()
    sender_role = fields.String()
    contact = fields.Nested(ContactSchema)
