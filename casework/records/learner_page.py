"""What a learner's page shows, read within the reader's scope: the learner, their enrolments
the reader may see (each with its open case, figures judged by its policy and weekly trend) and
their marks, most recent first. A handful of queries however many marks there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from casework import scope
from casework.extensions import db
from casework.models import Case, Enrolment, Learner, Mark, Programme, Session, User
from casework.policies.rules import rules_of
from casework.records.common import administers
from casework.records.learners import learner_for, list_learners, visible_learners
from casework.registers.thresholds import attendance_summary, window_start
from casework.registers.weekly import WeekFigures, weekly_attendance

RECENT_MARKS = 20


def search_learners(user: User, text: str | None) -> Select[tuple[Learner]]:
    """Learners ``user`` may see whose name holds ``text`` or whose reference starts with it."""
    query = list_learners(user, q=None)
    text = (text or "").strip()
    if not text:
        return query
    by_name = list_learners(user, q=text).with_only_columns(Learner.id)
    by_ref = visible_learners(user).with_only_columns(Learner.id)
    by_ref = by_ref.where(func.lower(Learner.learner_ref).startswith(text.lower(), autoescape=True))
    return query.where(or_(Learner.id.in_(by_name), Learner.id.in_(by_ref)))


def learner_rows(user: User, text: str | None, page: int, per_page: int) -> tuple[list, int]:
    """One page of the search, each learner with the enrolments ``user`` may see, and the
    number of learners found."""
    query = search_learners(user, text)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    learners = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page)).all()
    visible = scope.visible_enrolments(user).with_only_columns(Enrolment.id)
    enrolments: dict[int, list[Enrolment]] = {learner.id: [] for learner in learners}
    if learners:
        for enrolment in db.session.scalars(
            select(Enrolment)
            .where(Enrolment.learner_id.in_(list(enrolments)), Enrolment.id.in_(visible))
            .options(selectinload(Enrolment.programme))
            .order_by(Enrolment.start_date.desc(), Enrolment.id)
        ):
            enrolments[enrolment.learner_id].append(enrolment)
    return [(learner, enrolments[learner.id]) for learner in learners], total or 0


@dataclass
class EnrolmentView:
    enrolment: Enrolment
    case: Case | None  # the open case
    circumstances: str | None  # the case's, where the reader may see them
    circumstances_hidden: bool  # there are some the reader may not see
    attendance: dict[str, Any]
    threshold_percent: float
    target_percent: float
    weeks: list[WeekFigures]
    keeps_registers: bool


@dataclass
class LearnerPage:
    learner: Learner
    enrolments: list[EnrolmentView]
    marks: list[Mark]
    marks_total: int
    all_marks: bool
    # marks' ids that the reader may correct
    correctable: set[int]


def learner_page(user: User, learner_id: int, today: date, *, all_marks: bool) -> LearnerPage:
    learner = db.session.scalars(
        select(Learner)
        .where(Learner.id == learner_for(user, learner_id).id)
        .options(selectinload(Learner.contacts))
    ).one()
    enrolments = db.session.scalars(
        scope.visible_enrolments(user)
        .where(Enrolment.learner_id == learner.id)
        .options(
            selectinload(Enrolment.programme).selectinload(Programme.policy),
            selectinload(Enrolment.mentor),
        )
        .order_by(Enrolment.start_date.desc(), Enrolment.id)
    ).all()
    ids = [e.id for e in enrolments]
    cases = {
        case.enrolment_id: case
        for case in db.session.scalars(
            select(Case).where(Case.enrolment_id.in_(ids), Case.ended_at.is_(None))
        )
    }
    views = []
    for enrolment in enrolments:
        rules = rules_of(enrolment.programme.policy)
        weeks = weekly_attendance([enrolment.id], today, since=window_start(rules, today))
        case = cases.get(enrolment.id)
        entitled = case is not None and scope.may_see_circumstances(user, case)
        views.append(
            EnrolmentView(
                enrolment=enrolment,
                case=case,
                circumstances=case.circumstances if entitled and case else None,
                circumstances_hidden=bool(case and case.circumstances and not entitled),
                attendance=attendance_summary(rules, enrolment.id, today),
                threshold_percent=rules.attendance.threshold_percent,
                target_percent=rules.attendance.target_percent,
                weeks=weeks[enrolment.id],
                keeps_registers=administers(user, enrolment.programme_id),
            )
        )
    marks_query = (
        select(Mark)
        .join(Mark.session)
        .where(Mark.enrolment_id.in_(ids))
        .order_by(Session.starts_at.desc(), Mark.id.desc())
        .options(selectinload(Mark.session), selectinload(Mark.code))
    )
    total = db.session.scalar(
        select(func.count()).select_from(Mark).where(Mark.enrolment_id.in_(ids))
    )
    if not all_marks:
        marks_query = marks_query.limit(RECENT_MARKS)
    marks = db.session.scalars(marks_query).all() if ids else []
    kept = {v.enrolment.id for v in views if v.keeps_registers}
    return LearnerPage(
        learner=learner,
        enrolments=views,
        marks=list(marks),
        marks_total=total or 0,
        all_marks=all_marks or (total or 0) <= RECENT_MARKS,
        correctable={m.id for m in marks if m.enrolment_id in kept},
    )
