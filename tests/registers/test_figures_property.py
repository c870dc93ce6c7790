"""Hypothesis: the SQL figures agree with a plain Python count of the same marks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework.models import MarkCategory
from casework.registers.figures import figures_for

C = MarkCategory
# Each code set's codes (a sample of the statutory ones) and their categories; the register closes
# 30 minutes after the start.
CODE_SETS = {
    "003-green-labyrinth": {
        "P": C.PRESENT,
        "L": C.LATE,
        "A": C.AUTHORISED,
        "U": C.UNAUTHORISED,
        "N": C.UNAUTHORISED,
        "X": C.NOT_COUNTED,
        "E": C.APPROVED_ACTIVITY,
    },
    "004-nxt-gen": {
        "/": C.PRESENT,
        "L": C.LATE,
        "I": C.AUTHORISED,
        "U": C.UNAUTHORISED,  # arrived after the register closed
        "O": C.UNAUTHORISED,
        "D": C.NOT_COUNTED,
        "K": C.APPROVED_ACTIVITY,
    },
}
STATUTORY_AFTER_CLOSE = "U"

mark_strategy = st.tuples(
    st.integers(min_value=0, max_value=6),  # which of the code set's codes
    st.none() | st.integers(min_value=1, max_value=90),  # minutes late, kept for L and U only
    st.integers(min_value=0, max_value=3),  # gap in days before this session
)


def python_count(policy: str, register: list[tuple[str, int | None]]) -> dict:
    counts = {c: 0 for c in MarkCategory}
    after_close = 0
    period: list[int] = []
    for index, (code, minutes) in enumerate(register):
        category = CODE_SETS[policy][code]
        if category is C.LATE and minutes is not None and minutes > 30:
            category = C.UNAUTHORISED
            after_close += 1
        elif category is C.UNAUTHORISED and (
            minutes is not None or (policy == "004-nxt-gen" and code == STATUTORY_AFTER_CLOSE)
        ):
            after_close += 1
        counts[category] += 1
        if category is MarkCategory.UNAUTHORISED:
            period.append(index)
        elif category is not MarkCategory.NOT_COUNTED:
            period = []
    return {"counts": counts, "after_close": after_close, "period": period}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    policy=st.sampled_from(sorted(CODE_SETS)),
    drawn=st.lists(mark_strategy, max_size=30),
    as_at_offset=st.integers(0, 120),
)
def test_sql_figures_match_a_python_count(make, policy, drawn, as_at_offset):
    codes = sorted(CODE_SETS[policy])
    register = [
        (codes[n], minutes if codes[n] in ("L", "U") else None, gap) for n, minutes, gap in drawn
    ]
    # Each example gets its own programme and enrolment, so examples never see each other's rows.
    enrolment = make.enrolment(programme=make.programme(policy), start_date=date(2026, 9, 1))
    moment = datetime(2026, 9, 7, 9, 0)
    marks = []
    for code, minutes, gap in register:
        moment += timedelta(days=gap, minutes=1)
        session = make.session(enrolment.programme, moment)
        marks.append(make.mark(enrolment, session, code, minutes_late=minutes))
    as_at = date(2026, 9, 7) + timedelta(days=as_at_offset)
    in_scope = [
        (code, minutes)
        for (code, minutes, _), mark in zip(register, marks, strict=True)
        if mark.session.starts_at.date() <= as_at
    ]
    expected = python_count(policy, in_scope)
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
    # Punctuality: on time / arrivals, and arrivals after the close are arrivals, never on time.
    assert figures.after_close == expected["after_close"]
    arrivals = counts[C.PRESENT] + counts[C.LATE] + expected["after_close"]
    assert figures.arrivals == arrivals
    assert figures.punctuality == (Fraction(counts[C.PRESENT], arrivals) if arrivals else None)
    if expected["period"]:
        assert figures.absence_period is not None
        assert figures.absence_period.sessions == len(expected["period"])
        assert figures.absence_period.first_mark_id == marks[expected["period"][0]].id
    else:
        assert figures.absence_period is None
