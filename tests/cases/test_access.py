"""Who sees what and may act on what, enforced by the service (docs/workflow.md)."""

from __future__ import annotations

import pytest

from casework import scope
from casework.cases.service import act
from casework.errors import Forbidden, InvalidData, NotFound, Stale
from casework.extensions import db
from casework.models import ProgrammeRole, ProgrammeStaff, Role
from tests.cases.conftest import PLAN, fire


@pytest.fixture
def opened(team, clock):
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    result = act(actor=t.mentor, event="open", enrolment_id=enrolment.id, note="Seen", today=day)
    return t, result.case, day


def visible(user) -> set[int]:
    return set(db.session.scalars(scope.visible_cases(user).with_only_columns(scope.Case.id)))


def test_each_role_sees_only_its_cases(opened, make):
    t, case, _day = opened
    assert visible(t.mentor) == {case.id}
    assert visible(t.head) == {case.id}
    assert visible(t.admin) == {case.id}
    assert visible(t.other_mentor) == set()
    assert visible(t.outsider_head) == set()
    assert visible(t.safeguarding) == set()  # until the case is flagged
    officer = make.user(Role.ADMINISTRATION_OFFICER)
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    assert visible(officer) == set()  # registers and learners, not cases
    assert case.enrolment_id in set(
        db.session.scalars(scope.visible_enrolments(officer).with_only_columns(scope.Enrolment.id))
    )


@pytest.mark.parametrize("who", ["other_mentor", "outsider_head", "safeguarding"])
def test_a_case_outside_scope_does_not_exist(opened, who):
    t, case, day = opened
    with pytest.raises(NotFound, match=f"no case {case.id}"):
        fire(getattr(t, who), case, "no_action", today=day)


def test_administrator_sees_but_makes_no_case_decisions(opened):
    t, case, day = opened
    with pytest.raises(Forbidden):
        fire(t.admin, case, "no_action", today=day)


def test_safeguarding_flag_brings_in_the_lead_without_moving_the_stage(opened):
    t, case, day = opened
    stage = case.state
    fire(t.mentor, case, "flag_safeguarding", today=day)
    assert case.state == stage and case.safeguarding_flagged_at is not None
    assert visible(t.safeguarding) == {case.id}
    assert case.events[-1].name == "flag_safeguarding"
    fire(t.safeguarding, case, "add_note", today=day)  # notes on flagged cases
    with pytest.raises(Forbidden):  # but no decisions
        fire(t.safeguarding, case, "no_action", today=day)


def test_circumstances_are_special_category(opened):
    t, case, day = opened
    fire(t.mentor, case, "record_circumstances", today=day, circumstances="Carer for a parent")
    assert scope.may_see_circumstances(t.mentor, case)
    assert scope.may_see_circumstances(t.head, case)
    assert scope.may_see_circumstances(t.safeguarding, case)
    assert not scope.may_see_circumstances(t.admin, case)


def test_stale_version_changes_nothing(opened):
    t, case, day = opened
    seen = case.version
    fire(t.mentor, case, "add_note", today=day)
    with pytest.raises(Stale) as stale:
        act(
            actor=t.mentor,
            event="no_action",
            case_id=case.id,
            expected_version=seen,
            note="late",
            today=day,
        )
    assert stale.value.current_version == case.version
    db.session.refresh(case)
    assert case.state == "monitoring" and case.event_count == 2


def test_a_note_and_the_version_are_required_from_staff(opened):
    t, case, day = opened
    with pytest.raises(InvalidData) as missing:
        act(
            actor=t.mentor,
            event="no_action",
            case_id=case.id,
            expected_version=case.version,
            note=" ",
            today=day,
        )
    assert "note" in missing.value.errors
    with pytest.raises(InvalidData) as unversioned:
        act(actor=t.mentor, event="no_action", case_id=case.id, note="ok", today=day)
    assert "expected_version" in unversioned.value.errors


def test_invalid_plan_is_reported_field_by_field(opened):
    t, case, day = opened
    with pytest.raises(InvalidData) as bad:
        fire(
            t.mentor,
            case,
            "give_verbal_warning",
            today=day,
            action_plan={**PLAN, "review_dates": ["someday"]},
        )
    assert bad.value.errors == {"action_plan": {"review_dates": {0: ["Not a valid date."]}}}
