"""The overview page's data: every programme, its policy, and its learners' attendance.

Plain data for the template, never ORM objects. A fixed handful of queries whatever the number of
learners: the programmes with their policies, the active enrolments with their learners, and the
attendance figures of all of them at once (one call per distinct policy window).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy import select

from casework.extensions import db
from casework.models import Enrolment, EnrolmentStatus, Learner, Policy, Programme
from casework.registers.figures import AttendanceFigures, attendance_figures


@dataclass(frozen=True)
class LearnerAttendance:
    enrolment_id: int
    learner_ref: str
    name: str
    age: int
    under_18: bool
    is_apprentice: bool
    is_dual_registered: bool
    possible: int
    attendance_percent: float | None
    punctuality_percent: float | None
    attendance_text: str  # "87.5%", never rounded up past the real figure; "none yet" without
    punctuality_text: str
    sessions_missed: int
    absence_period_sessions: int  # the current run of unauthorised absences; 0 if none
    absence_period_started: datetime | None
    evaluated: bool  # has the policy's minimum number of possible sessions
    below_threshold: bool

    @property
    def flags(self) -> list[str]:
        return [
            label
            for label, on in (
                ("Under 18", self.under_18),
                ("Apprentice", self.is_apprentice),
                ("Dual registered", self.is_dual_registered),
            )
            if on
        ]


@dataclass(frozen=True)
class ProgrammeOverview:
    programme_id: int
    code: str
    title: str
    policy_key: str
    provider: str
    policy_title: str
    threshold_percent: float
    threshold_inclusive: bool  # "at_or_below": a learner exactly at the threshold is below it
    minimum_sessions: int
    learners: tuple[LearnerAttendance, ...]  # lowest attendance first

    @property
    def threshold_text(self) -> str:
        words = "at or below" if self.threshold_inclusive else "below"
        return f"{words} {self.threshold_percent:g}%"

    @property
    def below_threshold(self) -> int:
        return sum(learner.below_threshold for learner in self.learners)


def percent_text(value: Fraction | None) -> str:
    """A share as a percentage to one decimal place, truncated: 89.96% shows as 89.9%, not 90.0%."""
    if value is None:
        return "none yet"
    tenths = floor(value * 1000)
    return f"{tenths // 10}.{tenths % 10}%"


def _window_start(document: dict[str, Any], as_at: date) -> date | None:
    """Where the policy's attendance window starts; None: the whole enrolment (one year)."""
    attendance = document.get("attendance", {})
    if attendance.get("window") == "rolling_weeks" and attendance.get("window_weeks"):
        return as_at - timedelta(weeks=attendance["window_weeks"]) + timedelta(days=1)
    return None


def _sort_key(row: LearnerAttendance) -> tuple[bool, float, str]:
    if row.attendance_percent is None:
        return (True, 0.0, row.name)
    return (False, row.attendance_percent, row.name)


def _row(
    enrolment: Enrolment, learner: Learner, figures: AttendanceFigures, programme: ProgrammeOverview
) -> LearnerAttendance:
    age = learner.age_on(figures.as_at)
    evaluated = figures.possible >= programme.minimum_sessions
    period = figures.absence_period
    return LearnerAttendance(
        enrolment_id=enrolment.id,
        learner_ref=learner.learner_ref,
        name=learner.full_name,
        age=age,
        under_18=age < 18,
        is_apprentice=enrolment.is_apprentice,
        is_dual_registered=enrolment.is_dual_registered,
        possible=figures.possible,
        attendance_percent=figures.attendance_percent,
        punctuality_percent=figures.punctuality_percent,
        attendance_text=percent_text(figures.attendance),
        punctuality_text=percent_text(figures.punctuality),
        sessions_missed=figures.sessions_missed,
        absence_period_sessions=period.sessions if period else 0,
        absence_period_started=period.started_at if period else None,
        evaluated=evaluated,
        below_threshold=evaluated
        and figures.below(programme.threshold_percent, inclusive=programme.threshold_inclusive),
    )


def programme_overview(as_at: date) -> list[ProgrammeOverview]:
    """Each programme (by title) with its active learners' attendance as at the end of ``as_at``."""
    programmes: dict[int, ProgrammeOverview] = {}
    windows: dict[int, date | None] = {}
    for programme, policy in db.session.execute(
        select(Programme, Policy).join(Policy).order_by(Programme.title, Programme.code)
    ):
        programmes[programme.id] = ProgrammeOverview(
            programme_id=programme.id,
            code=programme.code,
            title=programme.title,
            policy_key=policy.key,
            provider=policy.provider,
            policy_title=policy.title,
            threshold_percent=policy.threshold_percent,
            threshold_inclusive=policy.threshold_inclusive,
            minimum_sessions=policy.minimum_sessions,
            learners=(),
        )
        windows[programme.id] = _window_start(policy.document, as_at)

    enrolments = db.session.execute(
        select(Enrolment, Learner)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .where(Enrolment.status == EnrolmentStatus.ACTIVE)
    ).all()
    by_window: dict[date | None, list[int]] = defaultdict(list)
    for enrolment, _learner in enrolments:
        by_window[windows[enrolment.programme_id]].append(enrolment.id)
    figures: dict[int, AttendanceFigures] = {}
    for since, ids in by_window.items():
        figures.update(attendance_figures(as_at, since=since, enrolment_ids=ids))

    rows: dict[int, list[LearnerAttendance]] = defaultdict(list)
    for enrolment, learner in enrolments:
        programme = programmes[enrolment.programme_id]
        rows[programme.programme_id].append(
            _row(enrolment, learner, figures[enrolment.id], programme)
        )
    return [
        replace(programme, learners=tuple(sorted(rows[programme.programme_id], key=_sort_key)))
        for programme in programmes.values()
    ]


__all__ = ["LearnerAttendance", "ProgrammeOverview", "percent_text", "programme_overview"]
