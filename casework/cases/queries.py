"""Reading cases within a user's scope: a case with its timeline, occurrences, plan, what is due
and its letters; a user's caseload; what is due across a user's learners; a learner's own action
plans and letters.

Everything leaves through a marshmallow schema as plain data; special-category circumstances are
left out for anyone not entitled to them (docs/workflow.md, "Who sees and does what").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import Select, and_, bindparam, false, func, select
from sqlalchemy.orm import joinedload, undefer

from casework import scope
from casework.cases.service import allowed_events, current_plan, machine_to_ask, stage_name
from casework.errors import Forbidden, GuardFailed, NotFound
from casework.extensions import db
from casework.fields import LocalDateTime
from casework.machines.audit import check_letter
from casework.machines.case import HEAD_ONLY, CaseMachine, Step, refusal
from casework.machines.effects import APPROVAL_WORDS
from casework.machines.events import CHANGES, EVENTS, Change, event_schema
from casework.machines.workflow import Event
from casework.models import (
    ActionPlan,
    Case,
    CaseEvent,
    Contact,
    DueItem,
    Enrolment,
    EnrolmentTally,
    Learner,
    LearnerAccount,
    Letter,
    LetterApproval,
    LetterJob,
    Occurrence,
    PlanReview,
    Programme,
    Role,
    User,
    academic_year_of,
)
from casework.models.types import utcnow
from casework.policies.rules import rules_of
from casework.registers.tallies import TALLY, window_of
from casework.registers.thresholds import attendance_summary
from casework.sqlfuncs import JsonRows

REDACTED = "(recorded: visible only to the people working on this case)"


class EventChoiceSchema(Schema):
    event = fields.String()
    label = fields.String()


class TimelineEntrySchema(Schema):
    seq = fields.Integer()
    name = fields.String()
    from_stage = fields.String(allow_none=True)
    to_stage = fields.String(allow_none=True)
    actor = fields.String()
    at = fields.DateTime()
    note = fields.String()
    data = fields.Dict()


class OccurrenceSchema(Schema):
    number = fields.Integer()
    detected_on = fields.Date()
    absence_started_at = LocalDateTime(allow_none=True)  # a session's start: UK wall-clock
    attendance_percent = fields.Float(allow_none=True)
    decision_due_on = fields.Date()
    decided_at = fields.DateTime(allow_none=True)


class ReviewSchema(Schema):
    reviewed_on = fields.Date()
    outcome = fields.String()
    notes = fields.String()


class PlanSchema(Schema):
    targets = fields.List(fields.String())
    support = fields.List(fields.String())
    review_dates = fields.List(fields.String())
    reviews = fields.List(fields.Nested(ReviewSchema))


class DueSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    description = fields.String()
    due_on = fields.Date()
    overdue = fields.Boolean()
    case_id = fields.Integer(allow_none=True)
    enrolment_id = fields.Integer()


class LetterJobSchema(Schema):
    job_id = fields.Integer()
    letter_id = fields.Integer(allow_none=True)  # once rendered and stored
    template = fields.String()
    recipient_kind = fields.String()
    recipient_name = fields.String()
    channel = fields.String()  # post, email, none (no address of any kind: fix the contact)
    status = fields.String()
    error = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)  # once rendered and stored
    event_seq = fields.Integer()
    # not_needed, awaiting (the head of programme's approval: not sent yet), approved, returned
    approval = fields.String()
    approval_note = fields.String(allow_none=True)  # the head's reason for returning it


class AttendanceSchema(Schema):
    percent = fields.Float(allow_none=True)
    punctuality_percent = fields.Float(allow_none=True)
    possible = fields.Integer()
    sessions_missed = fields.Integer()
    threshold = fields.String()
    below = fields.Boolean()
    assessment_at_risk = fields.Boolean()


class CaseDetailSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    stage = fields.String()
    stage_name = fields.String()
    policy = fields.String()
    provider = fields.String()
    learner_ref = fields.String()
    learner_name = fields.String()
    programme = fields.String()
    opened_on = fields.Date()
    ended_at = fields.DateTime(allow_none=True)
    occurrence_count = fields.Integer()
    decision_due_on = fields.Date(allow_none=True)
    safeguarding_flagged = fields.Boolean()
    circumstances = fields.String(allow_none=True)
    attendance = fields.Nested(AttendanceSchema)
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    occurrences = fields.List(fields.Nested(OccurrenceSchema))
    action_plan = fields.Nested(PlanSchema, allow_none=True)
    due = fields.List(fields.Nested(DueSchema))
    letters = fields.List(fields.Nested(LetterJobSchema))
    events_allowed = fields.List(fields.Nested(EventChoiceSchema))


def _letters(case: Case, rows: list[Any], seq_of: dict[int, int]) -> list[dict[str, Any]]:
    """Who got (or is to get) what, and how; stored letters carry their reference."""
    learner = case.enrolment.learner.full_name
    return [
        {
            "job_id": job.id,
            "letter_id": job.letter_id,
            "template": job.template,
            "recipient_kind": job.recipient_kind,
            "recipient_name": job.contact_name or learner,
            "channel": job.channel,
            "status": job.status.value,
            "error": job.last_error,
            "reference": job.reference,
            "event_seq": seq_of.get(job.event_id, 0),
            "approval": job.approval.value,
            "approval_note": job.approval_note,
        }
        for job in rows
    ]


def events_for(user: User, case: Case, roles: frozenset[str] | None = None) -> list[dict[str, str]]:
    """The events this user may send the case now (the machine's own answer)."""
    return [{"event": e, "label": label} for e, label in allowed_events(user, case, roles)]


def _due_row(item: Any, today: date) -> dict[str, Any]:
    """A due item (a ``DueItem``, or a row of its columns), as DueSchema."""
    return {
        "id": item.id,
        "kind": item.kind.value,
        "description": item.description,
        "due_on": item.due_on,
        "overdue": item.overdue_since is not None or item.due_on < today,
        "case_id": item.case_id,
        "enrolment_id": item.enrolment_id,
    }


def _plan_row(plan: Any, reviews: Iterable[Any]) -> dict[str, Any]:
    """A plan (an ``ActionPlan``, or a row of its columns) with its reviews, as PlanSchema."""
    return {
        "targets": plan.targets,
        "support": plan.support,
        "review_dates": plan.review_dates,
        "reviews": [
            {"reviewed_on": r.reviewed_on, "outcome": r.outcome.value, "notes": r.notes}
            for r in reviews
        ],
    }


def _current_plan_row(case_id: int) -> dict[str, Any] | None:
    """The case's current plan (its newest, as ``current_plan``) with its reviews, or None."""
    return _plan_of(_rows(_PLAN_AND_REVIEWS, {"case_id": case_id}))


def _plan_of(rows: list[Any]) -> dict[str, Any] | None:
    """The plan of ``_PLAN_AND_REVIEWS``'s rows (one a review, in order), or None."""
    if not rows:
        return None
    return _plan_row(rows[0], (row for row in rows if row.review_id is not None))


def _rows(statement: Select, params: dict[str, Any]) -> list[Any]:
    """The rows of a statement of columns, run on the session's connection: none of the ORM's
    work for objects it would not make."""
    return db.session.connection().execute(statement, params).all()


# Built once: building a schema copies its fields; dumping keeps nothing between calls.
CASE_DETAIL = CaseDetailSchema()
# The case detail's statements, built once with the case as a bound parameter: building a
# statement costs more than running it on one case's rows.
_CASE_ID = bindparam("case_id")
# Columns, not objects: loading an ORM object costs more than reading its row, and a read keeps
# nothing it could change.
_EVENTS = (
    select(
        CaseEvent.id,
        CaseEvent.seq,
        CaseEvent.name,
        CaseEvent.from_state,
        CaseEvent.to_state,
        CaseEvent.actor_label,
        CaseEvent.occurred_at,
        CaseEvent.note,
        CaseEvent.data,
    )
    .where(CaseEvent.case_id == _CASE_ID)
    .order_by(CaseEvent.seq)
)
_OCCURRENCES = (
    select(*(getattr(Occurrence, name) for name in OccurrenceSchema().fields))
    .where(Occurrence.case_id == _CASE_ID)
    .order_by(Occurrence.number)
)
_DUE = (
    select(
        DueItem.id,
        DueItem.kind,
        DueItem.description,
        DueItem.due_on,
        DueItem.overdue_since,
        DueItem.case_id,
        DueItem.enrolment_id,
    )
    .where(DueItem.case_id == _CASE_ID, DueItem.done_at.is_(None))
    .order_by(DueItem.due_on)
)
_LETTERS = (
    select(
        LetterJob.id,
        LetterJob.template,
        LetterJob.recipient_kind,
        LetterJob.channel,
        LetterJob.status,
        LetterJob.last_error,
        LetterJob.event_id,
        LetterJob.approval,
        LetterJob.approval_note,
        Letter.id.label("letter_id"),
        Letter.reference,
        Contact.name.label("contact_name"),
    )
    .outerjoin(Letter, Letter.job_id == LetterJob.id)
    .outerjoin(Contact, Contact.id == LetterJob.contact_id)
    .where(LetterJob.case_id == _CASE_ID)
    .order_by(LetterJob.id, Letter.id)
)
# The current plan (the newest, as ``current_plan`` picks it) and its reviews, one row each
# (a plan without reviews: one row with None).
_PLAN_AND_REVIEWS = (
    select(
        ActionPlan.targets,
        ActionPlan.support,
        ActionPlan.review_dates,
        PlanReview.id.label("review_id"),
        PlanReview.reviewed_on,
        PlanReview.outcome,
        PlanReview.notes,
    )
    .outerjoin(PlanReview, PlanReview.plan_id == ActionPlan.id)
    .where(
        ActionPlan.id
        == select(func.max(ActionPlan.id)).where(ActionPlan.case_id == _CASE_ID).scalar_subquery()
    )
    .order_by(PlanReview.id)
)
# A case's sets, carried as JSON columns of the case's own statement (one round trip, not one
# each), read back sorted as the statements above order them.
_SETS = (
    JsonRows("timeline", _EVENTS, key=lambda e: e.seq),
    JsonRows("occurrences", _OCCURRENCES, key=lambda o: o.number),
    JsonRows("due", _DUE, key=lambda d: (d.due_on, d.id)),
    JsonRows("letters", _LETTERS, key=lambda j: (j.id, j.letter_id or 0)),
    JsonRows("plan", _PLAN_AND_REVIEWS, key=lambda r: (r.review_id is not None, r.review_id)),
)
# What a case's detail reads of its rows besides the case: loaded with it, in one statement.
WITH_PEOPLE = (
    joinedload(Case.policy),
    joinedload(Case.enrolment).joinedload(Enrolment.learner),
    joinedload(Case.enrolment).joinedload(Enrolment.programme),
)


def _with_sets(query: Select) -> Select:
    """A case's statement with its enrolment's tally for the window bound as ``window`` (its
    window start and ``TALLY``; Nones where there is none), then its ``_SETS``: the attendance
    block needs no statement of its own where the tally answers, and the sets none at all."""
    tally = and_(
        EnrolmentTally.enrolment_id == Case.enrolment_id,
        EnrolmentTally.window_start == bindparam("window"),
    )
    return query.outerjoin(EnrolmentTally, tally).add_columns(
        EnrolmentTally.window_start, *TALLY, *(rows.column for rows in _SETS)
    )


def _read(user: User, case_id: int, today: date) -> tuple[Case, frozenset[str], tuple[Any, ...]]:
    """The case (with its people), the user's part in it, its tally and its sets, in one
    statement."""
    window = window_of(academic_year_of(today))
    return scope.read_case(
        user, case_id, options=WITH_PEOPLE, extend=_with_sets, params={"window": window}
    )


def case_detail(user: User, case_id: int, today: date | None = None) -> dict[str, Any]:
    today = today or date.today()
    return _detail(user, *_read(user, case_id, today), today)


def _detail(
    user: User, case: Case, roles: frozenset[str], read: tuple[Any, ...], today: date
) -> dict[str, Any]:
    """``case_detail`` of a case in ``user``'s scope, in which they play ``roles``; ``read``:
    its enrolment's tally and its sets, as ``_read`` reads them."""
    tally, arrays = read[: -len(_SETS)], read[-len(_SETS) :]
    events, occurrences, due, letters, plan = (
        rows.rows(array) for rows, array in zip(_SETS, arrays, strict=True)
    )
    enrolment = case.enrolment
    entitled = scope.may_see_circumstances(user, case, roles)

    def redact(data: dict[str, Any]) -> dict[str, Any]:
        if entitled or "circumstances" not in data:
            return data
        return {**data, "circumstances": REDACTED}

    seq_of = {e.id: e.seq for e in events}
    detail = {
        "id": case.id,
        "version": case.version,
        "stage": case.state,
        "stage_name": stage_name(case, case.state),
        "policy": case.policy.key,
        "provider": case.policy.provider,
        "learner_ref": enrolment.learner.learner_ref,
        "learner_name": enrolment.learner.full_name,
        "programme": enrolment.programme.code,
        "opened_on": case.opened_on,
        "ended_at": case.ended_at,
        "occurrence_count": case.occurrence_count,
        "decision_due_on": case.decision_due_on,
        "safeguarding_flagged": case.safeguarding_flagged_at is not None,
        "circumstances": case.circumstances if entitled else (case.circumstances and REDACTED),
        "attendance": attendance_summary(rules_of(case.policy), enrolment.id, today, tally),
        "timeline": [
            {
                "seq": e.seq,
                "name": e.name,
                "from_stage": stage_name(case, e.from_state) if e.from_state else None,
                "to_stage": stage_name(case, e.to_state) if e.to_state else None,
                "actor": e.actor_label,
                "at": e.occurred_at,
                "note": e.note,
                "data": redact(e.data),
            }
            for e in events
        ],
        "occurrences": occurrences,
        "action_plan": _plan_of(plan),
        "due": [_due_row(item, today) for item in due],
        "letters": _letters(case, letters, seq_of),
        "events_allowed": events_for(user, case, roles),
    }
    return CASE_DETAIL.dump(detail)


class CaseloadRowSchema(Schema):
    id = fields.Integer()
    learner_ref = fields.String()
    learner_name = fields.String()
    programme = fields.String()
    programme_title = fields.String()
    stage = fields.String()
    stage_name = fields.String()
    decision_due_on = fields.Date(allow_none=True)
    overdue = fields.Boolean()


def caseload(user: User, today: date | None = None) -> list[dict[str, Any]]:
    """The open cases ``user`` may see, the decision due soonest first (none due last)."""
    today = today or date.today()
    rows = db.session.execute(
        scope.visible_cases(user)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .add_columns(Learner, Programme)
        .where(Case.ended_at.is_(None))
        .order_by(Case.decision_due_on.is_(None), Case.decision_due_on, Case.id)
    )
    return CaseloadRowSchema(many=True).dump(
        {
            "id": case.id,
            "learner_ref": learner.learner_ref,
            "learner_name": learner.full_name,
            "programme": programme.code,
            "programme_title": programme.title,
            "stage": case.state,
            "stage_name": stage_name(case, case.state),
            "decision_due_on": case.decision_due_on,
            "overdue": case.decision_due_on is not None and case.decision_due_on < today,
        }
        for case, learner, programme in rows
    )


def due_for(user: User, today: date | None = None, *, overdue_only: bool = False) -> list[dict]:
    """What is due for the learners ``user`` may see, soonest first."""
    today = today or date.today()
    seen = scope.visible_enrolments(user).with_only_columns(Enrolment.id)
    query = (
        select(DueItem)
        .where(DueItem.done_at.is_(None), DueItem.enrolment_id.in_(seen))
        .order_by(DueItem.due_on, DueItem.id)
    )
    if overdue_only:
        query = query.where(DueItem.due_on < today)
    return DueSchema(many=True).dump([_due_row(i, today) for i in db.session.scalars(query)])


# What a learner may read: letters that went out (none waiting for approval, none returned).
RELEASED = [a for a in LetterApproval if a.released]


def learner_plans(account: LearnerAccount) -> list[dict[str, Any]]:
    """A learner's own current action plans (their open cases' newest plans), nothing else."""
    cases = db.session.scalars(
        select(Case)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .where(Enrolment.learner_id == account.learner_id, Case.ended_at.is_(None))
        .order_by(Case.id)
    ).all()
    plans = [plan for case in cases if (plan := _current_plan_row(case.id)) is not None]
    return PlanSchema(many=True).dump(plans)


class LearnerLetterSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    title = fields.String()
    rendered_on = fields.Date()


def _learners_own(account: LearnerAccount) -> Select:
    """The letters written to the learner themselves on their cases (not their contacts'), once
    they may go out: none that waits for the head of programme's approval or was returned."""
    return (
        select(Letter)
        .join(LetterJob, LetterJob.id == Letter.job_id)
        .join(Case, Case.id == Letter.case_id)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .where(
            Enrolment.learner_id == account.learner_id,
            Letter.recipient_kind == "learner",
            LetterJob.approval.in_(RELEASED),
        )
    )


def learner_letters(account: LearnerAccount) -> list[dict[str, Any]]:
    """The learner's own letters (``_learners_own``), newest first."""
    rows = db.session.execute(
        _learners_own(account)
        .add_columns(LetterJob.snapshot)
        .order_by(Letter.rendered_at.desc(), Letter.id.desc())
    )
    # Jobs recorded before snapshots (0007) have no title: the template names the letter.
    return LearnerLetterSchema(many=True).dump(
        {
            "id": letter.id,
            "reference": letter.reference,
            "title": (snapshot or {}).get("title") or letter.template.replace("_", " ").title(),
            "rendered_on": letter.rendered_at.date(),
        }
        for letter, snapshot in rows
    )


def learner_letter(account: LearnerAccount, letter_id: int) -> Letter:
    """One of the learner's own letters (``_learners_own``) with its PDF, checked as
    ``staff_letter`` checks it; any other is not found."""
    letter = db.session.scalars(
        _learners_own(account).where(Letter.id == letter_id).options(undefer(Letter.pdf))
    ).one_or_none()
    if letter is None:
        raise NotFound(f"There is no letter {letter_id}.")
    check_letter(letter)
    return letter


# Letters for staff: downloads and the head of programme's approval (casework.views.letters) ---

# What staff call each template.
LETTER_TITLES = {
    "concern_notice": "Concern notice",
    "verbal_warning": "Verbal warning",
    "fitness_to_study_plan": "Fitness to study plan",
    "written_warning": "Written warning",
    "updated_action_plan": "Updated action plan",
    "panel_invitation": "Panel invitation",
    "final_written_warning": "Final written warning",
    "panel_outcome": "Panel outcome",
    "withdrawal": "Withdrawal",
    "closing_letter": "Closing letter",
}


def letter_title(template: str) -> str:
    return LETTER_TITLES.get(template, template.replace("_", " ").capitalize())


def staff_letter(user: User, letter_id: int, *, with_pdf: bool = False) -> Letter:
    """A stored letter on a case ``user`` may see (else not found): staff read every letter of
    such a case, those waiting for approval and those returned too. ``with_pdf``: with its bytes,
    checked against its hash and seal (``IntegrityFailed`` if they do not match)."""
    query = scope.visible_letters(user).where(Letter.id == letter_id)
    if with_pdf:
        query = query.options(undefer(Letter.pdf))
    letter = db.session.scalars(query).one_or_none()
    if letter is None:
        raise NotFound(f"There is no letter {letter_id}.")
    if with_pdf:
        check_letter(letter)
    return letter


def check_may_decide(user: User, letter: Letter) -> None:
    """Raise why ``user`` may not approve or return ``letter`` (one they may see) now: only the
    head of its case's programme may (``Forbidden``, the machine's rule for those changes), and
    only while it waits for approval (``GuardFailed``)."""
    case = db.session.get(Case, letter.case_id)
    if "head_of_programme" not in scope.case_roles(user, case.enrolment):
        raise Forbidden(HEAD_ONLY)
    job = db.session.get(LetterJob, letter.job_id)
    if job.approval is not LetterApproval.AWAITING:
        raise GuardFailed(
            f"This letter is not waiting for approval: {APPROVAL_WORDS[job.approval]}."
        )


class AwaitingLetterSchema(Schema):
    letter_id = fields.Integer()
    reference = fields.String()
    case_id = fields.Integer()
    learner_name = fields.String()
    programme = fields.String()
    letter = fields.String()
    recipient_name = fields.String()
    recipient_kind = fields.String()
    written_on = fields.Date()


def _awaiting(user: User) -> Select:
    """The stored letters waiting for ``user``'s approval: on the cases of the programmes they
    head (within their scope)."""
    if not (user.active and user.has_role(Role.HEAD_OF_PROGRAMME)):
        return select(Letter).where(false())
    cases = scope.led_cases(user)
    return (
        select(Letter)
        .join(LetterJob, LetterJob.id == Letter.job_id)
        .where(
            LetterJob.approval == LetterApproval.AWAITING,
            Letter.case_id.in_(cases.with_only_columns(Case.id)),
        )
    )


def letters_awaiting_approval(
    user: User, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """(the letters waiting for ``user``'s approval, the oldest first, up to ``limit``; how many
    there are in all): two statements, whatever the rows."""
    awaiting = _awaiting(user)
    query = (
        awaiting.join(Case, Case.id == Letter.case_id)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .with_only_columns(
            Letter.id, Letter.reference, Letter.case_id, Letter.template, Letter.recipient_name,
            Letter.recipient_kind, Letter.rendered_at, Learner.given_name,
            Learner.preferred_name, Learner.family_name, Programme.code,
        )
        .order_by(Letter.rendered_at, Letter.id)
        .limit(limit)
    )  # fmt: skip
    rows = [
        {
            "letter_id": letter_id,
            "reference": reference,
            "case_id": case_id,
            "learner_name": f"{preferred or given} {family}",
            "programme": code,
            "letter": letter_title(template),
            "recipient_name": recipient_name,
            "recipient_kind": recipient_kind,
            "written_on": rendered_at.date(),
        }
        for (
            letter_id, reference, case_id, template, recipient_name, recipient_kind, rendered_at,
            given, preferred, family, code,
        ) in db.session.execute(query)
    ]  # fmt: skip
    total = len(rows)
    if limit is not None and total == limit:
        total = db.session.scalar(
            select(func.count()).select_from(awaiting.order_by(None).subquery())
        )
    return AwaitingLetterSchema(many=True).dump(rows), total or 0


# The case page (casework.views.cases) ----------------------------------------------------------


def next_steps(
    user: User, case: Case, today: date | None = None, roles: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Every step the policy takes from the case's stage, in the workflow's order, each saying
    whether ``user`` may take it now and, where not, why in words: their part in the case (the
    policy's roles; ``roles``, when the caller has them already), or a guard of the machine's
    that fails whatever the form says (the guards that judge the form's data run when it is
    sent)."""
    if not case.is_open:
        return []
    today = today or date.today()
    machine = machine_to_ask(case)
    workflow = rules_of(case.policy).workflow
    if roles is None:
        roles = scope.case_roles(user, case.enrolment)
    source = machine.states_map[case.state]  # the stage the guards judge from
    order = list(Event)
    steps = []
    for machine_event in sorted(machine.allowed_events, key=lambda e: order.index(Event(e.id))):
        spec = workflow.events[Event(machine_event.id)]
        schema = event_schema(spec.event, spec.action_plan)
        reason = None
        if not roles & set(spec.roles):
            reason = refusal(spec).message
        else:
            step = Step(case, user, spec.event.value, "", {}, today, utcnow(), roles=roles)
            if "circumstances" in schema.fields:  # the form itself may record them
                step.data = {"circumstances": "(given with the step)"}
            try:
                for guard in EVENTS[spec.event].guards:
                    if guard != "data_valid":
                        getattr(machine, guard)(step, machine_event, source)
            except GuardFailed as exc:
                reason = exc.message
        steps.append(
            {
                "event": spec.event.value,
                "label": spec.label,
                "action_plan": spec.action_plan,
                "letters": bool(spec.letters),
                "reason": reason,
                "may": reason is None,
            }
        )
    return steps


# The changes the case page offers as forms (a due item is marked done from its own row, and
# the scan alone records occurrences).
PAGE_CHANGES = (
    Change.ADD_NOTE,
    Change.RECORD_REVIEW,
    Change.RECORD_CIRCUMSTANCES,
    Change.FLAG_SAFEGUARDING,
)


def _change_refusal(user: User, case: Case, change: Change, roles: frozenset[str]) -> str | None:
    """Why ``user`` (playing ``roles`` in the case) may not make ``change`` on the case now (the
    machine's rule), else None."""
    definition = CHANGES[change]
    step = Step(case, user, change.value, "", {}, date.today(), utcnow(), roles=roles)
    try:
        CaseMachine._check_who(definition, step)
    except Forbidden as exc:
        return exc.message
    if definition.open_only and not case.is_open:
        return "The case has ended; it can no longer change."
    return None


def case_changes(
    user: User,
    case: Case,
    roles: frozenset[str] | None = None,
    has_plan: bool | None = None,
) -> list[dict[str, Any]]:
    """The changes that keep the stage (a note, a progress review, the circumstances, the
    safeguarding flag) ``user`` may make on the case now, where they make sense now.
    ``roles`` and ``has_plan`` (an action plan to review): when the caller knows them."""
    if roles is None:
        roles = scope.case_roles(user, case.enrolment)
    if has_plan is None:
        has_plan = current_plan(case) is not None
    changes = []
    for change in PAGE_CHANGES:
        if _change_refusal(user, case, change, roles):
            continue
        if change is Change.RECORD_REVIEW and not has_plan:
            continue  # nothing to review yet
        if change is Change.FLAG_SAFEGUARDING and case.safeguarding_flagged_at is not None:
            continue
        changes.append(
            {
                "event": change.value,
                "label": CHANGES[change].label,
                "action_plan": False,
                "letters": False,
                "reason": None,
                "may": True,
            }
        )
    return changes


def step_rules(user: User, case: Case, event: str) -> dict[str, Any]:
    """What the case page needs to take ``event`` (a step of the process, or one of the
    changes it offers) on ``case``: its label, whether it takes an action plan and sends
    letters, and ``refusal``, why ``user`` may not take it whatever the stage (the policy
    gives their part in the case no such step), else None. ``NotFound`` when there is no such
    step for staff (the scan alone opens a case and records occurrences)."""
    roles = scope.case_roles(user, case.enrolment)
    if event in {change.value for change in PAGE_CHANGES}:
        change = Change(event)
        return {
            "event": event,
            "label": CHANGES[change].label,
            "action_plan": False,
            "letters": False,
            "refusal": _change_refusal(user, case, change, roles),
        }
    spec = rules_of(case.policy).workflow.event(event)
    if spec is None or spec.event is Event.OPEN:
        raise NotFound(f"{case.policy.provider}'s process has no step '{event}'.")
    may = bool(roles & set(spec.roles))
    return {
        "event": spec.event.value,
        "label": spec.label,
        "action_plan": spec.action_plan,
        "letters": bool(spec.letters),
        "refusal": None if may else refusal(spec).message,
    }


def step_labels(case: Case) -> dict[str, str]:
    """What the timeline calls each event and change: the provider's words for its steps."""
    labels = {change.value: d.label for change, d in CHANGES.items()}
    workflow = rules_of(case.policy).workflow
    return labels | {event.value: spec.label for event, spec in workflow.events.items()}


def case_page(user: User, case_id: int, today: date | None = None) -> dict[str, Any]:
    """``case_detail`` and what the case page adds: the learner's age, the label of every step on
    the timeline, and the next steps with whether this user may take each now."""
    today = today or date.today()
    case, roles, read = _read(user, case_id, today)  # their part in the case, asked once
    detail = _detail(user, case, roles, read, today)
    learner = case.enrolment.learner
    age = learner.age_on(today)
    under = rules_of(case.policy).contacts.parent_carer_under_age
    heads = "head_of_programme" in roles
    for letter in detail["letters"]:  # the approve and return buttons (Who.HEAD's rule)
        awaiting = letter["approval"] == LetterApproval.AWAITING
        letter["may_decide"] = heads and awaiting and bool(letter["letter_id"])
    return {
        **detail,
        "age": age,
        "under_age": under if age < under else None,
        "labels": step_labels(case),
        "steps": next_steps(user, case, today, roles),
        "changes": case_changes(user, case, roles, detail["action_plan"] is not None),
    }
