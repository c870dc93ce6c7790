"""Attendance week by week: the trend behind an enrolment's figures.

One query counts each day's attended and possible sessions (the same counted marks and
categories as casework.registers.figures, so a week's figures add up to the summary's); the days
are then gathered into teaching weeks (Monday to Sunday) here. A week without a counted session
(a holiday) is no teaching week and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from sqlalchemy import case, func, select

from casework.extensions import db
from casework.models import MarkCategory
from casework.registers.figures import counted_marks
from casework.sqlfuncs import date_of

C = MarkCategory
_ATTENDED = [c.value for c in (C.PRESENT, C.LATE, C.APPROVED_ACTIVITY)]
_POSSIBLE = [*_ATTENDED, C.AUTHORISED.value, C.UNAUTHORISED.value]


@dataclass(frozen=True)
class WeekFigures:
    week_start: date  # the Monday
    attended: int
    possible: int

    @property
    def percent(self) -> float:
        return float(Fraction(self.attended, self.possible) * 100)


def weekly_attendance(
    enrolment_ids: list[int], as_at: date, *, since: date | None = None
) -> dict[int, list[WeekFigures]]:
    """Each enrolment's teaching weeks, oldest first, as at the end of ``as_at``."""
    if not enrolment_ids:
        return {}
    marks = counted_marks(as_at, since, enrolment_ids).subquery("m")
    day = date_of(marks.c.starts_at).label("day")
    per_day = select(
        marks.c.enrolment_id,
        day,
        func.sum(case((marks.c.category.in_(_ATTENDED), 1), else_=0)),
        func.sum(case((marks.c.category.in_(_POSSIBLE), 1), else_=0)),
    ).group_by(marks.c.enrolment_id, day)
    weeks: dict[int, dict[date, list[int]]] = {eid: {} for eid in enrolment_ids}
    for enrolment_id, on, attended, possible in db.session.execute(per_day):
        on = on if isinstance(on, date) else date.fromisoformat(on)  # SQLite gives text
        monday = on - timedelta(days=on.weekday())
        totals = weeks[enrolment_id].setdefault(monday, [0, 0])
        totals[0] += int(attended or 0)
        totals[1] += int(possible or 0)
    return {
        eid: [
            WeekFigures(monday, attended, possible)
            for monday, (attended, possible) in sorted(by_week.items())
            if possible
        ]
        for eid, by_week in weeks.items()
    }
