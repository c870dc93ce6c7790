"""What each event and change takes as data: marshmallow at the service's boundary.

Unknown fields are errors. Loaded data is stored in the audit event as JSON (dates as ISO text).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from casework.errors import InvalidData
from casework.fields import storable
from casework.machines.workflow import Event
from casework.models import ReviewOutcome
from casework.policies.rules import EventRules


def _text_rule(max_length: int, min_length: int = 1) -> list:
    return [validate.Length(min=min_length, max=max_length), storable]


_TEXT = _text_rule(4000)


class ActionPlanSchema(Schema):
    targets = fields.List(fields.String(validate=_TEXT), required=True, validate=validate.Length(1))
    support = fields.List(fields.String(validate=_TEXT), required=True, validate=validate.Length(1))
    review_dates = fields.List(fields.Date(), required=True, validate=validate.Length(1))


class PanelSchema(Schema):
    date = fields.Date(required=True)
    time = fields.Time(required=True, format="%H:%M")
    place = fields.String(required=True, validate=_text_rule(200))
    members = fields.List(
        fields.String(validate=_text_rule(200)),
        required=True,
        validate=validate.Length(min=1),
    )


def _text(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=_TEXT)


_EVENT_FIELDS: dict[Event, dict[str, fields.Field]] = {
    Event.OPEN: {},
    Event.NO_ACTION: {},
    Event.GIVE_VERBAL_WARNING: {},
    Event.REFER_FITNESS_TO_STUDY: {"circumstances": _text(required=False)},
    Event.ISSUE_WRITTEN_WARNING: {},
    Event.REVIEW_FITNESS_TO_STUDY: {},
    Event.CONVENE_PANEL: {"panel": fields.Nested(PanelSchema, required=True)},
    Event.ISSUE_FINAL_WRITTEN_WARNING: {"outcome": _text()},
    Event.CONFIRM_FIT_TO_STUDY: {"outcome": _text()},
    Event.WITHDRAW: {"reason": _text(), "exit_strategy": _text(required=False)},
    Event.CLOSE: {
        "reason": fields.String(
            required=True, validate=validate.OneOf(["attendance_restored", "no_further_action"])
        )
    },
}


class Change:
    """Changes to a case that are not transitions: audited, never moving the stage."""

    ADD_NOTE = "add_note"
    FLAG_SAFEGUARDING = "flag_safeguarding"
    RECORD_CIRCUMSTANCES = "record_circumstances"
    RECORD_REVIEW = "record_review"
    COMPLETE_DUE_ITEM = "complete_due_item"
    RECORD_OCCURRENCE = "record_occurrence"  # the scan only

    ALL = frozenset(
        {
            ADD_NOTE,
            FLAG_SAFEGUARDING,
            RECORD_CIRCUMSTANCES,
            RECORD_REVIEW,
            COMPLETE_DUE_ITEM,
            RECORD_OCCURRENCE,
        }
    )


_CHANGE_FIELDS: dict[str, dict[str, fields.Field]] = {
    Change.ADD_NOTE: {},
    Change.FLAG_SAFEGUARDING: {},
    Change.RECORD_CIRCUMSTANCES: {"circumstances": _text()},
    Change.RECORD_REVIEW: {
        "reviewed_on": fields.Date(required=True),
        "outcome": fields.Enum(ReviewOutcome, by_value=True, required=True),
        "notes": fields.String(load_default="", validate=_text_rule(4000, min_length=0)),
    },
    Change.COMPLETE_DUE_ITEM: {"due_item_id": fields.Integer(required=True, strict=True)},
}


def _schema(field_map: dict[str, fields.Field]) -> Schema:
    return Schema.from_dict(dict(field_map))()


def load_event_data(
    event: Event, spec: EventRules, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(JSON-safe data, None) or ({}, field errors) for a workflow event under a policy."""
    field_map = dict(_EVENT_FIELDS[event])
    if spec.action_plan:
        field_map["action_plan"] = fields.Nested(ActionPlanSchema, required=True)
    return _load(field_map, data)


def load_change_data(
    change: str, data: dict[str, Any], note_error: dict[str, Any] | None = None
) -> dict[str, Any]:
    loaded, errors = _load(_CHANGE_FIELDS[change], data)
    if note_error:
        errors = {**(errors or {}), **note_error}
    if errors:
        raise InvalidData("Some details are missing or wrong.", errors=errors)
    return loaded


def _load(
    field_map: dict[str, fields.Field], data: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    schema = _schema(field_map)
    if not isinstance(data, dict):
        return {}, {"_schema": ["Data must be an object."]}
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        return {}, exc.normalized_messages()
    return schema.dump(loaded), None


NOTE_LIMIT = 4000
