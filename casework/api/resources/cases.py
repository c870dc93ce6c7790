"""Cases: list and read within the caller's scope, open one, fire an event on one."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Response, jsonify, request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, bindparam, select

from casework import scope
from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, Bound, SelectPage
from casework.api.problems import API_PREFIX, problem
from casework.api.reads import reads_only
from casework.cases.queries import CaseDetailSchema, case_detail
from casework.cases.service import ActionResult, act, stage_name
from casework.extensions import db
from casework.fields import record_id
from casework.jobs.after_commit import letters_after_commit
from casework.machines.events import CHANGES, EVENTS, NOTE_LIMIT, ActionPlanSchema, Change
from casework.machines.workflow import Event, Stage
from casework.models import Case, Enrolment, Learner, Letter, Policy, Role, full_name
from casework.policies import load_policies
from casework.policies.rules import rules_of_version

blp = api_blueprint("cases", "Attendance cases: read them, open them, act on them.")

_ETAG = re.compile(r'^(?:W/)?"(\d{1,9})"$|^(\d{1,9})$')
IF_MATCH_DOC = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "description": 'The ETag of the case as you read it (its version, e.g. "3").',
    "schema": {"type": "string"},
}


class CaseQuerySchema(Schema):
    stage = fields.String(
        validate=validate.OneOf([s.value for s in Stage]),
        metadata={"description": "Workflow stage id (not the provider's name for it)."},
    )
    open = fields.Boolean(metadata={"description": "Only open (true) or ended (false) cases."})
    programme_id = record_id()
    mentor_id = record_id()
    decision_due_by = fields.Date(
        metadata={"description": "Only cases whose pending decision is due on or before this."}
    )


class CaseSummarySchema(Schema):
    """A row of the case list (as ``_summary_row`` makes it)."""

    id = fields.Integer()
    version = fields.Integer()
    stage = fields.String()
    stage_name = fields.String()
    policy = fields.String()
    enrolment_id = fields.Integer()
    learner_ref = fields.String()
    learner_name = fields.String()
    programme_id = fields.Integer()
    mentor_id = fields.Integer(allow_none=True)
    opened_on = fields.Date()
    ended_at = fields.DateTime(allow_none=True)
    occurrence_count = fields.Integer()
    decision_due_on = fields.Date(allow_none=True)


_NOTE = validate.Length(max=NOTE_LIMIT)  # the machine says what else a note needs


class NewCaseSchema(Schema):
    enrolment_id = record_id(required=True)
    note = fields.String(
        required=True, validate=_NOTE, metadata={"description": "Why the case is opened."}
    )


class FireEventSchema(Schema):
    """What the endpoint loads; the OpenAPI document shows one schema per event instead
    (``document_events``), and the case machine loads ``data`` with the event's own schema."""

    event = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "An event id from the case's `events_allowed`, or a change."},
    )
    note = fields.String(
        load_default="", validate=_NOTE, metadata={"description": "Why (required of staff)."}
    )
    # An event's data has a few fields (its own schema refuses any other): bounded here too.
    data = fields.Dict(
        keys=fields.String(validate=validate.Length(max=40)),
        load_default=dict,
        validate=validate.Length(max=10),
        metadata={"description": "The event's data."},
    )


_PLAN_DOC = (
    "Required where the provider's policy asks for an action plan with this step (the steps "
    "that set targets, support and review dates); refused where it does not."
)


def _body_schema(name: str, data: type[Schema], with_plan: bool) -> type[Schema]:
    title = "".join(part.title() for part in name.split("_"))
    extra = {}
    if with_plan:
        extra["action_plan"] = fields.Nested(ActionPlanSchema, metadata={"description": _PLAN_DOC})
    attrs: dict[str, Any] = {
        "event": fields.String(required=True, validate=validate.OneOf([name])),
        "note": fields.String(
            required=True, validate=_NOTE, metadata={"description": "Why (staff words)."}
        ),
        "data": fields.Nested(type(f"{title}Data", (data,), extra), load_default=dict),
    }
    return type(f"{title}Body", (Schema,), attrs)


def document_events(spec: Any) -> None:
    """Describe ``POST /cases/{id}/events`` as one body schema per event and change, selected
    by ``event``, so a caller sees exactly what each step's ``data`` holds."""
    # The steps some shipped policy takes with an action plan (see each case's policy).
    planned = {
        event
        for policy in load_policies()
        for event, spec in policy.rules.workflow.events.items()
        if spec.action_plan
    }
    bodies = {
        event.value: _body_schema(event.value, d.data, event in planned)
        for event, d in EVENTS.items()
        if event is not Event.OPEN  # opened by POST /cases
    }
    bodies |= {
        change.value: _body_schema(change.value, d.data, False) for change, d in CHANGES.items()
    }
    del bodies[Change.RECORD_OCCURRENCE.value]  # the scan's own
    refs = {}
    for name, schema in bodies.items():
        component = schema.__name__.removesuffix("Schema")
        spec.components.schema(component, schema=schema)
        refs[name] = f"#/components/schemas/{component}"
    path = f"{API_PREFIX}/cases/{{case_id}}/events"
    body = spec._paths[path]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {"propertyName": "event", "mapping": refs},
    }


class ProducedLetterSchema(Schema):
    job_id = fields.Integer()
    letter_id = fields.Integer(allow_none=True)
    template = fields.String()
    recipient_kind = fields.String()
    channel = fields.String()
    status = fields.String()
    # not_needed, or awaiting the head of programme's approval (approve_letter / return_letter)
    approval = fields.String()
    download = fields.String(allow_none=True)


class ActionResultSchema(Schema):
    case_id = fields.Integer()
    version = fields.Integer()
    stage = fields.String()
    stage_name = fields.String()
    event = fields.String()
    event_seq = fields.Integer()
    letters = fields.List(fields.Nested(ProducedLetterSchema))


# What a row of the case list reads: columns, not objects (loading a case, its enrolment, its
# learner and its policy as objects cost more than the rest of the request).
_SUMMARY_COLUMNS = (
    Case.id,
    Case.version,
    Case.state,
    Policy.key,
    Policy.sha256,
    Case.policy_id,
    Case.enrolment_id,
    Learner.learner_ref,
    Learner.preferred_name,
    Learner.given_name,
    Learner.family_name,
    Enrolment.programme_id,
    Enrolment.mentor_id,
    Case.opened_on,
    Case.ended_at,
    Case.occurrence_count,
    Case.decision_due_on,
)


def _summary_row(row: Any) -> dict[str, Any]:
    rules = rules_of_version(
        row.sha256,
        lambda: db.session.scalar(select(Policy.document).where(Policy.id == row.policy_id)),
    )
    return {
        "id": row.id,
        "version": row.version,
        "stage": row.state,
        "stage_name": rules.workflow.stage_name(row.state),
        "policy": row.key,
        "enrolment_id": row.enrolment_id,
        "learner_ref": row.learner_ref,
        "learner_name": full_name(row.preferred_name, row.given_name, row.family_name),
        "programme_id": row.programme_id,
        "mentor_id": row.mentor_id,
        "opened_on": row.opened_on,
        "ended_at": row.ended_at,
        "occurrence_count": row.occurrence_count,
        "decision_due_on": row.decision_due_on,
    }


# The case list's filters: each a condition on its bound parameter ("open": its own two).
_FILTERS = {
    "stage": lambda value: Case.state == value,
    "programme_id": lambda value: Enrolment.programme_id == value,
    "mentor_id": lambda value: Enrolment.mentor_id == value,
    "decision_due_by": lambda value: Case.decision_due_on <= value,
}


def _summary_query(args: dict[str, Any]) -> Bound:
    user = caller()
    filters = tuple(name for name in _FILTERS if name in args)
    statement = _summary_statement(user.active, user.roles, filters, args.get("open"))
    params = {"user_id": user.id, **{name: args[name] for name in filters}}
    return Bound(statement, params, shape=_summary_row)


@cache
def _summary_statement(
    active: bool, roles: frozenset[Role], filters: tuple[str, ...], open_: bool | None
) -> Select:
    """The case list's statement, built once for each kind of user and set of filters."""
    query = (
        scope.visible_cases_of(active, roles)
        .with_only_columns(*_SUMMARY_COLUMNS)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .join(Policy, Policy.id == Case.policy_id)
        .order_by(Case.id)
    )
    for name in filters:
        query = query.where(_FILTERS[name](bindparam(name)))
    if open_ is not None:
        query = query.where(Case.ended_at.is_(None) if open_ else Case.ended_at.is_not(None))
    return query


def _result(result: ActionResult) -> dict[str, Any]:
    case = result.case
    stored = dict(
        db.session.execute(
            select(Letter.job_id, Letter.id).where(
                Letter.job_id.in_([job.id for job in result.letters])
            )
        ).all()
    )
    return {
        "case_id": case.id,
        "version": case.version,
        "stage": case.state,
        "stage_name": stage_name(case, case.state),
        "event": result.event.name,
        "event_seq": result.event.seq,
        "letters": [
            {
                "job_id": job.id,
                "letter_id": stored.get(job.id),
                "template": job.template,
                "recipient_kind": job.recipient_kind,
                "channel": job.channel,
                "status": job.status.value,
                "approval": job.approval.value,
                "download": url_for("letters.LetterPdf", letter_id=stored[job.id])
                if job.id in stored
                else None,
            }
            for job in result.letters
        ],
    }


def _render(result: ActionResult) -> None:
    letters_after_commit(result.letters)  # queued for a worker, or rendered here


def _etag(version: int) -> str:
    return f'"{version}"'


@blp.route("/cases")
@reads_only
class Cases(MethodView):
    @blp.arguments(CaseQuerySchema, location="query")
    @blp.response(200, CaseSummarySchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List the cases you may see, oldest first."""
        return _summary_query(args)

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(NewCaseSchema)
    @blp.response(201, ActionResultSchema)
    def post(self, body):
        """Open a case on an enrolment (where the policy lets staff open one)."""
        result = act(
            actor=caller(), event=Event.OPEN, note=body["note"], enrolment_id=body["enrolment_id"]
        )
        _render(result)
        headers = {
            "Location": url_for("cases.CaseById", case_id=result.case.id),
            "ETag": _etag(result.case.version),
        }
        return _result(result), 201, headers


@blp.route("/cases/<int:case_id>")
@reads_only
class CaseById(MethodView):
    @blp.response(200, CaseDetailSchema, headers={"ETag": {"schema": {"type": "string"}}})
    def get(self, case_id: int):
        """A case with its timeline, occurrences, plan, what is due, its letters and the events
        you may fire now. Its ETag is its version: send it as If-Match to act on it."""
        detail = case_detail(caller(), case_id)  # already dumped through CaseDetailSchema
        response = jsonify(detail)
        response.headers["ETag"] = _etag(detail["version"])
        return response


def _if_match_version() -> int | Response:
    header = request.headers.get("If-Match", "").strip()
    if not header:
        return problem("precondition-required")
    match = _ETAG.match(header)
    if match is None:
        return problem(
            "precondition-required",
            'If-Match must be the case\'s ETag, e.g. "3" (a wildcard is not enough).',
        )
    return int(match.group(1) or match.group(2))


@blp.route("/cases/<int:case_id>/events")
class CaseEvents(MethodView):
    @blp.doc(parameters=[IF_MATCH_DOC, HEADER_DOC])
    @idempotent
    @blp.arguments(FireEventSchema)
    @blp.response(200, ActionResultSchema, headers={"ETag": {"schema": {"type": "string"}}})
    def post(self, body, case_id: int):
        """Fire an event on a case (or record a change such as a note). The response has the
        new stage, the new version (ETag) and the letters the event produced."""
        scope.case_for(caller(), case_id)  # outside your scope: 404 before anything else
        version = _if_match_version()
        if isinstance(version, Response):
            return version
        result = act(
            actor=caller(),
            event=body["event"],
            note=body["note"],
            data=body["data"],
            case_id=case_id,
            expected_version=version,
        )
        _render(result)
        return _result(result), 200, {"ETag": _etag(result.case.version)}
