"""A policy's attendance rules applied to figures: its window, minimum sessions, threshold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from casework.models import academic_year_of
from casework.registers.figures import AttendanceFigures


def window_start(policy_document: dict[str, Any], today: date) -> date:
    attendance = policy_document["attendance"]
    if attendance["window"] == "rolling_weeks":
        return today - timedelta(weeks=attendance["window_weeks"])
    return date(academic_year_of(today), 8, 1)


@dataclass(frozen=True)
class Judgement:
    evaluable: bool  # enough possible sessions to judge
    below: bool  # below (or at, under the statutory rule) the threshold
    approaching: bool  # not below, but within the early-warning margin
    percent: float | None
    words: str  # "below 90%" or "at or below 90%"


def judge(policy_document: dict[str, Any], figures: AttendanceFigures) -> Judgement:
    attendance = policy_document["attendance"]
    threshold = attendance["threshold_percent"]
    inclusive = attendance["threshold_rule"] == "at_or_below"
    words = f"{'at or below' if inclusive else 'below'} {threshold:g}%"
    evaluable = figures.possible >= attendance["minimum_sessions"]
    if not evaluable or figures.attendance is None:
        return Judgement(False, False, False, figures.attendance_percent, words)
    below = figures.below(threshold, inclusive=inclusive)
    margin = policy_document["workflow"]["early_warning_margin_percent"]
    approaching = (
        not below and margin > 0 and figures.attendance < Fraction(threshold + margin) / 100
    )
    return Judgement(True, below, approaching, figures.attendance_percent, words)
