"""Attendance figures, computed in the database by aggregate SQL.

Each counted mark falls in one category: possible = every category but not_counted; attended =
present + late + approved activity; attendance % = attended / possible. A late mark whose minutes
late run past the register's close counts as an unauthorised absence, and so does the statutory
`U` (arrived after the register closed): both are still arrivals, and not on time, so punctuality
% = on time (present) / arrivals (present + late + arrived after the close). Approved activity
off site is no arrival. The current absence period is the run of unauthorised absences after the
learner's last counted mark of any other kind (not-counted marks neither start nor break a run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from casework.extensions import db
from casework.models import CodeSet, Enrolment, Mark, MarkCategory, MarkCode, Session
from casework.sqlfuncs import date_of, minutes_between

C = MarkCategory
_PERIOD_CHUNK = 500  # enrolments per absence-period query
# Any counted mark other than an unauthorised absence ends an absence period.
_BREAKING = [c.value for c in (C.PRESENT, C.LATE, C.APPROVED_ACTIVITY, C.AUTHORISED)]
# The one code whose meaning is "arrived after the register closed" (minutes late or not).
_AFTER_CLOSE_CODE = (CodeSet.STATUTORY.value, "U")


@dataclass(frozen=True)
class AbsencePeriod:
    sessions: int
    first_mark_id: int
    started_at: datetime


@dataclass(frozen=True)
class AttendanceFigures:
    enrolment_id: int
    as_at: date
    present: int  # on time, in person
    late: int  # arrived late, before the register closed
    approved_activity: int
    authorised: int
    unauthorised: int  # includes arriving after the register closed
    not_counted: int
    after_close: int  # arrived after the register closed: counted in unauthorised too
    authorised_without_reason: int  # authorised, but no reason recorded
    absence_period: AbsencePeriod | None

    @property
    def unexplained(self) -> int:
        """Absences with no accepted explanation: unauthorised, or authorised with no reason
        recorded (what 003 section 4.3 calls unexplained absence)."""
        return self.unauthorised + self.authorised_without_reason

    @property
    def attended(self) -> int:
        return self.present + self.late + self.approved_activity

    @property
    def arrivals(self) -> int:
        return self.present + self.late + self.after_close

    @property
    def possible(self) -> int:
        return self.attended + self.authorised + self.unauthorised

    @property
    def sessions_missed(self) -> int:
        return self.authorised + self.unauthorised

    @property
    def attendance(self) -> Fraction | None:
        return Fraction(self.attended, self.possible) if self.possible else None

    @property
    def punctuality(self) -> Fraction | None:
        return Fraction(self.present, self.arrivals) if self.arrivals else None

    @property
    def attendance_percent(self) -> float | None:
        return None if self.attendance is None else float(self.attendance * 100)

    @property
    def punctuality_percent(self) -> float | None:
        return None if self.punctuality is None else float(self.punctuality * 100)

    def below(self, threshold_percent: float, *, inclusive: bool = False) -> bool:
        """Exact comparison with a policy threshold (no float rounding at 90%)."""
        if self.attendance is None:
            return False
        limit = Fraction(threshold_percent) / 100
        return self.attendance <= limit if inclusive else self.attendance < limit


def _past_close(minutes_late, close_minutes) -> ColumnElement:
    return and_(MarkCode.category == C.LATE.value, minutes_late > close_minutes)


def _after_close(minutes_late, close_minutes) -> ColumnElement:
    """1 for an arrival after the register closed: a late mark past the close, the statutory `U`,
    or any unauthorised mark that records how late the learner came; else 0."""
    code_set, code = _AFTER_CLOSE_CODE
    arrived = or_(
        _past_close(minutes_late, close_minutes),
        and_(
            MarkCode.category == C.UNAUTHORISED.value,
            or_(
                minutes_late.is_not(None),
                and_(MarkCode.code_set == code_set, MarkCode.code == code),
            ),
        ),
    )
    return case((arrived, 1), else_=0)


def counted_marks(as_at: date, since: date | None, enrolment_ids: Iterable[int] | None):
    """One row per mark in scope: enrolment, mark, session, its start, effective category,
    absence reason, evidence, and whether it was an arrival after the register closed."""
    session = (
        select(
            Session.id,
            Session.starts_at,
            minutes_between(Session.starts_at, Session.register_closes_at).label("close_minutes"),
        )
        .where(Session.starts_at < datetime.combine(as_at + timedelta(days=1), time.min))
        .subquery("s")
    )
    close = session.c.close_minutes
    category = case(
        (_past_close(Mark.minutes_late, close), literal(C.UNAUTHORISED.value)),
        else_=MarkCode.category,
    )
    day = date_of(session.c.starts_at)
    query = (
        select(
            Mark.enrolment_id,
            Mark.id.label("mark_id"),
            session.c.id.label("session_id"),
            session.c.starts_at,
            category.label("category"),
            Mark.absence_reason.label("reason"),
            Mark.evidence_ref.label("evidence"),
            _after_close(Mark.minutes_late, close).label("after_close"),
        )
        .join(session, session.c.id == Mark.session_id)
        .join(MarkCode, MarkCode.id == Mark.code_id)
        .join(Enrolment, Enrolment.id == Mark.enrolment_id)
        .where(day >= Enrolment.start_date)
        .where(or_(Enrolment.end_date.is_(None), day <= Enrolment.end_date))
    )
    if since is not None:
        query = query.where(session.c.starts_at >= datetime.combine(since, time.min))
    if enrolment_ids is not None:
        query = query.where(Mark.enrolment_id.in_(list(enrolment_ids)))
    return query


def _count(category_column, *categories: MarkCategory):
    return func.coalesce(
        func.sum(case((category_column.in_([c.value for c in categories]), 1), else_=0)), 0
    )


def attendance_figures(
    as_at: date, *, since: date | None = None, enrolment_ids: Iterable[int] | None = None
) -> dict[int, AttendanceFigures]:
    """Figures for the given enrolments (every enrolment when None), as at the end of ``as_at``.

    ``since`` starts the window (a policy's rolling window); by default the whole enrolment counts.
    Enrolments without a counted mark get all-zero figures.
    """
    ids = None if enrolment_ids is None else sorted(set(enrolment_ids))
    marks = counted_marks(as_at, since, ids).subquery("m")
    cat = marks.c.category
    totals = select(
        marks.c.enrolment_id,
        _count(cat, C.PRESENT),
        _count(cat, C.LATE),
        _count(cat, C.APPROVED_ACTIVITY),
        _count(cat, C.AUTHORISED),
        _count(cat, C.UNAUTHORISED),
        _count(cat, C.NOT_COUNTED),
        func.coalesce(func.sum(marks.c.after_close), 0),
        func.coalesce(
            func.sum(case((and_(cat == C.AUTHORISED.value, marks.c.reason.is_(None)), 1), else_=0)),
            0,
        ),
        func.max(case((cat.in_(_BREAKING), marks.c.starts_at))),
        func.max(case((cat == C.UNAUTHORISED.value, marks.c.starts_at))),
    ).group_by(marks.c.enrolment_id)

    counts: dict[int, tuple[int, ...]] = {}
    open_periods: list[int] = []
    for enrolment_id, *numbers, last_break, last_unauthorised in db.session.execute(totals):
        counts[enrolment_id] = tuple(numbers)
        if last_unauthorised is not None and (last_break is None or last_unauthorised > last_break):
            open_periods.append(enrolment_id)

    periods = dict(_absence_periods(as_at, since, open_periods))
    if ids is None:
        ids = list(db.session.scalars(select(Enrolment.id)))
    zero = (0, 0, 0, 0, 0, 0, 0, 0)
    return {
        eid: AttendanceFigures(eid, as_at, *counts.get(eid, zero), periods.get(eid)) for eid in ids
    }


def figures_for(enrolment_id: int, as_at: date, *, since: date | None = None) -> AttendanceFigures:
    return attendance_figures(as_at, since=since, enrolment_ids=[enrolment_id])[enrolment_id]


def _absence_periods(
    as_at: date, since: date | None, ids: list[int]
) -> Iterator[tuple[int, AbsencePeriod]]:
    """The current absence period of each enrolment known to have one (a small minority)."""
    for start in range(0, len(ids), _PERIOD_CHUNK):
        marks = counted_marks(as_at, since, ids[start : start + _PERIOD_CHUNK]).subquery("m")
        by_enrolment = {"partition_by": marks.c.enrolment_id}
        with_break = select(
            marks,
            func.max(case((marks.c.category.in_(_BREAKING), marks.c.starts_at)))
            .over(**by_enrolment)
            .label("last_break"),
        ).subquery("b")
        in_period = (
            select(with_break)
            .where(with_break.c.category == C.UNAUTHORISED.value)
            .where(
                or_(
                    with_break.c.last_break.is_(None),
                    with_break.c.starts_at > with_break.c.last_break,
                )
            )
            .subquery("p")
        )
        ranked = select(
            in_period.c.enrolment_id,
            func.count().over(partition_by=in_period.c.enrolment_id).label("sessions"),
            in_period.c.mark_id,
            in_period.c.starts_at,
            func.row_number()
            .over(
                partition_by=in_period.c.enrolment_id,
                order_by=(in_period.c.starts_at, in_period.c.session_id),
            )
            .label("position"),
        ).subquery("r")
        first = select(
            ranked.c.enrolment_id, ranked.c.sessions, ranked.c.mark_id, ranked.c.starts_at
        ).where(ranked.c.position == 1)
        for eid, sessions, mark_id, started_at in db.session.execute(first):
            yield eid, AbsencePeriod(sessions, mark_id, started_at)
