"""A policy's attendance rules applied to figures: its window, minimum sessions, threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from casework.models import academic_year_of
from casework.policies.rules import PolicyRules
from casework.registers.figures import AttendanceFigures, figures_for
from casework.registers.tallies import tally_figures


def window_start(rules: PolicyRules, today: date) -> date:
    attendance = rules.attendance
    if attendance.window == "rolling_weeks" and attendance.window_weeks:
        return today - timedelta(weeks=attendance.window_weeks)
    return date(academic_year_of(today), 8, 1)


@dataclass(frozen=True)
class Judgement:
    evaluable: bool  # enough possible sessions to judge
    below: bool  # below (or at, under the statutory rule) the threshold
    approaching: bool  # not below, but within the early-warning margin
    percent: float | None
    words: str  # "below 90%" or "at or below 90%"


def judge(rules: PolicyRules, figures: AttendanceFigures) -> Judgement:
    attendance = rules.attendance
    threshold = attendance.threshold_percent
    inclusive = attendance.inclusive
    words = attendance.threshold_words
    evaluable = figures.possible >= attendance.minimum_sessions
    if not evaluable or figures.attendance is None:
        return Judgement(False, False, False, figures.attendance_percent, words)
    below = figures.below(threshold, inclusive=inclusive)
    margin = rules.workflow.early_warning_margin_percent
    approaching = (
        not below and margin > 0 and figures.attendance < Fraction(threshold + margin) / 100
    )
    return Judgement(True, below, approaching, figures.attendance_percent, words)


def attendance_summary(
    rules: PolicyRules, enrolment_id: int, as_at: date, tally: Sequence[Any] | None = None
) -> dict[str, Any]:
    """An enrolment's figures over the policy's window as at the end of ``as_at``, judged by the
    policy: a case's attendance block (AttendanceSchema), plus every count and the window.
    ``tally``: the enrolment's tally as a case read joins it (its window start, then its
    ``TALLY`` values), which gives the figures where it answers for the window and the day;
    otherwise they are counted from the marks."""
    since = window_start(rules, as_at)
    figures = None
    if tally is not None and tally[0] == since:
        figures = tally_figures(enrolment_id, as_at, tally[1:])
    if figures is None:
        figures = figures_for(enrolment_id, as_at, since=since)
    verdict = judge(rules, figures)
    risk_below = rules.attendance.assessment_risk_below_percent
    period = figures.absence_period
    return {
        "as_at": as_at,
        "window_start": since,
        "percent": figures.attendance_percent,
        "punctuality_percent": figures.punctuality_percent,
        "possible": figures.possible,
        "attended": figures.attended,
        "present": figures.present,
        "late": figures.late,
        "approved_activity": figures.approved_activity,
        "authorised": figures.authorised,
        "unauthorised": figures.unauthorised,
        "after_close": figures.after_close,
        "not_counted": figures.not_counted,
        "sessions_missed": figures.sessions_missed,
        "threshold": verdict.words,
        "evaluable": verdict.evaluable,
        "below": verdict.below,
        "approaching": verdict.approaching,
        "assessment_at_risk": bool(
            risk_below is not None
            and figures.attendance_percent is not None
            and figures.attendance_percent < risk_below
        ),
        "absence_period": period and {"sessions": period.sessions, "started_at": period.started_at},
    }
