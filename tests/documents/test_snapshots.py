"""Letters say what their event saw, for ever: rendered a month later after the registers
changed, or for a backdated scan, a letter carries the event's date, figures and the case's own
due dates; a letter with no one to reply to is not sent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select

from casework.cases.letter_snapshot import reply_contact
from casework.cases.queries import case_detail
from casework.cases.scan import run_scan
from casework.documents.jobs import pending_jobs, render_jobs
from casework.extensions import db
from casework.models import (
    ActionPlan,
    Case,
    CaseEvent,
    ContactKind,
    DueItem,
    DueKind,
    Letter,
    LetterJob,
    LetterStatus,
    Mark,
    ProgrammeRole,
    ProgrammeStaff,
)
from casework.policies.rules import PolicyRules
from casework.policies.schema import LettersSchema
from tests.cases.conftest import FIGURES, follow, leg_day
from tests.documents.test_letters import long_date, text_of
from tests.machines.test_transition_table import _fast_passwords  # noqa: F401 (autouse)

FIGURES_ON = {leg_day(leg): figures for leg, figures in enumerate(FIGURES)}


def promised_date(job: LetterJob) -> date | None:
    """The date the letter's "what happens next" must name: the case's own due item."""
    event = db.session.get(CaseEvent, job.event_id)
    if job.template == "concern_notice":  # the decision on the occurrence the event opened
        key = f"occurrence:{job.case_id}:1"
    elif job.template == "panel_invitation":
        key = f"event:{event.id}"
    elif job.template == "withdrawal":
        return None  # names the appeal date instead
    else:  # the first review of the plan the event agreed
        plan = db.session.scalars(select(ActionPlan).where(ActionPlan.event_id == event.id)).one()
        return min(
            db.session.scalars(
                select(DueItem.due_on).where(
                    DueItem.kind == DueKind.PLAN_REVIEW,
                    DueItem.source_key.startswith(f"plan:{plan.id}:"),
                )
            )
        )
    return db.session.scalars(select(DueItem.due_on).where(DueItem.source_key == key)).one()


def test_letters_rendered_a_month_later_say_what_their_events_saw(team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1))
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    follow(t, clock, {"disciplinary": [enrolment]})
    # A month on: more sessions marked, and an early mark changed.
    last = t.mark(enrolment, "UUUUU")
    first = db.session.scalars(
        select(Mark).where(Mark.enrolment_id == enrolment.id).order_by(Mark.id)
    ).first()
    first.code = make.code("U")
    db.session.commit()
    clock(last + timedelta(days=30))

    job_ids = pending_jobs()
    assert render_jobs(job_ids) == (len(job_ids), 0)
    checked = set()
    for job in db.session.scalars(select(LetterJob).where(LetterJob.id.in_(job_ids))):
        letter = db.session.scalars(select(Letter).where(Letter.job_id == job.id)).one()
        text = text_of(letter.pdf)
        day = db.session.get(CaseEvent, job.event_id).occurred_at.date()
        attendance, punctuality = FIGURES_ON[day]
        assert f"Date: {long_date(day)}" in text
        assert f"These figures are up to {long_date(day)}" in text
        assert f"Attendance {attendance}" in text and f"Punctuality {punctuality}" in text
        due = promised_date(job)
        if due is not None:
            next_steps = text.split("What happens next", 1)[1].split("Attendance so far")[0]
            assert long_date(due) in next_steps, (job.template, due)
        checked.add(job.template)
    assert checked == {
        "concern_notice",
        "verbal_warning",
        "written_warning",
        "panel_invitation",
        "final_written_warning",
        "withdrawal",
    }


def test_a_backdated_scan_writes_letters_dated_and_figured_as_at_its_date(team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1))
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    scan_day = t.mark(enrolment, "PPPPPPPLUU")  # 80.0% attendance, 87.5% punctuality
    later = t.mark(enrolment, "PPPPPPPPPP")  # after the scan's date: not in its letters
    clock(later + timedelta(days=14))
    run_scan(scan_day)

    assert render_jobs(pending_jobs()) == (2, 0)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    letters = db.session.scalars(select(Letter).where(Letter.case_id == case.id)).all()
    assert len(letters) == 2
    for letter in letters:
        text = text_of(letter.pdf)
        assert f"Date: {long_date(scan_day)}" in text
        assert f"These figures are up to {long_date(scan_day)}" in text
        assert "Attendance 80.0% (8 of 10 sessions)" in text and "Punctuality 87.5%" in text
        assert f"in touch to talk about it by {long_date(case.decision_due_on)}" in text


def test_a_letter_with_no_one_to_reply_to_fails_and_says_why(team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1), mentor_id=None)
    db.session.execute(
        delete(ProgrammeStaff).where(
            ProgrammeStaff.programme_id == t.programme.id,
            ProgrammeStaff.role == ProgrammeRole.HEAD,
        )
    )
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)

    assert render_jobs(pending_jobs()) == (0, 1)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    (row,) = case_detail(t.admin, case.id, today=day)["letters"]
    assert row["status"] == LetterStatus.REFUSED.value  # retrying cannot help: staff must act
    assert row["error"].startswith("This letter names no one to reply to")
    assert db.session.scalars(select(Letter)).all() == []
    assert pending_jobs() == []  # not retried by every later run


def test_without_a_mentor_the_head_of_programme_is_the_contact(team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1), mentor_id=None)
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)

    assert render_jobs(pending_jobs()) == (1, 0)
    text = text_of(db.session.scalars(select(Letter)).one().pdf)
    assert f"please talk to {t.head.name}, head of programme: email {t.head.email}." in text
    assert "programme team" not in text


def test_the_policys_attendance_contact_is_the_last_resort(team, make):
    t = team("003-green-labyrinth")
    enrolment = t.learner(mentor_id=None)
    case = Case(enrolment=enrolment, policy=t.programme.policy)
    db.session.execute(delete(ProgrammeStaff).where(ProgrammeStaff.programme_id == t.programme.id))
    document = t.programme.policy.document
    letters = {**document["letters"], "contact_name": "Attendance Office"}
    with pytest.raises(Exception, match="email or a phone number"):
        LettersSchema().load(letters)
    letters["contact_phone"] = "01632 960123"
    rules = PolicyRules.from_document({**document, "letters": LettersSchema().load(letters)})
    assert reply_contact(case, rules) == {
        "name": "Attendance Office",
        "role": "attendance contact",
        "email": None,
        "phone": "01632 960123",
    }
