"""Hypothesis: the SQL figures agree with a plain Python count of the same marks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework.models import MarkCategory
from casework.registers.figures import figures_for

# (code, minutes late) -> category, with the register closing 30 minutes after the start.
FE_CODES = ["P", "L", "A", "U", "N", "X", "E"]
CATEGORY = {
    "P": MarkCategory.PRESENT,
    "L": MarkCategory.LATE,
    "A": MarkCategory.AUTHORISED,
    "U": MarkCategory.UNAUTHORISED,
    "N": MarkCategory.UNAUTHORISED,
    "X": MarkCategory.NOT_COUNTED,
    "E": MarkCategory.APPROVED_ACTIVITY,
}

mark_strategy = st.tuples(
    st.sampled_from(FE_CODES),
    st.integers(min_value=1, max_value=90),  # minutes late, used for L only
    st.integers(min_value=0, max_value=3),  # gap in days before this session
)


def python_count(register: list[tuple[str, int]]) -> dict:
    counts = {c: 0 for c in MarkCategory}
    period: list[int] = []
    for index, (code, minutes) in enumerate(register):
        category = CATEGORY[code]
        if category is MarkCategory.LATE and minutes > 30:
            category = MarkCategory.UNAUTHORISED
        counts[category] += 1
        if category is MarkCategory.UNAUTHORISED:
            period.append(index)
        elif category is not MarkCategory.NOT_COUNTED:
            period = []
    return {"counts": counts, "period": period}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(register=st.lists(mark_strategy, max_size=30), as_at_offset=st.integers(0, 120))
def test_sql_figures_match_a_python_count(make, register, as_at_offset):
    # Each example gets its own programme and enrolment, so examples never see each other's rows.
    enrolment = make.enrolment(start_date=date(2026, 9, 1))
    moment = datetime(2026, 9, 7, 9, 0)
    marks = []
    for code, minutes, gap in register:
        moment += timedelta(days=gap, minutes=1)
        session = make.session(enrolment.programme, moment)
        marks.append(
            make.mark(enrolment, session, code, minutes_late=minutes if code == "L" else None)
        )
    as_at = date(2026, 9, 7) + timedelta(days=as_at_offset)
    in_scope = [
        (code, minutes)
        for (code, minutes, _), mark in zip(register, marks, strict=True)
        if mark.session.starts_at.date() <= as_at
    ]
    expected = python_count(in_scope)
    figures = figures_for(enrolment.id, as_at)

    counts = expected["counts"]
    assert figures.present == counts[MarkCategory.PRESENT]
    assert figures.late == counts[MarkCategory.LATE]
    assert figures.approved_activity == counts[MarkCategory.APPROVED_ACTIVITY]
    assert figures.authorised == counts[MarkCategory.AUTHORISED]
    assert figures.unauthorised == counts[MarkCategory.UNAUTHORISED]
    assert figures.not_counted == counts[MarkCategory.NOT_COUNTED]
    possible = sum(n for c, n in counts.items() if c.possible)
    attended = sum(n for c, n in counts.items() if c.attended)
    assert (figures.possible, figures.attended) == (possible, attended)
    if possible:
        assert figures.attendance_percent == attended * 100 / possible
    if expected["period"]:
        assert figures.absence_period is not None
        assert figures.absence_period.sessions == len(expected["period"])
        assert figures.absence_period.first_mark_id == marks[expected["period"][0]].id
    else:
        assert figures.absence_period is None
