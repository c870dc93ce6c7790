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
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, literal, or_, select
from sqlalchemy.sql import ColumnElement, Subquery
from sqlalchemy.sql.functions import FunctionElement

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
    return _marks(
        _end_of(as_at),
        None if since is None else _start_of(since),
        None if enrolment_ids is None else Mark.enrolment_id.in_(list(enrolment_ids)),
    )


def marks_written_by(import_id: int, session_ids: list[int]) -> Select:
    """``counted_marks`` rows, whatever their date, of the marks this import wrote (inserted or
    changed) on these sessions: read by session, so a day's import reads the day's marks."""
    return _marks(None, None, Mark.session_id.in_(session_ids)).where(Mark.import_id == import_id)


def _end_of(as_at: date) -> datetime:
    return datetime.combine(as_at + timedelta(days=1), time.min)


def _start_of(since: date) -> datetime:
    return datetime.combine(since, time.min)


def _marks(before: Any | None, start: Any | None, enrolments: ColumnElement[bool] | None) -> Select:
    """``counted_marks`` for sessions starting before ``before`` (None: any time; and from
    ``start``), of the enrolments ``enrolments`` picks: values or bound parameters."""
    session = select(
        Session.id,
        Session.starts_at,
        minutes_between(Session.starts_at, Session.register_closes_at).label("close_minutes"),
    )
    if before is not None:
        session = session.where(Session.starts_at < before)
    session = session.subquery("s")
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
    if start is not None:
        query = query.where(session.c.starts_at >= start)
    if enrolments is not None:
        query = query.where(enrolments)
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
    counts, open_periods = _read_totals(
        db.session.execute(_totals(counted_marks(as_at, since, ids)))
    )
    periods = dict(_absence_periods(as_at, since, open_periods))
    if ids is None:
        ids = list(db.session.scalars(select(Enrolment.id)))
    return {eid: _figures(eid, as_at, counts, periods) for eid in ids}


def figures_for(enrolment_id: int, as_at: date, *, since: date | None = None) -> AttendanceFigures:
    """One enrolment's figures (a case's, a letter's): ``attendance_figures`` for it alone, from
    statements built once (building one costs more than running it on one enrolment's marks)."""
    totals, period = _one_enrolment(since is not None)
    params = {"enrolment_id": enrolment_id, "before": _end_of(as_at)}
    if since is not None:
        params["start"] = _start_of(since)
    counts, open_periods = _read_totals(db.session.execute(totals, params))
    periods = {
        eid: AbsencePeriod(sessions, mark_id, started_at)
        for eid, sessions, mark_id, started_at in (
            db.session.execute(period, params) if open_periods else ()
        )
    }
    return _figures(enrolment_id, as_at, counts, periods)


@cache
def _one_enrolment(windowed: bool) -> tuple[Select, Select]:
    """``figures_for``'s statements (totals, then the absence period), with the enrolment and
    the dates as bound parameters: the same SQL as ``attendance_figures`` gives one enrolment."""
    marks = _marks(
        bindparam("before"),
        bindparam("start") if windowed else None,
        Mark.enrolment_id == bindparam("enrolment_id"),
    )
    return _totals(marks), _first_of_period(marks)


def _totals(query: Select, *extra: Any) -> Select:
    """Per enrolment: the counts, then the last breaking and the last unauthorised session
    start (see ``_read_totals``), then ``extra(marks)`` for each of ``extra``."""
    marks = query.subquery("m")
    cat = marks.c.category
    return select(
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
        *(column(marks) for column in extra),
    ).group_by(marks.c.enrolment_id)


def _read_totals(rows: Iterable[Any]) -> tuple[dict[int, tuple[int, ...]], list[int]]:
    """Each enrolment's counts, and the enrolments whose last counted marks are an absence
    period (unauthorised absences after the last mark of any other kind)."""
    counts: dict[int, tuple[int, ...]] = {}
    open_periods: list[int] = []
    for enrolment_id, *numbers, last_break, last_unauthorised in rows:
        counts[enrolment_id] = tuple(numbers)
        if _in_period(last_break, last_unauthorised):
            open_periods.append(enrolment_id)
    return counts, open_periods


def _in_period(last_break: Any, last_unauthorised: Any) -> bool:
    return last_unauthorised is not None and (last_break is None or last_unauthorised > last_break)


@dataclass(frozen=True)
class Recount:
    """An enrolment's counts (in ``AttendanceFigures`` order), absence period and latest counted
    session start, over every mark from a window's start on."""

    counts: tuple[int, ...]
    period: AbsencePeriod | None
    latest: datetime | None
    # Unevidenced illness absences that follow another (counted marks in order): an illness
    # run needing a medical certificate has at least one.
    illness_pairs: int
    # Whether the last counted mark (not-counted ones aside) is an unevidenced illness absence:
    # what a mark appended after it needs to carry ``illness_pairs`` on (see folding).
    ends_ill: bool

    def figures(self, enrolment_id: int, as_at: date) -> AttendanceFigures:
        """The figures as at ``as_at``: the same as ``attendance_figures`` from the window's
        start when no counted session starts after ``as_at``."""
        return AttendanceFigures(enrolment_id, as_at, *self.counts, self.period)


def recount(since: date, enrolment_ids: list[int], *, scan_all: bool = False) -> dict[int, Recount]:
    """Each enrolment's marks from ``since`` on, whatever their date, by the figures' SQL;
    ``scan_all`` reads every enrolment's marks in one pass instead of looking these up (faster
    for most of them)."""
    start = _start_of(since)
    marks = _marks(None, start, None if scan_all else Mark.enrolment_id.in_(enrolment_ids))
    counts: dict[int, tuple[int, ...]] = {}
    latest: dict[int, datetime] = {}
    open_periods: list[int] = []
    ill: list[int] = []
    totals = _totals(
        marks,
        lambda m: func.max(m.c.starts_at),
        _unevidenced_illness,
        lambda m: func.max(case((_unevidenced(m), m.c.starts_at))),
        lambda m: func.max(case((m.c.category != C.NOT_COUNTED.value, m.c.starts_at))),
    )
    for row in db.session.execute(totals):
        eid, *numbers, last_break, last_unauthorised, last, illness, last_ill, last_counted = row
        counts[eid], latest[eid] = tuple(numbers), last
        # Two such marks have a pair to count; one at the last counted start may end the marks
        # (a few: the window query below says).
        if illness > 1 or (last_ill is not None and last_ill == last_counted):
            ill.append(eid)
        if _in_period(last_break, last_unauthorised):
            open_periods.append(eid)
    periods: dict[int, AbsencePeriod] = {}
    wanted = set(enrolment_ids)
    open_periods = [eid for eid in open_periods if eid in wanted]
    for first in range(0, len(open_periods), _PERIOD_CHUNK):
        chunk = open_periods[first : first + _PERIOD_CHUNK]
        query = _first_of_period(_marks(None, start, Mark.enrolment_id.in_(chunk)))
        for eid, sessions, mark_id, started_at in db.session.execute(query):
            periods[eid] = AbsencePeriod(sessions, mark_id, started_at)
    pairs: dict[int, int] = {}
    ends_ill: set[int] = set()
    ill = [eid for eid in ill if eid in wanted]
    for first in range(0, len(ill), _PERIOD_CHUNK):
        chunk = ill[first : first + _PERIOD_CHUNK]
        query = _illness_pairs(_marks(None, start, Mark.enrolment_id.in_(chunk)))
        for eid, n, ends in db.session.execute(query):
            pairs[eid] = n
            if ends:
                ends_ill.add(eid)
    return {
        eid: Recount(
            counts.get(eid, _ZERO),
            periods.get(eid),
            latest.get(eid),
            pairs.get(eid, 0),
            eid in ends_ill,
        )
        for eid in enrolment_ids
    }


def _illness_pairs(query: Select) -> Select:
    """Per enrolment: its unevidenced illness absences whose previous counted mark is one too,
    and whether its last counted mark is one (1 or 0)."""
    marks = query.subquery("m")
    ill = case((_unevidenced(marks), 1), else_=0)
    # Counted from the end too: whether the last counted mark is one.
    from_end = func.row_number().over(
        partition_by=marks.c.enrolment_id,
        order_by=(marks.c.starts_at.desc(), marks.c.session_id.desc()),
    )
    flagged = in_session_order(
        marks,
        marks.c.enrolment_id,
        ill.label("ill"),
        from_end.label("from_end"),
        before=func.lag(ill),
    ).subquery("f")
    both = and_(flagged.c.ill == 1, flagged.c.before == 1)
    last = and_(flagged.c.ill == 1, flagged.c.from_end == 1)
    return select(
        flagged.c.enrolment_id,
        func.sum(case((both, 1), else_=0)),
        func.max(case((last, 1), else_=0)),
    ).group_by(flagged.c.enrolment_id)


def in_session_order(marks: Subquery, *columns: Any, **windowed: FunctionElement) -> Select:
    """``columns`` of the counted marks of ``marks`` (a ``counted_marks`` subquery), then each
    of ``windowed`` (label: window function) over each enrolment's counted marks in session
    order. Not-counted marks are left out: they neither start nor break a run."""
    window = {
        "partition_by": marks.c.enrolment_id,
        "order_by": (marks.c.starts_at, marks.c.session_id),
    }
    return select(
        *columns, *(function.over(**window).label(name) for name, function in windowed.items())
    ).where(marks.c.category != C.NOT_COUNTED.value)


def illness_absence(marks: Subquery) -> ColumnElement[bool]:
    """An authorised absence for illness (evidenced or not), in a ``counted_marks`` subquery."""
    return and_(marks.c.category == C.AUTHORISED.value, marks.c.reason == "illness")


def _unevidenced(marks: Subquery) -> ColumnElement[bool]:
    return and_(illness_absence(marks), marks.c.evidence.is_(None))


def _unevidenced_illness(marks: Subquery) -> ColumnElement:
    return func.coalesce(func.sum(case((_unevidenced(marks), 1), else_=0)), 0)


_ZERO = (0, 0, 0, 0, 0, 0, 0, 0)


def _figures(
    eid: int,
    as_at: date,
    counts: dict[int, tuple[int, ...]],
    periods: dict[int, AbsencePeriod],
) -> AttendanceFigures:
    return AttendanceFigures(eid, as_at, *counts.get(eid, _ZERO), periods.get(eid))


def _absence_periods(
    as_at: date, since: date | None, ids: list[int]
) -> Iterator[tuple[int, AbsencePeriod]]:
    """The current absence period of each enrolment known to have one (a small minority)."""
    for start in range(0, len(ids), _PERIOD_CHUNK):
        query = _first_of_period(counted_marks(as_at, since, ids[start : start + _PERIOD_CHUNK]))
        for eid, sessions, mark_id, started_at in db.session.execute(query):
            yield eid, AbsencePeriod(sessions, mark_id, started_at)


def _first_of_period(query: Select) -> Select:
    """Per enrolment: the sessions of its current absence period, and its first mark and start."""
    marks = query.subquery("m")
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
    return select(
        ranked.c.enrolment_id, ranked.c.sessions, ranked.c.mark_id, ranked.c.starts_at
    ).where(ranked.c.position == 1)
