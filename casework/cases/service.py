"""The one way to act on a case: a user (or the scan) fires an event with a note and its data.

``act`` loads the case within the user's scope, checks the version they saw, runs the policy's
machine (which alone moves the stage), records what the event brings (occurrence decisions,
action plans, what is due, letter jobs), writes the audit event and commits once. Any error rolls
everything back and surfaces as a ``CaseError`` with a stable kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError
from statemachine.exceptions import TransitionNotAllowed

from casework import scope
from casework.cases.audit import append_event
from casework.cases.letters import record_letter_jobs
from casework.cases.schemas import (
    NOTE_LIMIT,
    Change,
    load_change_data,
    load_event_data,
)
from casework.errors import (
    CaseError,
    Forbidden,
    GuardFailed,
    InvalidData,
    NotAllowed,
    NotFound,
    Stale,
)
from casework.extensions import db
from casework.fields import UNSTORABLE, storable_text
from casework.machines.case import Action, CaseMachine, machine_class
from casework.machines.workflow import FINAL_STAGES, Event, Stage
from casework.models import (
    ActionPlan,
    Case,
    CaseEvent,
    DueItem,
    DueKind,
    Enrolment,
    EnrolmentStatus,
    LetterJob,
    Occurrence,
    PlanReview,
    ReviewOutcome,
    Role,
    User,
)
from casework.models.types import utcnow
from casework.policies.rules import rules_of
from casework.registers.figures import AbsencePeriod, figures_for
from casework.registers.thresholds import Judgement, judge, window_start
from casework.workdays import add_working_days


@dataclass
class ActionResult:
    case: Case
    event: CaseEvent
    letters: list[LetterJob]

    @property
    def stage(self) -> str:
        return self.case.state or ""


def machine_for(case: Case) -> CaseMachine:
    """A fresh machine bound to ``case`` (never shared between actions)."""
    policy = case.policy
    cls = machine_class(policy.key, policy.sha256, rules_of(policy).workflow)
    return cls(model=case, state_field="state")


def stage_name(case: Case, stage: str | None) -> str:
    return rules_of(case.policy).workflow.stage_name(stage)


def act(
    *,
    actor: User | None,
    event: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    case_id: int | None = None,
    enrolment_id: int | None = None,
    expected_version: int | None = None,
    today: date | None = None,
    commit: bool = True,
) -> ActionResult:
    """Fire ``event`` on case ``case_id`` (or open a case on ``enrolment_id``) as ``actor``.

    ``actor`` None is the nightly scan. Staff must give a note and, on an existing case, the
    version of the case they saw.
    """
    today = today or date.today()
    try:
        result = _act(
            actor, event, note, data or {}, case_id, enrolment_id, expected_version, today
        )
        if commit:
            db.session.commit()
            if actor is not None and result.letters:
                _render_at_once([job.id for job in result.letters])
        return result
    except StaleDataError as exc:
        db.session.rollback()
        raise Stale(
            "Someone else changed this case while you were acting on it; reload it and try again.",
            current_version=-1,
        ) from exc
    except BaseException:
        db.session.rollback()
        raise


def _render_at_once(job_ids: list[int]) -> None:
    """A staff action's letters are rendered straight after its commit. A failure stays on the
    job (and the case) for the next run; it never undoes or hides the committed action."""
    if not current_app.config.get("RENDER_LETTERS_ON_ACTION", True):
        return
    from casework.documents.jobs import render_jobs  # WeasyPrint loads only when letters render

    try:
        render_jobs(job_ids)
    except Exception:  # e.g. the database went away mid-render: the jobs stay pending
        db.session.rollback()
        current_app.logger.exception("rendering letters %s failed; they stay pending", job_ids)


def _act(actor, event, note, data, case_id, enrolment_id, expected_version, today):
    if event == Event.OPEN:
        if enrolment_id is None:
            raise InvalidData("Say which enrolment.", errors={"enrolment_id": ["Required."]})
        return _open(actor, note, data, enrolment_id, today)
    if case_id is None:
        raise InvalidData("Say which case.", errors={"case_id": ["Required."]})
    case = _load_case(actor, case_id, expected_version)
    if event in Change.ALL:
        return _change(case, actor, event, note, data, today)
    return _transition(case, actor, event, note, data, today)


def _load_case(actor: User | None, case_id: int, expected_version: int | None) -> Case:
    if actor is None:
        case = db.session.get(Case, case_id, with_for_update=True, populate_existing=True)
        if case is None:
            raise NotFound(f"There is no case {case_id}.")
    else:
        case = scope.case_for(actor, case_id, for_update=True)
        if expected_version is None:
            raise InvalidData(
                "Say which version of the case you are acting on.",
                errors={"expected_version": ["Required."]},
            )
    if expected_version is not None and expected_version != case.version:
        raise Stale(
            f"This case has changed since you loaded it (version {expected_version}; it is now "
            f"version {case.version}). Reload it to see what changed.",
            current_version=case.version,
        )
    return case


def _open(actor, note, data, enrolment_id, today) -> ActionResult:
    if actor is None:
        enrolment = db.session.get(Enrolment, enrolment_id)
        if enrolment is None:
            raise NotFound(f"There is no enrolment {enrolment_id}.")
    else:
        enrolment = scope.enrolment_for(actor, enrolment_id)
    policy = enrolment.programme.policy
    case = Case(
        enrolment=enrolment, policy=policy, opened_on=today, occurrence_count=0, event_count=0
    )
    rules = rules_of(policy)
    figures = figures_for(enrolment.id, today, since=window_start(rules, today))
    result = _transition(
        case,
        actor,
        Event.OPEN.value,
        note if actor is not None else (note or "Attendance fell below the threshold."),
        data,
        today,
        judgement=judge(rules, figures),
        absence_period=figures.absence_period,
    )
    return result


def _check_can_open(enrolment: Enrolment) -> None:
    existing = db.session.scalar(
        select(Case.id).where(Case.enrolment_id == enrolment.id, Case.ended_at.is_(None))
    )
    if existing is not None:
        raise GuardFailed(f"This learner already has an open case (case {existing}).")
    if enrolment.status != EnrolmentStatus.ACTIVE:
        raise GuardFailed("The enrolment is no longer active.")


def _note_error(actor: User | None, note: str) -> dict[str, list[str]] | None:
    if actor is None:
        return None
    if not isinstance(note, str) or not note.strip() or len(note) > NOTE_LIMIT:
        return {"note": [f"Write a note of up to {NOTE_LIMIT} characters saying why."]}
    if not storable_text(note):
        return {"note": [UNSTORABLE]}
    return None


def open_by_scan(
    enrolments: list[Enrolment],
    judgements: dict[int, Judgement],
    periods: dict[int, AbsencePeriod | None],
    today: date,
) -> list[Case]:
    """The scan's own way in, for a batch of enrolments: the machine opens each case (figures
    already computed in bulk, no scope to check) and the rows go out in a few batched
    statements instead of several per case."""
    opened: list[tuple[Case, _Fired, str]] = []
    for enrolment in enrolments:
        judgement = judgements[enrolment.id]
        case = Case(
            enrolment=enrolment,
            policy=enrolment.programme.policy,
            opened_on=today,
            occurrence_count=0,
            event_count=0,
        )
        note = f"The nightly scan found attendance at {judgement.percent:.1f}%, {judgement.words}."
        opened.append((case, _fire(case, None, Event.OPEN.value, note, {}, today, judgement), note))
    db.session.add_all(case for case, _fired, _note in opened)
    db.session.flush()  # one multi-row INSERT gives every case its id
    for case, fired, note in opened:
        _record(case, None, fired, note, today, periods[case.enrolment_id], flush=False)
    db.session.flush()
    return [case for case, _fired, _note in opened]


def occurrence_by_scan(case: Case, judgement: Judgement, period, today: date) -> None:
    """A new absence period while below the threshold, after the last one was decided."""
    now = utcnow()
    occurrence = record_occurrence(case, today, judgement.percent, period)
    append_event(
        case,
        Change.RECORD_OCCURRENCE,
        actor=None,
        from_state=case.state,
        to_state=case.state,
        note=(
            f"Occurrence {occurrence.number}: a new absence period began on "
            f"{period.started_at:%d %B %Y} with attendance at {judgement.percent:.1f}%, "
            f"{judgement.words}."
        ),
        data={
            "occurrence": occurrence.number,
            "absence_started_at": period.started_at.isoformat(),
            "attendance_percent": judgement.percent,
            "decision_due_on": occurrence.decision_due_on.isoformat(),
        },
        at=now,
    )


def _allowed(machine: CaseMachine) -> list[str]:
    return [e.id for e in machine.allowed_events]


def _transition(
    case: Case,
    actor: User | None,
    event_name: str,
    note: str,
    data: dict[str, Any],
    today: date,
    *,
    judgement: Judgement | None = None,
    absence_period: AbsencePeriod | None = None,
) -> ActionResult:
    fired = _fire(case, actor, event_name, note, data, today, judgement)
    if fired.event is Event.OPEN:
        # After the machine's own checks, so an actor who may not open hears that first.
        _check_can_open(case.enrolment)
        db.session.add(case)
        db.session.flush()
    result = _record(case, actor, fired, note, today, absence_period)
    db.session.flush()
    return result


@dataclass
class _Fired:
    """A transition the machine has made; what it brings is not yet written."""

    event: Event
    spec: dict[str, Any]
    data: dict[str, Any]
    before: str | None
    after: str | None
    judgement: Judgement | None


def _fire(case, actor, event_name, note, data, today, judgement) -> _Fired:
    """Judge the event and let the policy's machine move the stage (or refuse)."""
    workflow = rules_of(case.policy).workflow
    machine = machine_for(case)  # a case being opened starts in the "new" stage
    here = stage_name(case, case.state)
    try:
        event = Event(event_name)
        spec = workflow.events[event]
    except (ValueError, KeyError):
        raise NotAllowed(
            f"'{event_name}' is not a step of {case.policy.provider}'s process.",
            allowed=_allowed(machine),
        ) from None
    loaded, data_errors = load_event_data(event, spec, data)
    if (note_error := _note_error(actor, note)) is not None:
        data_errors = {**(data_errors or {}), **note_error}
    if judgement is None and event in (Event.OPEN, Event.CLOSE):
        enrolment = case.enrolment
        rules = rules_of(case.policy)
        figures = figures_for(enrolment.id, today, since=window_start(rules, today))
        judgement = judge(rules, figures)
    action = Action(
        event=event,
        spec=spec,
        roles=scope.case_roles(actor, case.enrolment),
        data=loaded,
        data_errors=data_errors,
        circumstances_recorded=bool(case.circumstances),
        occurrence_count=case.occurrence_count,
        decision_pending=case.decision_due_on is not None,
        attendance_percent=judgement.percent if judgement and judgement.evaluable else None,
        below_threshold=bool(judgement and judgement.below),
        threshold_words=judgement.words if judgement else "",
        plan_breached=_plan_breached(case),
    )
    before = case.state
    try:
        machine.send(event.value, action=action)
    except TransitionNotAllowed:
        raise NotAllowed(
            f"'{spec.label}' is not possible while the case is at '{here}'.",
            allowed=_allowed(machine),
        ) from None
    return _Fired(event, spec, loaded, before, case.state, judgement)


def _record(
    case: Case,
    actor: User | None,
    fired: _Fired,
    note: str,
    today: date,
    absence_period: AbsencePeriod | None,
    *,
    flush: bool = True,
) -> ActionResult:
    """Write what a transition brings: its audit event, effects and letter jobs (the case row
    must already have its id)."""
    now = utcnow()
    audit = append_event(
        case,
        fired.event.value,
        actor=actor,
        from_state=None if fired.before == Stage.NEW else fired.before,
        to_state=fired.after,
        note=note,
        data=fired.data,
        at=now,
        flush=flush,
    )
    _effects(case, fired.event, audit, fired.data, today, now, fired.judgement, absence_period)
    if fired.after in FINAL_STAGES:
        case.ended_at = now
        _settle_due(case, now)
        if fired.event is Event.WITHDRAW:
            case.enrolment.status = EnrolmentStatus.WITHDRAWN
    letters = record_letter_jobs(case, audit, fired.spec, today)
    return ActionResult(case, audit, letters)


def _effects(case, event, audit, data, today, now, judgement, absence_period) -> None:
    if event is Event.OPEN:
        record_occurrence(case, today, judgement.percent if judgement else None, absence_period)
    elif case.decision_due_on is not None:
        # Any step taken settles the occurrence waiting for a decision.
        pending = db.session.scalars(
            select(Occurrence).where(
                Occurrence.case_id == case.id, Occurrence.decided_by_event_id.is_(None)
            )
        ).all()
        for occurrence in pending:
            occurrence.decided_by_event_id = audit.id
            occurrence.decided_at = now
            _done(case, DueKind.DECISION, _occurrence_key(case, occurrence.number), now)
        case.decision_due_on = None
    if data.get("circumstances"):
        case.circumstances = data["circumstances"]
    if "action_plan" in data:
        _new_plan(case, audit, data["action_plan"], now)
    if event is Event.CONVENE_PANEL:
        panel = data["panel"]
        _due(
            case,
            DueKind.PANEL,
            f"event:{audit.id}",
            date.fromisoformat(panel["date"]),
            f"Panel at {panel['time']}, {panel['place']}",
        )
    elif audit.from_state in (Stage.DISCIPLINARY_PANEL, Stage.FITNESS_TO_STUDY_PANEL):
        _settle_kind(case, DueKind.PANEL, now)


def _occurrence_key(case: Case, number: int) -> str:
    return f"occurrence:{case.id}:{number}"


def record_occurrence(
    case: Case, today: date, percent: float | None, period: AbsencePeriod | None
) -> Occurrence:
    """A new occurrence waiting for a decision, with its decision due date."""
    days = rules_of(case.policy).workflow.decision_due_working_days
    due = add_working_days(today, days)
    case.occurrence_count += 1
    occurrence = Occurrence(
        case_id=case.id,
        number=case.occurrence_count,
        detected_on=today,
        absence_started_at=period.started_at if period else None,
        first_mark_id=period.first_mark_id if period else None,
        attendance_percent=percent,
        decision_due_on=due,
    )
    db.session.add(occurrence)
    case.decision_due_on = due
    _due(
        case,
        DueKind.DECISION,
        _occurrence_key(case, occurrence.number),
        due,
        f"Decide on occurrence {occurrence.number}",
    )
    return occurrence


def _new_plan(case: Case, audit: CaseEvent, plan: dict[str, Any], now: datetime) -> None:
    _settle_kind(case, DueKind.PLAN_REVIEW, now)  # the old plan's reviews are superseded
    row = ActionPlan(
        case_id=case.id,
        event_id=audit.id,
        targets=plan["targets"],
        support=plan["support"],
        review_dates=plan["review_dates"],
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    for day in sorted(set(plan["review_dates"])):
        _due(case, DueKind.PLAN_REVIEW, f"plan:{row.id}:{day}", date.fromisoformat(day), "Review")


def _due(case: Case, kind: DueKind, key: str, due_on: date, description: str) -> None:
    db.session.add(
        DueItem(
            enrolment_id=case.enrolment_id,
            case_id=case.id,
            kind=kind,
            source_key=key,
            description=description,
            due_on=due_on,
        )
    )


def _done(case: Case, kind: DueKind, key: str, now: datetime) -> None:
    db.session.execute(
        update(DueItem)
        .where(
            DueItem.case_id == case.id,
            DueItem.kind == kind,
            DueItem.source_key == key,
            DueItem.done_at.is_(None),
        )
        .values(done_at=now)
    )


def _settle_kind(case: Case, kind: DueKind, now: datetime) -> None:
    db.session.execute(
        update(DueItem)
        .where(DueItem.case_id == case.id, DueItem.kind == kind, DueItem.done_at.is_(None))
        .values(done_at=now)
    )


def _settle_due(case: Case, now: datetime) -> None:
    db.session.execute(
        update(DueItem)
        .where(DueItem.case_id == case.id, DueItem.done_at.is_(None))
        .values(done_at=now)
    )


def current_plan(case: Case) -> ActionPlan | None:
    return db.session.scalars(
        select(ActionPlan).where(ActionPlan.case_id == case.id).order_by(ActionPlan.id.desc())
    ).first()


def _plan_breached(case: Case) -> bool:
    if case.id is None:
        return False
    plan = current_plan(case)
    if plan is None:
        return False
    last = db.session.scalars(
        select(PlanReview).where(PlanReview.plan_id == plan.id).order_by(PlanReview.id.desc())
    ).first()
    return last is not None and last.outcome == ReviewOutcome.NOT_MET


# Changes that are not transitions --------------------------------------------------------


def _change(case, actor, change, note, data, today) -> ActionResult:
    if change == Change.RECORD_OCCURRENCE:
        raise Forbidden("Only the nightly scan records occurrences.")
    if actor is None:
        raise Forbidden("The scan cannot make this change.")
    works = scope.works_on(actor, case)
    lead = actor.has_role(Role.SAFEGUARDING_LEAD) and case.safeguarding_flagged_at is not None
    if change == Change.FLAG_SAFEGUARDING:
        pass  # anyone who can see the case may flag it
    elif change == Change.ADD_NOTE:
        if not (works or lead):
            raise Forbidden("Only the people working on this case may add notes to it.")
    elif not works:
        raise Forbidden("Only the learner's tutor or mentor or the head of programme may do this.")
    loaded = load_change_data(change, data, _note_error(actor, note))
    if change not in (Change.ADD_NOTE, Change.FLAG_SAFEGUARDING) and not case.is_open:
        raise GuardFailed("The case has ended; it can no longer change.")
    now = utcnow()
    audit = append_event(
        case,
        change,
        actor=actor,
        from_state=case.state,
        to_state=case.state,
        note=note,
        data=loaded,
        at=now,
    )
    if change == Change.FLAG_SAFEGUARDING:
        case.safeguarding_flagged_at = case.safeguarding_flagged_at or now
    elif change == Change.RECORD_CIRCUMSTANCES:
        case.circumstances = loaded["circumstances"]
    elif change == Change.RECORD_REVIEW:
        _record_review(case, actor, audit, loaded, now)
    elif change == Change.COMPLETE_DUE_ITEM:
        item = db.session.get(DueItem, loaded["due_item_id"])
        if item is None or item.case_id != case.id or item.done_at is not None:
            raise GuardFailed("That item is not open on this case.")
        item.done_at = now
    db.session.flush()
    return ActionResult(case, audit, [])


def _record_review(case, actor, audit, loaded, now) -> None:
    plan = current_plan(case)
    if plan is None:
        raise GuardFailed("This case has no action plan to review yet.")
    db.session.add(
        PlanReview(
            plan_id=plan.id,
            event_id=audit.id,
            reviewed_on=date.fromisoformat(loaded["reviewed_on"]),
            outcome=ReviewOutcome(loaded["outcome"]),
            notes=loaded["notes"],
            recorded_by_id=actor.id,
        )
    )
    first_open = db.session.scalars(
        select(DueItem)
        .where(
            DueItem.case_id == case.id,
            DueItem.kind == DueKind.PLAN_REVIEW,
            DueItem.done_at.is_(None),
        )
        .order_by(DueItem.due_on)
    ).first()
    if first_open is not None:
        first_open.done_at = now


__all__ = ["ActionResult", "CaseError", "act", "machine_for", "record_occurrence", "stage_name"]
