"""The signed-in landing pages: a member of staff's caseload, the head's letters to approve and
a learner's own letters, and the statements each runs (the same for many rows as for few)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.cases.service import decide_letter
from casework.extensions import db
from casework.models import Case, ContactKind, Letter
from tests.case_fixtures import TERM_START, render_letters, to_written_warning
from tests.views.conftest import sign_in


def test_a_mentor_sees_the_case_of_their_learner(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    page = client.get("/cases").get_data(as_text=True)
    learner = case.enrolment.learner
    assert learner.full_name in page and learner.learner_ref in page
    assert case.enrolment.programme.code in page
    assert "1 open case," in page
    assert f"{case.decision_due_on.day} {case.decision_due_on:%B %Y}" in page


def test_a_mentor_sees_no_one_elses_cases(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.other_mentor.email)
    page = client.get("/cases").get_data(as_text=True)
    assert "You have no open cases." in page
    assert case.enrolment.learner.full_name not in page


def test_a_learner_sees_the_letters_written_to_them_and_no_staff_page(client, with_letters, make):
    t, case, account = with_letters
    others = t.learner()  # someone else's letters never show
    db.session.commit()
    sign_in(client, account.email)
    page = client.get("/my").get_data(as_text=True)
    letters = db.session.scalars(select(Letter).where(Letter.case_id == case.id)).all()
    own = [letter for letter in letters if letter.recipient_kind == "learner"]
    assert own and all(letter.reference in page for letter in own)
    assert all(letter.reference not in page for letter in letters if letter not in own)
    assert "Attendance" in page  # the letter's title
    assert others.learner.full_name not in page
    response = client.get("/cases")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "This page is for staff." in page
    assert '<a class="govuk-link" href="/my">Go to your letters</a>' in page


def test_staff_have_no_learner_area(client, opened):
    t, _case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    assert client.get("/my").status_code == 403


def test_the_caseload_runs_as_many_statements_for_many_cases_as_for_one(client, opened, statements):
    t, _case = opened
    db.session.commit()
    sign_in(client, t.head.email)
    one = statements(client, "/cases")
    for _ in range(3):
        day = t.mark(t.learner(), "PPPPPPPPUU")
    run_scan(day)  # the day the clock already shows: moving it back would end the session
    db.session.commit()
    assert "4 open cases," in client.get("/cases").text
    assert statements(client, "/cases") == one


def test_the_letters_list_runs_as_many_statements_for_many_letters_as_for_one(
    new_client, written, clock, statements
):
    t, case, _account = written
    client = new_client()
    sign_in(client, t.head.email)
    few = statements(client, "/letters")
    # Two more learners' written warnings, each with a parent's letter too; their sessions
    # follow the first learner's, so that the clock only moves on.
    day = case.opened_on
    for n in range(2):
        enrolment = t.learner(born=date(2010, 5, 1))
        t.factory.contact(
            enrolment.learner, ContactKind.PARENT_CARER, name=f"Carer {n}", address="1 Road"
        )
        t.skip(enrolment, (day - TERM_START.date()).days + 1)
        day = t.mark(enrolment, "PPPPPPPPUU")
        clock(day)
        run_scan(day)
        other = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
        day = to_written_warning(t, other, clock, day)
        render_letters(other)
    db.session.commit()
    client = new_client()  # signed in on the day the clock shows now
    sign_in(client, t.head.email)
    assert "6 letters waiting" in client.get("/letters").text
    assert statements(client, "/letters") == few


def test_the_learner_area_runs_as_many_statements_for_more_letters(new_client, written, statements):
    t, case, account = written
    client = new_client()
    sign_in(client, account.email)
    before = statements(client, "/my")
    for letter in db.session.scalars(select(Letter).where(Letter.case_id == case.id)).all():
        if letter.template == "written_warning":
            decide_letter(actor=t.head, letter_id=letter.id, approve=True)
    page = client.get("/my").text
    assert page.count('href="/my/letters/') == 3  # the written warning now too
    assert statements(client, "/my") == before
