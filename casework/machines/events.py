"""Every event and change of a case, each defined once: its data (a marshmallow schema), its guards
(validators of the case machine, named here) and who may make it.

A workflow *event* moves the stage (or keeps it, as option A does) through the policy's machine:
who may fire it comes from the policy (``roles``) and is the transition's condition; its guards are
the transition's validators; its effects are the machine's ``on_<event>`` handler. A *change*
(a note, the safeguarding flag, a review...) never moves the stage: the machine checks and applies
it the same way, and the same audit listener records it.

Event data is loaded with unknown fields refused and stored in the audit event as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from casework.fields import day, on_the_calendar, percent, record_id, storable, text
from casework.machines.workflow import Event
from casework.models import ReviewOutcome

NOTE_LIMIT = 4000


def _text(required: bool = True, description: str = "") -> fields.String:
    return text(4000, required=required, metadata={"description": description})


class _Data(Schema):
    class Meta:
        ordered = True


class ActionPlanSchema(_Data):
    targets = fields.List(
        text(4000),
        required=True,
        validate=validate.Length(1, 50),
        metadata={"description": "What the learner will do, e.g. 'Attend every session'."},
    )
    support = fields.List(
        text(4000),
        required=True,
        validate=validate.Length(1, 50),
        metadata={"description": "The support agreed, e.g. 'Weekly check-in with the mentor'."},
    )
    review_dates = fields.List(
        day(),
        required=True,
        validate=validate.Length(1, 20),
        metadata={"description": "When progress is reviewed (ISO dates)."},
    )


class PanelSchema(_Data):
    date = day(required=True)
    time = fields.Time(required=True, format="%H:%M", metadata={"description": "HH:MM"})
    place = text(200, required=True)
    members = fields.List(text(200), required=True, validate=validate.Length(1, 20))


class NoData(_Data):
    pass


class FitnessToStudyData(_Data):
    circumstances = _text(
        required=False,
        description="The health or personal circumstances behind the absence, if not yet "
        "recorded on the case (special-category data).",
    )


class PanelData(_Data):
    panel = fields.Nested(PanelSchema, required=True)


class OutcomeData(_Data):
    outcome = _text(description="What the panel decided.")


class WithdrawData(_Data):
    reason = _text(description="Why the learner is withdrawn.")
    exit_strategy = _text(required=False, description="The exit strategy and advice offered.")


class CloseData(_Data):
    reason = fields.String(
        required=True,
        validate=validate.OneOf(["attendance_restored", "no_further_action"]),
        metadata={"description": "attendance_restored needs attendance back at the threshold."},
    )


class CircumstancesData(_Data):
    circumstances = _text(description="Health or personal circumstances (special-category).")


class ReviewData(_Data):
    reviewed_on = day(required=True)
    outcome = fields.Enum(ReviewOutcome, by_value=True, required=True)
    notes = text(4000, min_length=0, load_default="")


class DueItemData(_Data):
    due_item_id = record_id(required=True, strict=True)


class LetterDecisionData(_Data):
    """A letter waiting for the head of programme's approval, as stored (the PDF they read);
    the note says why (returning one, what is wrong with it)."""

    letter_id = record_id(required=True, strict=True)


class OccurrenceData(_Data):
    """What the scan found: kept with the occurrence's audit event."""

    attendance_percent = percent(allow_none=True)
    absence_started_at = fields.NaiveDateTime(allow_none=True, validate=on_the_calendar)
    first_mark_id = record_id(allow_none=True)


@dataclass(frozen=True)
class EventDefinition:
    event: Event
    data: type[Schema]
    # The case machine's guard methods, run in this order by the transition's validator (after
    # the service checked its condition, the actor's part in the case).
    guards: tuple[str, ...]


_COMMON = ("data_valid", "occurrence_ready", "circumstances_fit")
EVENTS: Mapping[Event, EventDefinition] = {
    d.event: d
    for d in (
        EventDefinition(Event.OPEN, NoData, ("data_valid", "may_open", "attendance_below")),
        EventDefinition(Event.NO_ACTION, NoData, _COMMON),
        EventDefinition(Event.GIVE_VERBAL_WARNING, NoData, _COMMON),
        EventDefinition(Event.REFER_FITNESS_TO_STUDY, FitnessToStudyData, _COMMON),
        EventDefinition(Event.ISSUE_WRITTEN_WARNING, NoData, _COMMON),
        EventDefinition(Event.REVIEW_FITNESS_TO_STUDY, NoData, _COMMON),
        EventDefinition(Event.CONVENE_PANEL, PanelData, _COMMON),
        EventDefinition(Event.ISSUE_FINAL_WRITTEN_WARNING, OutcomeData, _COMMON),
        EventDefinition(Event.CONFIRM_FIT_TO_STUDY, OutcomeData, _COMMON),
        EventDefinition(Event.WITHDRAW, WithdrawData, (*_COMMON, "plan_breached")),
        EventDefinition(Event.CLOSE, CloseData, (*_COMMON, "attendance_restored")),
    )
}


class Change(StrEnum):
    """Changes to a case that are not transitions: audited, never moving the stage."""

    ADD_NOTE = "add_note"
    FLAG_SAFEGUARDING = "flag_safeguarding"
    RECORD_CIRCUMSTANCES = "record_circumstances"
    RECORD_REVIEW = "record_review"
    COMPLETE_DUE_ITEM = "complete_due_item"
    RECORD_OCCURRENCE = "record_occurrence"  # the scan only
    APPROVE_LETTER = "approve_letter"
    RETURN_LETTER = "return_letter"


class Who(StrEnum):
    """Who may make a change."""

    ANYONE_WHO_SEES = "anyone who can see the case"
    WORKERS_OR_LEAD = "the people working on the case or the safeguarding lead"
    WORKERS = "the learner's tutor or mentor or the head of programme"
    HEAD = "the head of the learner's programme"
    SCAN = "the nightly scan"


@dataclass(frozen=True)
class ChangeDefinition:
    change: Change
    label: str
    data: type[Schema]
    who: Who
    open_only: bool  # an ended case can still take notes and a safeguarding flag, nothing else


CHANGES: Mapping[Change, ChangeDefinition] = {
    d.change: d
    for d in (
        ChangeDefinition(Change.ADD_NOTE, "Add a note", NoData, Who.WORKERS_OR_LEAD, False),
        ChangeDefinition(
            Change.FLAG_SAFEGUARDING, "Flag for safeguarding", NoData, Who.ANYONE_WHO_SEES, False
        ),
        ChangeDefinition(
            Change.RECORD_CIRCUMSTANCES,
            "Record health or personal circumstances",
            CircumstancesData,
            Who.WORKERS,
            True,
        ),
        ChangeDefinition(
            Change.RECORD_REVIEW, "Record a progress review", ReviewData, Who.WORKERS, True
        ),
        ChangeDefinition(
            Change.COMPLETE_DUE_ITEM, "Mark a due item done", DueItemData, Who.WORKERS, True
        ),
        ChangeDefinition(
            Change.RECORD_OCCURRENCE, "Record a new occurrence", OccurrenceData, Who.SCAN, True
        ),
        # A withdrawal's letter waits on a case that has ended.
        ChangeDefinition(
            Change.APPROVE_LETTER, "Approve a letter", LetterDecisionData, Who.HEAD, False
        ),
        ChangeDefinition(
            Change.RETURN_LETTER, "Return a letter", LetterDecisionData, Who.HEAD, False
        ),
    )
}


@cache
def event_schema(event: Event, action_plan: bool) -> Schema:
    """The schema of an event's data under a policy (which may ask for an action plan)."""
    schema = EVENTS[event].data
    if action_plan:
        plan = fields.Nested(ActionPlanSchema, required=True)
        schema = type(f"{schema.__name__}WithPlan", (schema,), {"action_plan": plan})
    return schema()


def load_data(schema: Schema, data: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(JSON-safe data, None), or ({}, marshmallow's messages) when the data is wrong."""
    if not isinstance(data, dict):
        return {}, {"_schema": ["Data must be an object."]}
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        return {}, exc.normalized_messages()
    return schema.dump(loaded), None


def note_error(note: Any) -> dict[str, list[str]] | None:
    """Staff say why they act: a note of up to NOTE_LIMIT characters every database keeps."""
    if not isinstance(note, str) or not note.strip() or len(note) > NOTE_LIMIT:
        return {"note": [f"Write a note of up to {NOTE_LIMIT} characters saying why."]}
    try:
        storable(note)
    except ValidationError as exc:
        return {"note": exc.messages}
    return None
