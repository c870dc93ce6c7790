"""Enrolment tallies (``EnrolmentTally``): each enrolment's figures over its academic year,
recounted whenever its marks (or what they count against: a session's times, the enrolment's
dates) change, in the same transaction, so the scan reads one row per enrolment.

A tally answers for a day when its window is the day's window and no counted session starts after
the day; otherwise (a scan of a past day, an enrolment with no tally) the figures are recounted.

An import whose marks of an enrolment are all new and start after every mark its tally counts
(the nightly append) folds them into the tally instead (``folding``): the night's cost grows with
the day's marks, not the year's. Anything else (a changed mark, an earlier session, no tally)
recounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select

from casework.extensions import db
from casework.models import Enrolment, EnrolmentTally, Mark, MarkChange
from casework.registers.figures import (
    AbsencePeriod,
    AttendanceFigures,
    Recount,
    marks_written_by,
    recount,
)
from casework.registers.folding import appends_to, fold

_CHUNK = 500  # enrolments per recount
_SCAN_ALL = 2_000  # more enrolments than this: recount them in one pass over the marks
_COUNTS = (
    "present",
    "late",
    "approved_activity",
    "authorised",
    "unauthorised",
    "not_counted",
    "after_close",
    "authorised_without_reason",
)


def window_of(academic_year: int) -> date:
    """The tallies' window: the academic year (every policy's window today)."""
    return date(academic_year, 8, 1)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _windows(enrolment_ids: Iterable[int] | None) -> dict[date, list[int]]:
    """window -> its enrolments, of these enrolments (every enrolment when None)."""
    query = select(Enrolment.id, Enrolment.academic_year)
    rows: list[tuple[int, int]] = []
    if enrolment_ids is None:
        rows = list(db.session.execute(query))
    else:
        for chunk in _chunks(sorted(set(enrolment_ids))):
            rows += db.session.execute(query.where(Enrolment.id.in_(chunk))).all()
    out: dict[date, list[int]] = defaultdict(list)
    for eid, year in rows:
        out[window_of(year)].append(eid)
    return out


def _hold(enrolment_ids: list[int]) -> None:
    """On PostgreSQL, lock these enrolments' rows until the commit (in id order: two writers
    never wait for each other in a circle), so that of two transactions writing marks of one
    enrolment at once, the second recounts after the first commits and counts its marks too.
    FOR NO KEY UPDATE: marks referring to the enrolments may still be written meanwhile. SQLite
    has one writer at a time already."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for chunk in _chunks(sorted(enrolment_ids)):
        db.session.execute(
            select(Enrolment.id)
            .where(Enrolment.id.in_(chunk))
            .order_by(Enrolment.id)
            .with_for_update(key_share=True)
        ).all()


def _recounts(windows: dict[date, list[int]]) -> Iterator[tuple[date, dict[int, Recount]]]:
    for window, ids in windows.items():
        if len(ids) > _SCAN_ALL:  # one pass over the marks beats this many lookups
            yield window, recount(window, sorted(ids), scan_all=True)
            continue
        for chunk in _chunks(sorted(ids)):
            yield window, recount(window, chunk)


def refresh_tallies(enrolment_ids: Iterable[int] | None = None) -> int:
    """Recount and store the tallies of these enrolments (every enrolment when None), in the
    caller's transaction; how many were stored."""
    windows = _windows(enrolment_ids)
    _hold([eid for ids in windows.values() for eid in ids])
    return _recount_and_store(windows)


def refresh_tallies_of_import(
    import_id: int, enrolment_ids: Iterable[int], session_ids: Iterable[int]
) -> int:
    """``refresh_tallies`` for the enrolments whose marks this import wrote on these sessions,
    after writing them; but an enrolment whose marks it wrote are all new and start after every
    mark its tally counts has them folded into its tally, reading none of its older marks. How
    many tallies were stored."""
    windows = _windows(enrolment_ids)
    _hold([eid for ids in windows.values() for eid in ids])
    written = _written(import_id, sorted(set(session_ids)))
    replaced = set(
        db.session.scalars(
            select(Mark.enrolment_id)
            .join(MarkChange, MarkChange.mark_id == Mark.id)
            .where(MarkChange.import_id == import_id)
        )
    )
    stored = 0
    to_recount: dict[date, list[int]] = {}
    for window, ids in windows.items():
        start = datetime.combine(window, time.min)
        tallies = _stored(window, [eid for eid in ids if eid not in replaced])
        folded: dict[int, Recount] = {}
        for eid in ids:
            tally = tallies.get(eid)
            # Marks before the window are not the tally's (nor a recount's) to count.
            marks = [m for m in written.get(eid, ()) if m.starts_at >= start]
            if tally is not None and marks and appends_to(tally, marks):
                folded[eid] = fold(tally, marks)
            else:
                to_recount.setdefault(window, []).append(eid)
        _store(window, folded)
        stored += len(folded)
    return stored + _recount_and_store(to_recount)


def _written(import_id: int, session_ids: list[int]) -> dict[int, list]:
    """enrolment -> the rows (``counted_marks``) of the marks this import wrote on these
    sessions."""
    out: dict[int, list] = defaultdict(list)
    for chunk in _chunks(session_ids):
        for row in db.session.execute(marks_written_by(import_id, chunk)):
            out[row.enrolment_id].append(row)
    return out


def _stored(window: date, enrolment_ids: list[int]) -> dict[int, Recount]:
    """These enrolments' tallies for this window, as recounts to carry on from (a tally that
    does not know how its marks end is left out: it is recounted)."""
    out: dict[int, Recount] = {}
    query = select(
        EnrolmentTally.enrolment_id, *TALLY, EnrolmentTally.illness_pairs, EnrolmentTally.ends_ill
    ).where(EnrolmentTally.window_start == window, EnrolmentTally.ends_ill.is_not(None))
    for chunk in _chunks(enrolment_ids):
        rows = db.session.execute(query.where(EnrolmentTally.enrolment_id.in_(chunk)))
        for eid, *counts, sessions, first_mark_id, started_at, last, pairs, ends_ill in rows:
            period = _period(sessions, first_mark_id, started_at)
            out[eid] = Recount(tuple(counts), period, last, pairs, ends_ill)
    return out


def _recount_and_store(windows: dict[date, list[int]]) -> int:
    stored = 0
    for window, found in _recounts(windows):
        _store(window, found)
        stored += len(found)
    return stored


def _store(window: date, found: dict[int, Recount]) -> None:
    """Replace these enrolments' tallies (of any window) with these, for this window."""
    for ids in _chunks(list(found)):
        db.session.execute(
            delete(EnrolmentTally)
            .where(EnrolmentTally.enrolment_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            EnrolmentTally.__table__.insert(), [_row(eid, window, found[eid]) for eid in ids]
        )


def refresh_tallies_of_sessions(session_ids: Iterable[int]) -> int:
    """``refresh_tallies`` for the enrolments marked on these sessions (whose times changed)."""
    ids: set[int] = set()
    for chunk in _chunks(sorted(set(session_ids))):
        ids.update(db.session.scalars(select(Mark.enrolment_id).where(Mark.session_id.in_(chunk))))
    return refresh_tallies(ids) if ids else 0


def _row(eid: int, window: date, found: Recount) -> dict:
    period = found.period
    return {
        "enrolment_id": eid,
        "window_start": window,
        **dict(zip(_COUNTS, found.counts, strict=True)),
        "period_sessions": period and period.sessions,
        "period_first_mark_id": period and period.first_mark_id,
        "period_started_at": period and period.started_at,
        "last_session_at": found.latest,
        "illness_pairs": found.illness_pairs,
        "ends_ill": found.ends_ill,
    }


_COLUMNS = [EnrolmentTally.__table__.c[name] for name in _COUNTS]
_PERIOD = (
    EnrolmentTally.period_sessions,
    EnrolmentTally.period_first_mark_id,
    EnrolmentTally.period_started_at,
)


def tallied_figures(
    as_at: date, since: date, enrolment_ids: Iterable[int]
) -> tuple[dict[int, AttendanceFigures], list[int]]:
    """The figures as at the end of ``as_at`` over the window from ``since`` of the enrolments
    whose tallies answer for that day, and the enrolments whose tallies do not (to recount)."""
    wanted = set(enrolment_ids)
    found: dict[int, AttendanceFigures] = {}
    for eid, *values in db.session.execute(
        select(EnrolmentTally.enrolment_id, *TALLY).where(EnrolmentTally.window_start == since)
    ):
        if eid in wanted and (figures := tally_figures(eid, as_at, values)) is not None:
            found[eid] = figures
    return found, sorted(wanted - found.keys())


# What ``tally_figures`` reads of a tally, in order (a case read joins them to its case).
TALLY = (*_COLUMNS, *_PERIOD, EnrolmentTally.last_session_at)


def tally_figures(
    enrolment_id: int, as_at: date, values: Sequence[Any]
) -> AttendanceFigures | None:
    """The figures as at the end of ``as_at`` from a tally's ``TALLY`` values (all None: no
    tally), or None when there is no tally or it does not answer for that day (it counts a
    session after it)."""
    *counts, sessions, first_mark_id, started_at, last = values
    if counts[0] is None or (
        last is not None and last >= datetime.combine(as_at + timedelta(days=1), time.min)
    ):
        return None
    period = _period(sessions, first_mark_id, started_at)
    return AttendanceFigures(enrolment_id, as_at, *counts, period)


def _period(
    sessions: int | None, first_mark_id: int | None, started_at: Any
) -> AbsencePeriod | None:
    """A tally's absence period from its three columns (no sessions: none)."""
    return AbsencePeriod(sessions, first_mark_id, started_at) if sessions else None


def may_need_certificates(since: date, enrolment_ids: Iterable[int] | None) -> list[int]:
    """Of these enrolments (every enrolment when None), those that may have an illness run
    needing a medical certificate in the window from ``since``: two unevidenced illness absences
    in a row, or no tally for that window to say (a run needs two marks: the policies' days are
    1 or more; a run up to any day is two such in a row in the whole window too)."""
    if enrolment_ids is None:
        enrolment_ids = db.session.scalars(select(Enrolment.id))
    wanted = set(enrolment_ids)
    ruled_out = set(
        db.session.scalars(
            select(EnrolmentTally.enrolment_id).where(
                EnrolmentTally.window_start == since, EnrolmentTally.illness_pairs == 0
            )
        )
    )
    return sorted(wanted - ruled_out)


@dataclass(frozen=True)
class Difference:
    enrolment_id: int
    window_start: date
    stored: dict | None  # None: no tally
    recounted: dict | None  # None: a tally for a window the enrolment is not in


def tally_differences() -> Iterator[Difference]:
    """Every tally that differs from a full recount of its enrolment's marks, and every
    enrolment with marks but no tally (one without marks needs none: the scan recounts it). A
    tally that does not know ``ends_ill`` yet is recounted on its next write: no difference."""
    stored: dict[tuple[int, date], dict] = {}
    columns = [c for c in EnrolmentTally.__table__.c]
    for row in db.session.execute(select(*columns)):
        values = dict(row._mapping)
        stored[(values["enrolment_id"], values["window_start"])] = values
    seen: set[tuple[int, date]] = set()
    for window, found in _recounts(_windows(None)):
        for eid, r in found.items():
            key = (eid, window)
            seen.add(key)
            expected = _row(eid, window, r)
            if key not in stored and r.latest is None:
                continue
            if key in stored and stored[key]["ends_ill"] is None:
                expected["ends_ill"] = None
            if stored.get(key) != expected:
                yield Difference(eid, window, stored.get(key), expected)
    for key in sorted(stored.keys() - seen):
        yield Difference(key[0], key[1], stored[key], None)


def repair_tallies() -> int:
    """Recount every enrolment's tally from its marks (and drop any other), then commit: what
    fills the tallies after the upgrade that added them (and ``ends_ill`` after 0014, which an
    enrolment's next import fills too). How many were stored."""
    try:
        db.session.execute(delete(EnrolmentTally))
        stored = refresh_tallies()
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return stored
