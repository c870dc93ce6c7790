"""Cases: list and read within the caller's scope, open one, fire an event on one."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from casework import scope
from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, SelectPage
from casework.api.problems import API_PREFIX, problem
from casework.cases.queries import CaseDetailSchema, case_detail
from casework.cases.service import ActionResult, act, stage_name
from casework.extensions import db
from casework.fields import record_id
from casework.jobs.after_commit import letters_after_commit
from casework.machines.events import CHANGES, EVENTS, NOTE_LIMIT, ActionPlanSchema, Change
from casework.machines.workflow import Event, Stage
from casework.models import Case, Enrolment, Letter
from casework.policies import load_policies

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
    id = fields.Integer()
    version = fields.Integer()
    stage = fields.String(attribute="state")
    stage_name = fields.Function(lambda case: stage_name(case, case.state), dump_only=True)
    policy = fields.String(attribute="policy.key")
    enrolment_id = fields.Integer()
    learner_ref = fields.String(attribute="enrolment.learner.learner_ref")
    learner_name = fields.String(attribute="enrolment.learner.full_name")
    programme_id = fields.Integer(attribute="enrolment.programme_id")
    mentor_id = fields.Integer(attribute="enrolment.mentor_id", allow_none=True)
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


# What CaseSummarySchema reads besides the case: the enrolment (joined for the filters anyway)
# and its learner with each row; the few policies (for the stage names) in one more statement.
_SUMMARY_LOADS = (
    contains_eager(Case.enrolment).joinedload(Enrolment.learner, innerjoin=True),
    selectinload(Case.policy),
)


def _summary_query(args: dict[str, Any]):
    query = (
        scope.visible_cases(caller())
        .join(Case.enrolment)
        .options(*_SUMMARY_LOADS)
        .order_by(Case.id)
    )
    if "stage" in args:
        query = query.where(Case.state == args["stage"])
    if "open" in args:
        query = query.where(Case.ended_at.is_(None) if args["open"] else Case.ended_at.is_not(None))
    if "programme_id" in args:
        query = query.where(Enrolment.programme_id == args["programme_id"])
    if "mentor_id" in args:
        query = query.where(Enrolment.mentor_id == args["mentor_id"])
    if "decision_due_by" in args:
        query = query.where(Case.decision_due_on <= args["decision_due_by"])
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
