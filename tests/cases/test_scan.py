"""The nightly scan: what it finds, idempotence, concurrency, due items."""

from __future__ import annotations

import threading
from datetime import date, datetime

from sqlalchemy import func, select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import (
    AbsenceReason,
    Case,
    CaseEvent,
    DueItem,
    DueKind,
    Enrolment,
    LetterJob,
    ScanRun,
)
from tests.cases.conftest import fire


def counts() -> tuple[int, ...]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(m))
        for m in (Case, CaseEvent, LetterJob, DueItem)
    )


def test_second_run_for_the_same_date_changes_nothing(team, clock):
    t = team()
    below = [t.learner() for _ in range(3)]
    fine = t.learner()
    for enrolment in below:
        day = t.mark(enrolment, "PPPPPPPUUU")
    t.mark(fine, "PPPPPPPPPP")
    clock(day)
    first = run_scan(day)
    assert len(first.cases_opened) == 3 and first.below_threshold == 3
    before = counts()
    second = run_scan(day)
    assert not second.changed_anything
    assert second.cases_opened == [] and counts() == before
    assert db.session.scalar(select(func.count()).select_from(ScanRun)) == 2


def test_too_few_sessions_are_not_judged(team, clock):
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "UUU")  # 0%, but only 3 of the 10 sessions the policy needs
    clock(day)
    report = run_scan(day)
    assert report.too_few_sessions == 1 and report.cases_opened == []


def test_early_warning_flags_and_clears(team, clock):
    t = team()  # threshold 90%, margin 5: 90 <= attendance < 95 is approaching
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPPPPPPPPPPPPU")  # 95%: not approaching
    clock(day)
    assert run_scan(day).approaching_flagged == 0
    day = t.mark(enrolment, "U")  # 19/21 = 90.5%
    clock(day)
    assert run_scan(day).approaching_flagged == 1
    assert db.session.get(Enrolment, enrolment.id).approaching_threshold_since == day
    day = t.mark(enrolment, "PPPPPPPPPP")  # 29/31 = 93.5%: still approaching
    clock(day)
    assert run_scan(day).approaching_flagged == 0
    day = t.mark(enrolment, "PPPPPPPPPPPPPPPPPPPP")  # 49/51 = 96%
    clock(day)
    assert run_scan(day).approaching_cleared == 1


def test_overdue_decision_is_marked_once(team, clock):
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPUUU")
    clock(day)
    run_scan(day)
    decision = db.session.scalars(select(DueItem).where(DueItem.kind == DueKind.DECISION)).one()
    later = date(2026, 10, 30)
    clock(later)
    assert run_scan(later).items_marked_overdue == 1
    assert run_scan(later).items_marked_overdue == 0
    db.session.refresh(decision)
    assert decision.overdue_since == later and decision.due_on < later


def test_illness_beyond_seven_days_needs_a_medical_certificate(team, make, clock):
    t = team()  # 003: "greater than 7 days (including weekend)"
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPPP")
    sessions = []
    for offset in range(8):  # eight consecutive days of illness
        session = make.session(t.programme, starts_at=datetime(2026, 9, 17 + offset, 9))
        sessions.append(make.mark(enrolment, session, "A", absence_reason=AbsenceReason.ILLNESS))
    short = t.learner()
    t.mark(short, "PPPPPPPPPP")
    for offset in range(7):  # seven days: no certificate yet
        session = make.session(t.programme, starts_at=datetime(2026, 9, 17 + offset, 14))
        make.mark(short, session, "A", absence_reason=AbsenceReason.ILLNESS)
    db.session.commit()
    day = date(2026, 9, 24)
    clock(day)
    report = run_scan(day)
    assert report.medical_certificate_items == 1
    item = db.session.scalars(
        select(DueItem).where(DueItem.kind == DueKind.MEDICAL_CERTIFICATE)
    ).one()
    assert item.enrolment_id == enrolment.id
    assert item.source_key == f"illness:{sessions[0].id}"
    assert run_scan(day).medical_certificate_items == 0


def test_no_second_occurrence_until_the_first_is_decided(team, clock):
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case)).one()
    day = t.mark(enrolment, "PU")  # a new absence period, but occurrence 1 awaits a decision
    clock(day)
    assert run_scan(day).occurrences_recorded == []
    fire(t.mentor, case, "no_action", today=day)
    day = t.mark(enrolment, "UU")  # the same absence period continues: not a new one
    clock(day)
    assert run_scan(day).occurrences_recorded == []
    day = t.mark(enrolment, "PU")
    clock(day)
    assert run_scan(day).occurrences_recorded == [case.id]


def test_two_scans_at_once_open_each_case_once(app, team, clock):
    t = team()
    enrolments = [t.learner() for _ in range(5)]
    for enrolment in enrolments:
        day = t.mark(enrolment, "PPPPPPPUUU")
    db.session.commit()
    clock(day)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            with app.app_context():
                barrier.wait()
                run_scan(day)
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    opened = db.session.scalars(select(Case.enrolment_id).order_by(Case.enrolment_id)).all()
    assert opened == sorted(e.id for e in enrolments)
    assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == 5
