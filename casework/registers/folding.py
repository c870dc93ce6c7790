"""Carrying a tally on over marks appended after it: the nightly import's marks all start after
every mark a tally counts, so the tally's own state (counts, absence period, whether its last
counted mark was an unevidenced illness absence) and the new marks give what a recount of the
whole window would (``figures.recount``), without reading the older marks.

The order is the figures' own: by session start, then session id. Ties between a new mark and a
counted one cannot happen (the new ones start strictly later); ties among the new ones follow the
figures' SQL (an absence at the same start as a breaking mark is not in the period after it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from casework.models import AbsenceReason, MarkCategory
from casework.registers.figures import AbsencePeriod, Recount

C = MarkCategory
# The positions in ``Recount.counts`` (``AttendanceFigures`` order) of each category's count.
_POSITION = {
    C.PRESENT: 0,
    C.LATE: 1,
    C.APPROVED_ACTIVITY: 2,
    C.AUTHORISED: 3,
    C.UNAUTHORISED: 4,
    C.NOT_COUNTED: 5,
}
_AFTER_CLOSE, _WITHOUT_REASON = 6, 7
_BREAKING = {C.PRESENT, C.LATE, C.APPROVED_ACTIVITY, C.AUTHORISED}


def appends_to(tally: Recount, marks: Iterable[Any]) -> bool:
    """Whether every one of these marks (``figures.counted_marks`` rows) starts after the last
    mark the tally counts: then ``fold`` gives what a recount would."""
    return tally.latest is None or all(m.starts_at > tally.latest for m in marks)


def fold(tally: Recount, marks: Iterable[Any]) -> Recount:
    """The tally with these marks (``figures.counted_marks`` rows, all after its last counted
    mark: see ``appends_to``) counted too."""
    counts = list(tally.counts)
    period, pairs, ill_before = tally.period, tally.illness_pairs, tally.ends_ill
    latest = tally.latest
    last_break: datetime | None = None  # among the new marks: the old ones all start before
    for mark in sorted(marks, key=lambda m: (m.starts_at, m.session_id)):
        category = C(mark.category)
        counts[_POSITION[category]] += 1
        counts[_AFTER_CLOSE] += mark.after_close
        if category is C.AUTHORISED and mark.reason is None:
            counts[_WITHOUT_REASON] += 1
        if category in _BREAKING:
            period, last_break = None, mark.starts_at
        elif category is C.UNAUTHORISED and (last_break is None or mark.starts_at > last_break):
            period = (
                AbsencePeriod(period.sessions + 1, period.first_mark_id, period.started_at)
                if period
                else AbsencePeriod(1, mark.mark_id, mark.starts_at)
            )
        if category is not C.NOT_COUNTED:  # not-counted marks neither make nor break a pair
            ill = (
                category is C.AUTHORISED
                and mark.reason == AbsenceReason.ILLNESS
                and mark.evidence is None
            )
            pairs += ill and ill_before
            ill_before = ill
        latest = mark.starts_at if latest is None else max(latest, mark.starts_at)
    return Recount(tuple(counts), period, latest, pairs, ill_before)
