"""The service function's transaction: an error anywhere rolls the whole action back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from casework.cases import service
from casework.errors import Forbidden, GuardFailed, InvalidData, NotAllowed, NotFound, Stale
from casework.extensions import db
from casework.machines.audit import verify_chains
from casework.models import (
    ActionPlan,
    Case,
    CaseEvent,
    DueItem,
    Letter,
    LetterApproval,
    LetterJob,
    Occurrence,
)
from tests.case_fixtures import render_letters, to_written_warning
from tests.cases.conftest import PLAN, fire


def counts() -> tuple[int, ...]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(m))
        for m in (Case, CaseEvent, LetterJob, DueItem, ActionPlan, Occurrence)
    )


@pytest.fixture
def opened(team, clock):
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPUUU")
    clock(day)
    result = service.act(
        actor=t.mentor, event="open", enrolment_id=enrolment.id, note="x", today=day
    )
    return t, result.case, day


def test_a_failing_step_after_the_transition_leaves_no_trace(opened, monkeypatch):
    t, case, day = opened
    before, stage, version = counts(), case.state, case.version

    def broken(*_args, **_kwargs):
        raise RuntimeError("letter store unavailable")

    monkeypatch.setattr(service, "record_letter_jobs", broken)
    with pytest.raises(RuntimeError, match="letter store"):
        fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.state, case.version) == (stage, version)
    assert counts() == before


def test_an_unknown_event_lists_what_is_allowed(opened):
    t, case, day = opened
    with pytest.raises(NotAllowed) as refused:
        fire(t.mentor, case, "expel", today=day)
    assert "'expel' is not a step" in str(refused.value)
    assert set(refused.value.allowed) == {
        "no_action",
        "give_verbal_warning",
        "refer_fitness_to_study",
        "close",
    }


def test_opening_twice_is_refused(opened):
    t, case, day = opened
    with pytest.raises(GuardFailed, match=f"already has an open case \\(case {case.id}\\)"):
        service.act(
            actor=t.mentor, event="open", enrolment_id=case.enrolment_id, note="x", today=day
        )


def test_staff_cannot_open_above_threshold(team, clock):
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPPU")  # exactly 90%: not below under 003's rule
    clock(day)
    with pytest.raises(
        GuardFailed, match=r"Attendance is 90\.0%: a concern opens only when it is below 90%"
    ):
        service.act(actor=t.mentor, event="open", enrolment_id=enrolment.id, note="x", today=day)
    assert counts()[0] == 0


def test_a_change_committed_elsewhere_after_loading_makes_the_action_stale(opened):
    t, case, day = opened
    seen = case.version  # what the user's page showed
    with db.engine.begin() as other:  # another worker's action commits in between
        other.execute(
            text("UPDATE attendance_case SET version = version + 1 WHERE id = :id"),
            {"id": case.id},
        )
    with pytest.raises(Stale) as stale:
        fire_as_seen(t.mentor, case, seen, day)
    assert stale.value.current_version == seen + 1
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "monitoring"
    assert counts()[1] == 1  # still only the opening event


def fire_as_seen(actor, case, version, day):
    return service.act(
        actor=actor,
        event="no_action",
        case_id=case.id,
        expected_version=version,
        note="Option A",
        today=day,
    )


@pytest.fixture
def awaiting(opened, clock):
    """The case at a written warning, its letters rendered: the learner's waits for the head."""
    t, case, day = opened
    to_written_warning(t, case, clock, day)
    render_letters(case)
    db.session.commit()
    letters = db.session.scalars(
        select(Letter).where(Letter.case_id == case.id, Letter.recipient_kind == "learner")
    ).all()
    return t, case, {letter.template: letter for letter in letters}


def test_the_head_decides_a_waiting_letter_once_as_an_audited_change(awaiting):
    t, case, letters = awaiting
    warning = letters["written_warning"]
    version = case.version
    result = service.decide_letter(actor=t.head, letter_id=warning.id, approve=True)
    assert result.event.name == "approve_letter" and result.case.version == version + 1
    assert result.event.data == {"letter_id": warning.id}
    job = db.session.get(LetterJob, warning.job_id)
    assert (job.approval, job.approval_event_id) == (LetterApproval.APPROVED, result.event.id)
    assert list(verify_chains()) == []
    with pytest.raises(GuardFailed, match="it has been approved already"):
        service.decide_letter(actor=t.head, letter_id=warning.id, approve=False, note="Late")
    notice = letters["concern_notice"]
    with pytest.raises(GuardFailed, match="it needs no approval"):
        service.decide_letter(actor=t.head, letter_id=notice.id, approve=True)


@pytest.mark.parametrize(
    ("who", "error"),
    [("mentor", Forbidden), ("safeguarding", Forbidden), ("outsider_head", NotFound)],
)
def test_only_the_head_of_the_programme_decides(awaiting, who, error):
    t, case, letters = awaiting
    case.safeguarding_flagged_at = case.opened_at  # the lead sees it, and still may not decide
    db.session.commit()
    before = counts()
    with pytest.raises(error):
        service.decide_letter(
            actor=getattr(t, who), letter_id=letters["written_warning"].id, approve=True
        )
    assert counts() == before
    job = db.session.get(LetterJob, letters["written_warning"].job_id)
    assert job.approval == LetterApproval.AWAITING


def test_returning_needs_a_note_and_a_stale_version_is_refused(awaiting):
    t, case, letters = awaiting
    warning = letters["written_warning"]
    with pytest.raises(InvalidData) as caught:
        service.decide_letter(actor=t.head, letter_id=warning.id, approve=False, note=" ")
    assert "note" in caught.value.errors
    with pytest.raises(Stale):
        service.decide_letter(
            actor=t.head,
            letter_id=warning.id,
            approve=False,
            note="Wrong date",
            expected_version=case.version - 1,
        )
    result = service.decide_letter(
        actor=t.head,
        letter_id=warning.id,
        approve=False,
        note="Wrong date",
        expected_version=case.version,
    )
    assert result.event.name == "return_letter" and result.event.note == "Wrong date"
    assert db.session.get(LetterJob, warning.job_id).approval_note == "Wrong date"
