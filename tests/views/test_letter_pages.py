"""The letter pages: letters a policy marks for approval are written but wait for the head of
programme, who reads, approves or returns them (with a note) from the case page, the dashboard or
their list; only then may the learner read them. Downloads are the stored bytes, within scope."""

from __future__ import annotations

from sqlalchemy import select

from casework.extensions import db
from casework.machines.audit import verify_chains
from casework.models import CaseEvent, Letter, LetterApproval, LetterJob
from tests.views.conftest import csrf_token, pdf_text, sign_in


def letters_of(case, template: str) -> list[Letter]:
    return db.session.scalars(
        select(Letter).where(Letter.case_id == case.id, Letter.template == template)
    ).all()


def learners_letter(case, template: str) -> Letter:
    (letter,) = [x for x in letters_of(case, template) if x.recipient_kind == "learner"]
    return letter


def job_of(letter: Letter) -> LetterJob:
    db.session.expire_all()
    return db.session.get(LetterJob, letter.job_id)


def approve(client, letter: Letter, back: str = "case"):
    token = csrf_token(client.get("/account/password").text)
    return client.post(f"/letters/{letter.id}/approve", data={"csrf_token": token, "back": back})


def return_with(client, letter: Letter, note: str):
    token = csrf_token(client.get(f"/letters/{letter.id}/return?back=case").text)
    return client.post(
        f"/letters/{letter.id}/return", data={"csrf_token": token, "note": note, "back": "case"}
    )


def test_letters_the_policy_marks_are_written_but_wait_for_the_head(client, written):
    _t, case, account = written
    approvals = {
        job.template: job.approval
        for job in db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id))
    }
    assert approvals == {
        "concern_notice": LetterApproval.NOT_NEEDED,
        "verbal_warning": LetterApproval.NOT_NEEDED,
        "written_warning": LetterApproval.AWAITING,
    }
    warning = learners_letter(case, "written_warning")  # written, so the head can read it
    sign_in(client, account.email)
    page = client.get("/my").text
    assert learners_letter(case, "verbal_warning").reference in page
    assert warning.reference not in page
    assert client.get(f"/my/letters/{warning.id}").status_code == 404


def test_the_head_approves_a_letter_from_the_case_page_and_the_learner_then_reads_it(
    client, new_client, written
):
    t, case, account = written
    warning = learners_letter(case, "written_warning")
    sign_in(client, t.head.email)
    page = client.get(f"/cases/{case.id}").text
    assert "Awaiting approval: not sent" in page
    assert f'action="/letters/{warning.id}/approve"' in page
    assert f'href="/letters/{warning.id}/return?back=case"' in page

    response = approve(client, warning)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/cases/{case.id}#letters"
    job = job_of(warning)
    assert job.approval == LetterApproval.APPROVED
    decision = db.session.get(CaseEvent, job.approval_event_id)
    assert decision.name == "approve_letter" and decision.data == {"letter_id": warning.id}
    assert decision.actor_id == t.head.id and warning.reference in decision.note
    assert list(verify_chains()) == []  # the decision is on the case's audit chain
    page = client.get(f"/cases/{case.id}").text
    assert f'action="/letters/{warning.id}/approve"' not in page
    assert "Approve a letter" in page  # the timeline's words for the change
    # Approving twice is refused in words.
    response = approve(client, warning)
    assert response.status_code == 409
    assert "not waiting for approval: it has been approved already" in response.text

    learner = new_client()
    sign_in(learner, account.email)
    assert warning.reference in learner.get("/my").text
    response = learner.get(f"/my/letters/{warning.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == db.session.get(Letter, warning.id).pdf
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{warning.reference}.pdf"'
    )
    assert case.enrolment.learner.full_name in pdf_text(response.data)


def test_the_head_returns_a_letter_with_a_note_and_it_never_reaches_the_learner(
    client, new_client, written
):
    t, case, account = written
    warning = learners_letter(case, "written_warning")
    sign_in(client, t.head.email)
    form = client.get(f"/letters/{warning.id}/return?back=case")
    assert form.status_code == 200 and "What is wrong with the letter" in form.text
    assert warning.reference in form.text

    response = return_with(client, warning, "  ")
    assert response.status_code == 422
    assert "Enter what is wrong with the letter" in response.text
    assert response.text.count('href="#note"') == 1  # the error summary links to the field
    response = return_with(client, warning, "A note no database keeps: \x00")
    assert response.status_code == 422 and 'href="#note"' in response.text
    assert job_of(warning).approval == LetterApproval.AWAITING

    response = return_with(client, warning, "The review date is wrong.")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/cases/{case.id}#letters"
    job = job_of(warning)
    assert job.approval == LetterApproval.RETURNED
    assert job.approval_note == "The review date is wrong."
    decision = db.session.get(CaseEvent, job.approval_event_id)
    assert decision.name == "return_letter" and decision.note == "The review date is wrong."
    page = client.get(f"/cases/{case.id}").text
    assert "Returned: not sent" in page and "Returned because: The review date is wrong." in page
    assert approve(client, warning).status_code == 409
    assert client.get(f"/letters/{warning.id}/return").status_code == 409

    learner = new_client()
    sign_in(learner, account.email)
    assert warning.reference not in learner.get("/my").text
    assert learner.get(f"/my/letters/{warning.id}").status_code == 404


def test_a_mentor_sees_no_approval_button_and_may_not_approve(client, written):
    t, case, _account = written
    warning = learners_letter(case, "written_warning")
    sign_in(client, t.mentor.email)
    page = client.get(f"/cases/{case.id}").text
    assert "Awaiting approval: not sent" in page
    assert "/approve" not in page and "/return" not in page
    assert "Letters to approve" not in page  # no navigation item either
    assert approve(client, warning).status_code == 403
    assert client.get(f"/letters/{warning.id}/return").status_code == 403
    assert client.get("/letters").status_code == 403
    assert job_of(warning).approval == LetterApproval.AWAITING
    # The mentor reads it all the same: they work on the case.
    assert client.get(f"/letters/{warning.id}").status_code == 200


def test_another_programme_s_head_finds_no_letter(client, written):
    t, case, _account = written
    warning = learners_letter(case, "written_warning")
    sign_in(client, t.outsider_head.email)
    assert client.get(f"/letters/{warning.id}").status_code == 404
    assert approve(client, warning).status_code == 404
    assert client.get(f"/letters/{warning.id}/return").status_code == 404
    assert warning.reference not in client.get("/letters").text
    assert job_of(warning).approval == LetterApproval.AWAITING


def test_the_head_s_list_and_dashboard_show_the_letters_waiting(client, written):
    t, case, _account = written
    waiting = letters_of(case, "written_warning")  # to the learner and to the parent
    assert len(waiting) == 2
    sign_in(client, t.head.email)
    dashboard = client.get("/dashboard").text
    assert "Letters to approve" in dashboard  # the panel, and the navigation item
    listing = client.get("/letters").text
    assert "2 letters waiting, the oldest first" in listing
    for letter in waiting:
        for text in (f'/letters/{letter.id}/approve"', f'href="/letters/{letter.id}"'):
            assert text in dashboard and text in listing
    assert case.enrolment.learner.full_name in listing and "Written warning" in listing

    response = approve(client, waiting[0], back="list")
    assert response.status_code == 303 and response.headers["Location"] == "/letters"
    assert "approved: it can go out" in client.get("/letters").text
    response = approve(client, waiting[1], back="dashboard")
    assert response.headers["Location"] == "/dashboard"
    assert "No letter is waiting for your approval." in client.get("/dashboard").text
    assert "No letter is waiting for your approval." in client.get("/letters").text


def test_staff_download_the_stored_pdf(client, written):
    t, case, _account = written
    warning = learners_letter(case, "written_warning")
    sign_in(client, t.head.email)
    page = client.get(f"/cases/{case.id}").text
    assert f'href="/letters/{warning.id}">Download {warning.reference}' in page
    response = client.get(f"/letters/{warning.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{warning.reference}.pdf"'
    )
    assert response.data == db.session.get(Letter, warning.id).pdf
    assert response.data.startswith(b"%PDF-")
    assert "Written warning" in pdf_text(response.data)
    assert client.get("/letters/999999").status_code == 404


def test_the_learner_area_shows_their_letters_and_current_plan_and_nothing_else(
    client, written, make
):
    t, case, account = written
    stranger = t.learner()
    db.session.commit()
    sign_in(client, account.email)
    page = client.get("/my").text
    assert '<h1 class="govuk-heading-l">Your letters and plan</h1>' in page
    assert "Attend every timetabled session" in page  # the plan's target
    assert "Weekly check-in with the mentor" in page and "1 December 2026" in page
    own = learners_letter(case, "concern_notice")
    assert f'href="/my/letters/{own.id}"' in page
    parents = [x for x in letters_of(case, "concern_notice") if x.recipient_kind != "learner"]
    assert parents and all(client.get(f"/my/letters/{x.id}").status_code == 404 for x in parents)
    assert all(x.reference not in page for x in parents)
    assert stranger.learner.full_name not in page
    assert client.get(f"/letters/{own.id}").status_code == 403  # the staff download
