"""In a real browser: the head of programme finds the letters waiting for them from the
navigation and the dashboard, returns one with a note (the form refuses it without one) and
approves the other. axe-core checks every page visited."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from casework.extensions import db
from casework.models import Letter, LetterApproval, LetterJob
from tests.views.conftest import PASSWORD


def test_the_head_returns_one_letter_with_a_note_and_approves_the_other(visit, written):
    t, case, _account = written
    learner, parent = sorted(
        db.session.scalars(
            select(Letter).where(Letter.case_id == case.id, Letter.template == "written_warning")
        ),
        key=lambda letter: letter.recipient_kind != "learner",
    )
    tab = visit()
    tab.goto("/sign-in")
    tab.sign_in(t.head.email, PASSWORD)
    panel = tab.page.locator("#approvals + table")
    expect(panel).to_contain_text(learner.recipient_name)
    expect(panel).to_contain_text(parent.recipient_name)
    tab.check_accessible()
    tab.screenshot("dashboard-approvals")

    tab.page.get_by_role("link", name="Letters to approve").click()
    expect(tab.page.get_by_role("heading", name="Letters to approve")).to_be_visible()
    expect(tab.page.get_by_text("2 letters waiting, the oldest first")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("letters-to-approve")

    tab.page.get_by_role("link", name=f"Return letter {parent.reference} with a note").click()
    expect(tab.page.get_by_role("heading", name="Return a letter")).to_be_visible()
    tab.check_accessible()
    tab.refused.add(f"{tab.base_url}/letters/{parent.id}/return")
    tab.page.get_by_role("button", name="Return the letter").click()  # no note
    expect(tab.page.get_by_role("link", name="Enter what is wrong with the letter")).to_be_visible()
    tab.check_accessible()
    tab.page.get_by_label("What is wrong with the letter").fill("The address is out of date.")
    tab.page.get_by_role("button", name="Return the letter").click()
    expect(
        tab.page.get_by_text(f"{parent.reference} returned: it will not be sent")
    ).to_be_visible()
    expect(tab.page.get_by_text("1 letter waiting, the oldest first")).to_be_visible()

    tab.page.get_by_role("button", name=f"Approve letter {learner.reference}").click()
    expect(tab.page.get_by_text(f"{learner.reference} approved: it can go out")).to_be_visible()
    expect(tab.page.get_by_text("No letter is waiting for your approval.")).to_be_visible()
    tab.check_accessible()

    tab.page.get_by_role("link", name="Dashboard").click()
    expect(tab.page.get_by_text("No letter is waiting for your approval.")).to_be_visible()
    db.session.expire_all()
    approvals = {
        job.id: (job.approval, job.approval_note)
        for job in db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id))
    }
    assert approvals[learner.job_id] == (
        LetterApproval.APPROVED,
        f"Approved letter {learner.reference}.",
    )
    assert approvals[parent.job_id] == (LetterApproval.RETURNED, "The address is out of date.")
    assert re.search(r"/dashboard$", tab.page.url)
