"""Enrolments: a learner on a programme for an academic year, with their tutor/mentor; and
their attendance figures as at a day.

Read within casework.scope.visible_enrolments. Written by administrators and by the
administration officers of the enrolment's programme. While the enrolment has an open case, only
the case's workflow ends it (its letters, audit and stage must say so), never a status change.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from casework import scope
from casework.errors import CaseOpen
from casework.extensions import db
from casework.machines.workflow import Event, enabled_transitions
from casework.models import (
    Case,
    Enrolment,
    EnrolmentStatus,
    Learner,
    Programme,
    Role,
    User,
    academic_year_label,
    academic_year_of,
)
from casework.policies.rules import rules_of
from casework.records import learners
from casework.records.common import (
    FieldErrors,
    apply,
    commit,
    require_administers,
)
from casework.records.programmes import programme_to_administer
from casework.registers.tallies import refresh_tallies
from casework.registers.thresholds import attendance_summary

CHANGEABLE = ("mentor_id", "end_date", "status", "is_apprentice", "is_dual_registered")


def _loaded(query: Select) -> Select:
    return query.options(
        selectinload(Enrolment.learner),
        selectinload(Enrolment.programme),
        selectinload(Enrolment.mentor),
    )


def list_enrolments(
    user: User,
    *,
    programme_id: int | None = None,
    mentor_id: int | None = None,
    learner_id: int | None = None,
    status: EnrolmentStatus | None = None,
) -> Select[tuple[Enrolment]]:
    query = _loaded(scope.visible_enrolments(user)).order_by(Enrolment.id)
    for column, value in (
        (Enrolment.programme_id, programme_id),
        (Enrolment.mentor_id, mentor_id),
        (Enrolment.learner_id, learner_id),
        (Enrolment.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def enrolment_for(user: User, enrolment_id: int) -> Enrolment:
    return scope.enrolment_for(user, enrolment_id)


def _check_mentor(errors: FieldErrors, mentor_id: int | None) -> None:
    if mentor_id is None:
        return
    mentor = db.session.get(User, mentor_id)
    # One answer for a user that does not exist and one that is not a mentor: which staff
    # ids exist is not the caller's to probe.
    if mentor is None or not (mentor.active and mentor.has_role(Role.TUTOR_MENTOR)):
        errors.add("mentor_id", f"User {mentor_id} is not an active tutor / mentor.")


def _check_end(errors: FieldErrors, start_date: date, end_date: date | None) -> None:
    if end_date is not None and end_date < start_date:
        errors.add("end_date", f"Must not be before the start date, {start_date:%d %B %Y}.")


def _learner_to_enrol(actor: User, values: dict[str, Any], errors: FieldErrors) -> Learner | None:
    """The learner a new enrolment is for: one ``actor`` may see already (any other id is
    answered exactly as an id no learner has, so ids cannot be probed), or one added with it."""
    new = values.get("learner")
    if new is not None:
        return learners.new_learner(new, errors, field="learner")
    learner = db.session.scalars(
        learners.visible_learners(actor).where(Learner.id == values["learner_id"])
    ).one_or_none()
    if learner is None:
        # Enrolling a learner outside the actor's scope would bring them (their address and
        # contacts) into it: "not yet enrolled" and "another programme's" are not theirs.
        errors.add("learner_id", f"There is no learner {values['learner_id']}.")
    return learner


def create_enrolment(actor: User, values: dict[str, Any]) -> Enrolment:
    """Enrol a learner the actor may see (``learner_id``), or one added in the same
    transaction (``learner``: the fields of a new learner); the academic year is the start
    date's."""
    programme = programme_to_administer(actor, values["programme_id"])
    errors = FieldErrors()
    learner = _learner_to_enrol(actor, values, errors)
    _check_mentor(errors, values.get("mentor_id"))
    _check_end(errors, values["start_date"], values.get("end_date"))
    year = academic_year_of(values["start_date"])
    if learner is not None and learner.id is not None:
        taken = db.session.scalar(
            select(Enrolment.id).where(
                Enrolment.learner_id == learner.id,
                Enrolment.programme_id == programme.id,
                Enrolment.academic_year == year,
            )
        )
        if taken is not None:
            errors.add("learner_id", _duplicate(learner, programme, year, taken))
    errors.raise_any()
    assert learner is not None  # else an error above
    enrolment = Enrolment(
        learner=learner,
        programme=programme,
        academic_year=year,
        start_date=values["start_date"],
        end_date=values.get("end_date"),
        is_apprentice=values.get("is_apprentice", False),
        is_dual_registered=values.get("is_dual_registered", False),
        mentor_id=values.get("mentor_id"),
    )
    db.session.add(enrolment)
    if learner.id is None:  # a new learner: only its reference can have been taken meanwhile
        commit("learner", learners.ref_taken_message(learner.learner_ref))
    else:
        commit("learner_id", _duplicate(learner, programme, year))
    return enrolment


def _duplicate(learner: Learner, programme: Programme, year: int, taken: int | None = None) -> str:
    which = f" (enrolment {taken})" if taken is not None else ""
    return (
        f"Learner {learner.learner_ref} is already enrolled on {programme.code} in "
        f"{academic_year_label(year)}{which}."
    )


def _refuse_ending_an_open_case(enrolment: Enrolment, status: EnrolmentStatus) -> None:
    if status is EnrolmentStatus.ACTIVE:
        return
    case = db.session.scalars(
        select(Case).where(Case.enrolment_id == enrolment.id, Case.ended_at.is_(None))
    ).one_or_none()
    if case is None:
        return
    # Withdrawing is the case's own event where its stage allows it; otherwise end the case first.
    workflow = rules_of(case.policy).workflow
    withdrawals = [
        source
        for event, source, _target in enabled_transitions(
            {e: spec.from_stages for e, spec in workflow.events.items()}
        )
        if event is Event.WITHDRAW
    ]
    if status is EnrolmentStatus.WITHDRAWN and case.state in withdrawals:
        raise CaseOpen(
            f"Enrolment {enrolment.id} has an open case ({case.id}): withdraw the learner "
            f"with the case's 'withdraw' event, not by changing the enrolment's status.",
            case_id=case.id,
            event=Event.WITHDRAW.value,
        )
    where = ""
    if status is EnrolmentStatus.WITHDRAWN and withdrawals:
        stages = ", ".join(f"'{workflow.stage_name(s)}'" for s in withdrawals)
        where = (
            f" The case is at '{workflow.stage_name(case.state)}'; its policy withdraws a "
            f"learner only from {stages}."
        )
    raise CaseOpen(
        f"Enrolment {enrolment.id} has an open case ({case.id}): end it with the case's "
        f"'close' event before marking the enrolment {status.value}.{where}",
        case_id=case.id,
        event=Event.CLOSE.value,
    )


def update_enrolment(actor: User, enrolment_id: int, changes: dict[str, Any]) -> Enrolment:
    """Change the mentor, end date, status or flags (the learner, programme and start stay).
    Refused whole, with the case and event to use, if it would end an enrolment with an open
    case."""
    enrolment = enrolment_for(actor, enrolment_id)
    require_administers(actor, enrolment.programme_id)
    if "status" in changes:
        _refuse_ending_an_open_case(enrolment, changes["status"])
    errors = FieldErrors()
    if "mentor_id" in changes and changes["mentor_id"] != enrolment.mentor_id:
        _check_mentor(errors, changes["mentor_id"])
    if "end_date" in changes:
        _check_end(errors, enrolment.start_date, changes["end_date"])
    errors.raise_any()
    ended = "end_date" in changes and changes["end_date"] != enrolment.end_date
    apply(enrolment, changes, CHANGEABLE)
    if ended:  # marks after the end no longer count
        db.session.flush()
        refresh_tallies([enrolment.id])
    commit("_schema", "The enrolment changed while this was saved; try again.")
    return enrolment


def attendance(user: User, enrolment_id: int, as_at: date) -> dict[str, Any]:
    """The enrolment's figures as at the end of ``as_at``, judged by its programme's policy."""
    enrolment = enrolment_for(user, enrolment_id)
    rules = rules_of(enrolment.programme.policy)
    return {"enrolment_id": enrolment.id} | attendance_summary(rules, enrolment.id, as_at)
