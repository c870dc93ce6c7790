"""The service function's transaction: an error anywhere rolls the whole action back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from casework.cases import service
from casework.errors import GuardFailed, NotAllowed, Stale
from casework.extensions import db
from casework.models import ActionPlan, Case, CaseEvent, DueItem, LetterJob, Occurrence
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
