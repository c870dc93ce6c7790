"""What events and changes write besides the stage: occurrences, action plans and their reviews,
and the items due on a case. Called only from the case machine's handlers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update

from casework.errors import GuardFailed
from casework.extensions import db
from casework.models import (
    ActionPlan,
    Case,
    CaseEvent,
    DueItem,
    DueKind,
    Letter,
    LetterApproval,
    LetterJob,
    Occurrence,
    PlanReview,
    ReviewOutcome,
    User,
)
from casework.policies.rules import rules_of
from casework.registers.figures import AbsencePeriod
from casework.workdays import add_working_days


def occurrence_key(case: Case, number: int) -> str:
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
    add_due(
        case,
        DueKind.DECISION,
        occurrence_key(case, occurrence.number),
        due,
        f"Decide on occurrence {occurrence.number}",
    )
    return occurrence


def decide_pending(case: Case, audit: CaseEvent, now: datetime) -> None:
    """Any step taken settles the occurrence waiting for a decision."""
    if case.decision_due_on is None:
        return
    pending = db.session.scalars(
        select(Occurrence).where(
            Occurrence.case_id == case.id, Occurrence.decided_by_event_id.is_(None)
        )
    ).all()
    for occurrence in pending:
        occurrence.decided_by_event_id = audit.id
        occurrence.decided_at = now
        _done(case, DueKind.DECISION, occurrence_key(case, occurrence.number), now)
    case.decision_due_on = None


def new_plan(case: Case, audit: CaseEvent, plan: dict[str, Any], now: datetime) -> ActionPlan:
    settle_kind(case, DueKind.PLAN_REVIEW, now)  # the old plan's reviews are superseded
    review_dates = sorted(set(plan["review_dates"]))
    row = ActionPlan(
        case_id=case.id,
        event_id=audit.id,
        targets=plan["targets"],
        support=plan["support"],
        review_dates=review_dates,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    for day in review_dates:
        add_due(
            case, DueKind.PLAN_REVIEW, f"plan:{row.id}:{day}", date.fromisoformat(day), "Review"
        )
    return row


def add_due(case: Case, kind: DueKind, key: str, due_on: date, description: str) -> None:
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


def settle_kind(case: Case, kind: DueKind, now: datetime) -> None:
    db.session.execute(
        update(DueItem)
        .where(DueItem.case_id == case.id, DueItem.kind == kind, DueItem.done_at.is_(None))
        .values(done_at=now)
    )


def settle_all(case: Case, now: datetime) -> None:
    db.session.execute(
        update(DueItem)
        .where(DueItem.case_id == case.id, DueItem.done_at.is_(None))
        .values(done_at=now)
    )


def current_plan(case: Case) -> ActionPlan | None:
    if case.id is None:
        return None
    return db.session.scalars(
        select(ActionPlan).where(ActionPlan.case_id == case.id).order_by(ActionPlan.id.desc())
    ).first()


def plan_breached(case: Case) -> bool:
    """The last review of the current plan found it not met."""
    plan = current_plan(case)
    if plan is None:
        return False
    last = db.session.scalars(
        select(PlanReview).where(PlanReview.plan_id == plan.id).order_by(PlanReview.id.desc())
    ).first()
    return last is not None and last.outcome == ReviewOutcome.NOT_MET


def record_review(
    case: Case, actor: User, audit: CaseEvent, loaded: dict[str, Any], now: datetime
) -> None:
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


def complete_due_item(case: Case, item_id: int, now: datetime) -> None:
    item = db.session.get(DueItem, item_id)
    if item is None or item.case_id != case.id or item.done_at is not None:
        raise GuardFailed("That item is not open on this case.")
    item.done_at = now


APPROVAL_WORDS = {
    LetterApproval.NOT_NEEDED: "it needs no approval and has gone out",
    LetterApproval.APPROVED: "it has been approved already",
    LetterApproval.RETURNED: "it has been returned already",
}


def decide_letter(case: Case, letter_id: int, audit: CaseEvent, *, approved: bool) -> LetterJob:
    """The head of programme's decision on a stored letter of the case that waits for it: the
    audit event is the decision, its note the reason."""
    job = db.session.scalars(
        select(LetterJob)
        .join(Letter, Letter.job_id == LetterJob.id)
        .where(Letter.id == letter_id, Letter.case_id == case.id)
    ).one_or_none()
    if job is None:
        raise GuardFailed(f"This case has no letter {letter_id}.")
    if job.approval is not LetterApproval.AWAITING:
        why = APPROVAL_WORDS[job.approval]
        raise GuardFailed(f"This letter is not waiting for approval: {why}.")
    if audit.id is None:
        db.session.flush()  # the job refers to its decision by the event's id
    job.approval = LetterApproval.APPROVED if approved else LetterApproval.RETURNED
    job.approval_event_id = audit.id
    job.approval_note = audit.note
    return job
