"""One scenario per policy, taken from its own document, driven through the scan and the
service function from the first register to the end of the case."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.errors import Forbidden, GuardFailed, NotAllowed
from casework.extensions import db
from casework.machines.audit import verify_chains
from casework.models import (
    Case,
    ContactKind,
    DueItem,
    DueKind,
    EnrolmentStatus,
    LetterJob,
    Occurrence,
    SessionKind,
)
from tests.cases.conftest import PANEL, PLAN, fire


def letters_of(result) -> set[tuple[str, str]]:
    return {(job.template, job.recipient_kind) for job in result.letters}


def case_of(enrolment) -> Case:
    return db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()


def scan(clock, day: date):
    clock(day)
    return run_scan(day)


def test_003_disciplinary_route_to_withdrawal_and_fitness_to_study(team, make, clock):
    t = team("003-green-labyrinth")
    # An under-18 with a parent, who drifts below 90%: 8 of 10 sessions (5.2).
    drifting = t.learner(born=date(2010, 5, 1))
    make.contact(drifting.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    day = t.mark(drifting, "PPPPPPPPPP")
    assert not scan(clock, day).cases_opened  # 100%: nothing to do
    day = t.mark(drifting, "UU")
    report = scan(clock, day)
    case = case_of(drifting)
    assert report.cases_opened == [case.id]
    assert case.state == "monitoring" and case.occurrence_count == 1
    assert case.decision_due_on is not None
    first = db.session.scalars(select(Occurrence).where(Occurrence.case_id == case.id)).one()
    assert first.absence_started_at.date() == date(2026, 9, 17)  # the first U

    # First occurrence, option B: verbal warning; letters to the learner and the parent.
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    assert result.stage == "verbal_warning"
    assert letters_of(result) == {("verbal_warning", "learner"), ("verbal_warning", "parent_carer")}
    assert case.decision_due_on is None
    # A written warning needs a second occurrence.
    with pytest.raises(GuardFailed, match="occurrence 2"):
        fire(t.head, case, "issue_written_warning", today=day, action_plan=PLAN)

    # Back for two sessions, then absent again: a new absence period while below -> second.
    day = t.mark(drifting, "PPU")
    assert scan(clock, day).occurrences_recorded == [case.id]
    db.session.refresh(case)
    assert case.occurrence_count == 2
    with pytest.raises(Forbidden, match="only the head of programme"):
        fire(t.mentor, case, "issue_written_warning", today=day, action_plan=PLAN)
    result = fire(t.head, case, "issue_written_warning", today=day, action_plan=PLAN)
    assert result.stage == "written_warning"
    assert ("written_warning", "parent_carer") in letters_of(result)

    # Third occurrence: the head convenes a disciplinary panel (date, time, place, members).
    day = t.mark(drifting, "PPU")
    assert scan(clock, day).occurrences_recorded == [case.id]
    result = fire(t.head, case, "convene_panel", today=day, panel=PANEL)
    assert result.stage == "disciplinary_panel"
    assert ("panel_invitation", "learner") in letters_of(result)
    panel_due = db.session.scalars(
        select(DueItem).where(DueItem.case_id == case.id, DueItem.kind == DueKind.PANEL)
    ).one()
    assert panel_due.due_on == date(2026, 12, 10)

    result = fire(
        t.head,
        case,
        "issue_final_written_warning",
        today=day,
        outcome="Final written warning with an action plan",
        action_plan=PLAN,
    )
    assert result.stage == "final_written_warning"
    # Withdrawal needs the plan breached first.
    with pytest.raises(GuardFailed, match="breached"):
        fire(t.head, case, "withdraw", today=day, reason="Action plan not followed")
    fire(t.mentor, case, "record_review", today=day, reviewed_on="2026-12-01", outcome="not_met")
    result = fire(t.head, case, "withdraw", today=day, reason="Action plan not followed")
    assert result.stage == "withdrawn"
    assert case.ended_at is not None
    assert drifting.status == EnrolmentStatus.WITHDRAWN
    assert ("withdrawal", "parent_carer") in letters_of(result)
    assert [e.name for e in case.events] == [
        "open",
        "give_verbal_warning",
        "record_occurrence",
        "issue_written_warning",
        "record_occurrence",
        "convene_panel",
        "issue_final_written_warning",
        "record_review",
        "withdraw",
    ]

    # A second learner whose illness is recorded goes through fitness to study.
    ill = t.learner(born=date(2010, 5, 1))
    make.contact(ill.learner, ContactKind.PARENT_CARER, name="Kim Carer")
    day = t.mark(ill, "PPPPPPPPUU")
    scan(clock, day)
    ill_case = case_of(ill)
    with pytest.raises(GuardFailed, match="circumstances"):
        fire(t.mentor, ill_case, "refer_fitness_to_study", today=day, action_plan=PLAN)
    result = fire(
        t.mentor,
        ill_case,
        "refer_fitness_to_study",
        today=day,
        circumstances="Long-term illness; GP letter seen",
        action_plan=PLAN,
    )
    assert result.stage == "fitness_to_study"
    assert letters_of(result) == {
        ("fitness_to_study_plan", "learner"),
        ("fitness_to_study_plan", "parent_carer"),
    }
    day = t.mark(ill, "PPU")
    scan(clock, day)
    result = fire(t.mentor, ill_case, "review_fitness_to_study", today=day, action_plan=PLAN)
    assert result.stage == "fitness_to_study"
    # Never a written warning: the event does not exist from fitness to study.
    with pytest.raises(NotAllowed) as refused:
        fire(t.head, ill_case, "issue_written_warning", today=day, action_plan=PLAN)
    assert "convene_panel" in refused.value.allowed
    templates = set(
        db.session.scalars(select(LetterJob.template).where(LetterJob.case_id == ill_case.id))
    )
    assert not {t for t in templates if "warning" in t}
    assert list(verify_chains()) == []


def test_004_no_disciplinary_stage_and_persistent_absence_flagged_to_the_main_school(
    team, make, clock
):
    t = team("004-nxt-gen")
    pupil = t.learner(born=date(2012, 2, 2), is_dual_registered=True)
    make.contact(pupil.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    make.contact(pupil.learner, ContactKind.MAIN_SCHOOL, name="Hill Academy")
    # Statutory persistent absence: at or below 90% (9 of 10 is exactly 90%).
    day = t.mark(pupil, "/////\\\\\\\\O")
    report = scan(clock, day)
    case = case_of(pupil)
    assert report.cases_opened == [case.id]
    opening = case.events[0]
    jobs = db.session.scalars(select(LetterJob).where(LetterJob.event_id == opening.id)).all()
    assert {(j.template, j.recipient_kind) for j in jobs} == {
        ("concern_notice", "main_school"),
        ("concern_notice", "parent_carer"),
    }
    # No disciplinary event exists under this policy, from any stage.
    for event in ("give_verbal_warning", "issue_written_warning", "convene_panel", "withdraw"):
        with pytest.raises(NotAllowed):
            fire(t.head, case, event, today=day, action_plan=PLAN)
    result = fire(t.mentor, case, "refer_fitness_to_study", today=day, action_plan=PLAN)
    assert result.stage == "fitness_to_study"
    day = t.mark(pupil, "//N")
    assert scan(clock, day).occurrences_recorded == [case.id]
    result = fire(t.mentor, case, "review_fitness_to_study", today=day, action_plan=PLAN)
    assert ("updated_action_plan", "main_school") in letters_of(result)
    # Attendance recovers: closed with praise and recognition.
    with pytest.raises(GuardFailed, match="still at or below"):
        fire(t.mentor, case, "close", today=day, reason="attendance_restored")
    day = t.mark(pupil, "/" * 20)
    result = fire(t.mentor, case, "close", today=day, reason="attendance_restored")
    assert result.stage == "closed"
    assert letters_of(result) == {
        ("closing_letter", "learner"),
        ("closing_letter", "parent_carer"),
        ("closing_letter", "main_school"),
    }
    assert list(verify_chains()) == []


def test_002_school_told_no_warnings_family_rung(team, make, clock):
    t = team("002-ap-schools")
    pupil = t.learner(born=date(2011, 6, 6), is_dual_registered=True)
    make.contact(pupil.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    make.contact(pupil.learner, ContactKind.MAIN_SCHOOL, name="Partnership School")
    day = t.mark(pupil, "////////OO")
    scan(clock, day)
    case = case_of(pupil)
    assert case.state == "monitoring"
    with pytest.raises(NotAllowed) as refused:
        fire(t.head, case, "give_verbal_warning", today=day, action_plan=PLAN)
    assert set(refused.value.allowed) == {"no_action", "refer_fitness_to_study", "close"}
    # Option A first: the school is following up.
    fire(t.mentor, case, "no_action", today=day)
    day = t.mark(pupil, "/O")
    assert scan(clock, day).occurrences_recorded == [case.id]
    result = fire(t.mentor, case, "refer_fitness_to_study", today=day, action_plan=PLAN)
    assert result.stage == "fitness_to_study"
    assert letters_of(result) == {
        ("fitness_to_study_plan", "parent_carer"),
        ("fitness_to_study_plan", "main_school"),
    }
    result = fire(t.head, case, "close", today=day, reason="no_further_action")
    assert result.stage == "closed"
    assert list(verify_chains()) == []


def test_001_apprentice_employer_told_one_to_one_rebooked_and_removed(team, make, clock):
    t = team("001-sts")
    apprentice = t.learner(born=date(2000, 1, 1), is_apprentice=True)
    make.contact(apprentice.learner, ContactKind.EMPLOYER, name="Acme Ltd")
    make.contact(apprentice.learner, ContactKind.PARENT_CARER, name="Not Told")  # adult
    day = t.mark(apprentice, "PPPP")
    assert not scan(clock, day).cases_opened
    # A missed 1-2-1: rebooked within 5 working days; 100% target, so a concern opens.
    session = make.session(
        t.programme, starts_at=datetime(2026, 9, 11, 9), kind=SessionKind.ONE_TO_ONE
    )
    make.mark(apprentice, session, "U")
    db.session.commit()
    report = scan(clock, date(2026, 9, 11))
    case = case_of(apprentice)
    assert report.cases_opened == [case.id] and report.rebook_items == 1
    rebook = db.session.scalars(
        select(DueItem).where(DueItem.kind == DueKind.REBOOK_ONE_TO_ONE)
    ).one()
    assert rebook.due_on == date(2026, 9, 18)  # 5 working days after Friday 11 September
    jobs = db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id)).all()
    assert {(j.template, j.recipient_kind) for j in jobs} == {
        ("concern_notice", "learner"),
        ("concern_notice", "employer"),
    }
    day = date(2026, 9, 11)
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    assert result.stage == "verbal_warning"  # "at risk of disengagement"
    assert ("verbal_warning", "employer") in letters_of(result)
    assert ("verbal_warning", "parent_carer") not in letters_of(result)
    t.skip(apprentice, 1)  # the 1-2-1's day
    day = t.mark(apprentice, "PU")
    assert scan(clock, day).occurrences_recorded == [case.id]
    result = fire(t.head, case, "issue_written_warning", today=day, action_plan=PLAN)
    assert result.stage == "written_warning"  # the employer action plan
    day = t.mark(apprentice, "PU")
    scan(clock, day)
    result = fire(t.head, case, "convene_panel", today=day, panel=PANEL)
    assert result.stage == "disciplinary_panel"  # removal review
    with pytest.raises(NotAllowed):
        fire(t.head, case, "issue_final_written_warning", today=day, outcome="x", action_plan=PLAN)
    result = fire(t.head, case, "withdraw", today=day, reason="Persistent non-attendance")
    assert result.stage == "withdrawn"
    assert ("withdrawal", "employer") in letters_of(result)
    assert list(verify_chains()) == []


def test_000_supportive_steps_to_removal(team, make, clock):
    t = team("000-sek")
    adult = t.learner(born=date(1990, 1, 1))
    day = t.mark(adult, "PPPPPPPPUU")
    scan(clock, day)
    case = case_of(adult)
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    assert result.stage == "verbal_warning"  # support discussion and catch-up
    assert letters_of(result) == {("verbal_warning", "learner")}  # an adult: no parent
    day = t.mark(adult, "PU")
    scan(clock, day)
    # Under this policy the mentor may agree the action plan.
    result = fire(t.mentor, case, "issue_written_warning", today=day, action_plan=PLAN)
    assert result.stage == "written_warning"
    day = t.mark(adult, "PU")
    scan(clock, day)
    result = fire(t.head, case, "convene_panel", today=day, panel=PANEL)
    assert result.stage == "disciplinary_panel"  # review of continued participation
    result = fire(t.head, case, "withdraw", today=day, reason="No contact since October")
    assert result.stage == "withdrawn"
    assert list(verify_chains()) == []
