"""Reading a case within scope: timeline, plan, due items, letters, what this user may do."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from casework.cases.queries import (
    REDACTED,
    case_detail,
    caseload,
    due_for,
    learner_letters,
    learner_plans,
)
from casework.cases.scan import run_scan
from casework.documents.jobs import render_job
from casework.errors import NotFound
from casework.extensions import db
from casework.models import Case, ContactKind, LearnerAccount, Letter, LetterJob
from tests.cases.conftest import PLAN, fire


@pytest.fixture
def warned(team, make, clock):
    t = team()
    enrolment = t.learner()
    make.contact(enrolment.learner, ContactKind.PARENT_CARER)
    day = t.mark(enrolment, "PPPPPPPUUU")  # 70%
    clock(day)
    run_scan(day)
    case = enrolment_case(enrolment)
    fire(t.mentor, case, "record_circumstances", today=day, circumstances="Young carer")
    fire(t.mentor, case, "refer_fitness_to_study", today=day, action_plan=PLAN)
    fire(t.mentor, case, "record_review", today=day, reviewed_on="2026-12-01", outcome="met")
    return t, enrolment, case, day


def enrolment_case(enrolment):
    return db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()


def test_detail_for_the_mentor(warned):
    t, _enrolment, case, day = warned
    detail = case_detail(t.mentor, case.id, today=day)
    assert detail["stage"] == "fitness_to_study" and detail["stage_name"] == "Fitness to study"
    assert detail["version"] == case.version
    assert detail["attendance"]["percent"] == pytest.approx(70.0)
    assert detail["attendance"]["below"] is True
    assert detail["attendance"]["assessment_at_risk"] is True  # 003, 5.3
    assert [e["name"] for e in detail["timeline"]] == [
        "open",
        "record_circumstances",
        "refer_fitness_to_study",
        "record_review",
    ]
    assert detail["timeline"][2]["from_stage"] == "Attendance monitoring"
    assert detail["circumstances"] == "Young carer"
    assert detail["action_plan"]["reviews"] == [
        {"reviewed_on": "2026-12-01", "outcome": "met", "notes": ""}
    ]
    assert {(x["template"], x["recipient_kind"]) for x in detail["letters"]} >= {
        ("concern_notice", "learner"),
        ("fitness_to_study_plan", "parent_carer"),
    }
    allowed = {e["event"] for e in detail["events_allowed"]}
    assert allowed == {"review_fitness_to_study", "close"}  # convene_panel is the head's
    assert {e["event"] for e in case_detail(t.head, case.id, today=day)["events_allowed"]} == {
        "review_fitness_to_study",
        "convene_panel",
        "close",
    }


def test_admin_reads_the_case_without_the_circumstances(warned):
    t, _enrolment, case, day = warned
    detail = case_detail(t.admin, case.id, today=day)
    assert detail["circumstances"] == REDACTED
    assert detail["timeline"][1]["data"] == {"circumstances": REDACTED}
    assert "Young carer" not in str(detail)
    assert detail["events_allowed"] == []


def test_out_of_scope_is_not_found(warned):
    t, _enrolment, case, day = warned
    with pytest.raises(NotFound):
        case_detail(t.other_mentor, case.id, today=day)


def test_due_items_for_the_mentor(warned):
    t, enrolment, case, day = warned
    due = due_for(t.mentor, today=day)
    # The decision was taken (option C) and the plan's one review was recorded: nothing due.
    assert due == []
    assert due_for(t.other_mentor, today=day) == []
    fire(t.mentor, case, "add_note", today=day)
    day2 = t.mark(enrolment, "PU")
    run_scan(day2)
    (decision,) = due_for(t.mentor, today=day2)
    assert decision["kind"] == "decision" and decision["case_id"] == case.id


def test_a_learner_sees_their_own_plan(warned, make):
    _t, enrolment, _case, _day = warned
    account = LearnerAccount(learner=enrolment.learner, email="me@example.org", password_hash="x")
    db.session.add(account)
    db.session.flush()
    (plan,) = learner_plans(account)
    assert plan["targets"] == PLAN["targets"]
    other = make.learner()
    stranger = LearnerAccount(learner=other, email="you@example.org", password_hash="x")
    db.session.add(stranger)
    db.session.flush()
    assert learner_plans(stranger) == []


def test_a_caseload_is_the_open_cases_in_scope_the_decision_due_soonest_first(warned):
    t, _enrolment, decided, day = warned
    waiting = t.learner()
    t.mark(waiting, "PPPPPPPUUU")
    run_scan(day)
    opened = enrolment_case(waiting)
    rows = caseload(t.mentor, today=day)
    assert [r["id"] for r in rows] == [opened.id, decided.id]  # no decision due comes last
    assert rows[0]["learner_name"] == waiting.learner.full_name
    assert rows[0]["stage_name"] == "Attendance monitoring"
    assert rows[0]["decision_due_on"] == opened.decision_due_on.isoformat()
    assert rows[1]["stage_name"] == "Fitness to study" and rows[1]["decision_due_on"] is None
    assert caseload(t.other_mentor, today=day) == []
    assert [r["id"] for r in caseload(t.admin, today=day)] == [opened.id, decided.id]
    fire(t.head, decided, "close", today=day, reason="no_further_action")
    assert [r["id"] for r in caseload(t.mentor, today=day)] == [opened.id]


def test_a_learner_reads_the_letters_written_to_them_alone(warned, make):
    _t, enrolment, case, _day = warned
    for job_id in db.session.scalars(select(LetterJob.id).where(LetterJob.case_id == case.id)):
        render_job(job_id)
    account = make.learner_account(enrolment.learner)
    own = db.session.scalars(
        select(Letter)
        .where(Letter.case_id == case.id, Letter.recipient_kind == "learner")
        .order_by(Letter.id.desc())
    ).all()
    letters = learner_letters(account)
    assert [x["reference"] for x in letters] == [x.reference for x in own]
    assert [x["title"] for x in letters] == ["Support plan", "Attendance"]
    assert learner_letters(make.learner_account()) == []
