"""The scan finds the same from the enrolments' tallies as by recounting their marks."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, func, select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import AbsenceReason, Case, DueItem, Enrolment, EnrolmentTally
from casework.registers.tallies import tallied_figures, window_of

# Below the threshold, approaching it, fine, in an absence period, late, not counted.
PATTERNS = ["PPPPPPPUUU", "PPPPPPPPPU", "PPPPPPPPPP", "UUUUUUUUUU", "PPPPPLLPPN", "PPPPPPPPXU"]


def _twins(t, make) -> list[tuple[Enrolment, Enrolment]]:
    """Two learners marked alike for each pattern; the first few also ill for eight days."""
    twins = []
    for n, pattern in enumerate(PATTERNS):
        pair = (t.learner(), t.learner())
        for enrolment in pair:
            t.mark(enrolment, pattern)
            if n < 2:
                for offset in range(8):
                    session = make.session(
                        t.programme, starts_at=datetime(2026, 9, 20 + offset, 9 + n)
                    )
                    make.mark(enrolment, session, "A", absence_reason=AbsenceReason.ILLNESS)
        twins.append(pair)
    db.session.commit()
    return twins


def _found(enrolment: Enrolment) -> tuple:
    db.session.refresh(enrolment)
    return (
        db.session.scalar(select(func.count()).where(Case.enrolment_id == enrolment.id)),
        enrolment.approaching_threshold_since,
        sorted(
            kind
            for kind in db.session.scalars(
                select(DueItem.kind).where(DueItem.enrolment_id == enrolment.id)
            )
        ),
    )


def test_the_scan_finds_the_same_with_tallies_as_by_recounting(team, make, clock):
    t = team()
    twins = _twins(t, make)
    # The second of each pair has no tally: the scan recounts its marks.
    db.session.execute(
        delete(EnrolmentTally).where(EnrolmentTally.enrolment_id.in_([b.id for _, b in twins]))
    )
    db.session.commit()
    ids = [e.id for pair in twins for e in pair]
    # A day before the last marks: no tally answers for it, so every figure is recounted.
    earlier = date(2026, 9, 14)
    assert tallied_figures(earlier, window_of(2026), ids) == ({}, sorted(ids))
    clock(earlier)
    run_scan(earlier)
    for a, b in twins:
        assert _found(a) == _found(b)

    day = date(2026, 9, 30)
    clock(day)
    tallied, recount = tallied_figures(day, window_of(2026), ids)
    assert sorted(tallied) == sorted(a.id for a, _ in twins)
    assert recount == sorted(b.id for _, b in twins)
    report = run_scan(day)
    assert report.evaluated == 12 and report.too_few_sessions == 2
    assert report.medical_certificate_items == 4
    for a, b in twins:
        assert _found(a) == _found(b)
