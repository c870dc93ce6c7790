"""In a real browser: a mentor opens a learner's case from their caseload and gives a verbal
warning with its action plan through the form; the head of programme issues the written warning
(previewing its letter first), convenes a panel and records a final written warning. axe-core
checks every page visited."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import Letter
from tests.views.conftest import PASSWORD, pdf_text


def next_occurrence(t, case, clock) -> None:
    """Back for two sessions, then absent again: the nightly scan records an occurrence."""
    day = t.mark(case.enrolment, "PPU")
    clock(day)
    run_scan(day)
    db.session.commit()


def fill_plan(form) -> None:
    form.get_by_label("Targets").fill("Attend every timetabled session\nArrive on time")
    form.get_by_label("Support agreed").fill("Weekly check-in with the mentor")
    form.get_by_label("Review dates").fill("1/12/2026")


def open_step(tab, name: str):
    """The step's form: its section opened (a details element)."""
    form = tab.page.locator("details", has=tab.page.get_by_text(name, exact=True))
    form.locator("summary").click()
    return form


def test_a_mentor_and_the_head_take_a_case_from_a_verbal_warning_to_a_final_written_warning(
    visit, opened, clock, app, monkeypatch
):
    t, case = opened
    monkeypatch.setitem(app.config, "RENDER_LETTERS_ON_ACTION", True)  # as served: at once
    db.session.commit()
    learner = case.enrolment.learner

    mentor = visit()
    mentor.goto("/sign-in")
    mentor.sign_in(t.mentor.email, PASSWORD)
    mentor.page.get_by_role("link", name="Cases", exact=True).click()
    mentor.page.get_by_role("link", name=learner.full_name).click()
    expect(mentor.page).to_have_url(re.compile(rf"/cases/{case.id}$"))
    expect(mentor.page.get_by_role("heading", name=learner.full_name)).to_be_visible()
    expect(mentor.page.get_by_role("img", name="The stages of this case's process")).to_be_visible()
    # A mentor has no withdraw step at all at this stage, and no button for it.
    expect(mentor.page.get_by_role("button", name=re.compile("Withdraw"))).to_have_count(0)
    mentor.check_accessible()
    mentor.screenshot("case-page")
    # A withdrawal crafted with the mentor's own session and CSRF token is refused all the same.
    state = case.state
    token = mentor.page.locator("input[name=csrf_token]").first.get_attribute("value")
    crafted = mentor.page.request.post(
        f"{mentor.base_url}/cases/{case.id}/events/withdraw",
        form={
            "csrf_token": token,
            "withdraw-version": str(case.version),
            "withdraw-reason": "Crafted",
            "withdraw-note": "Crafted",
        },
    )
    assert crafted.status == 403
    assert "only the head of programme may take this step" in crafted.text()
    db.session.refresh(case)
    assert case.state == state

    form = open_step(mentor, "Option B: give a verbal warning")
    mentor.refused.add(f"{mentor.base_url}/cases/{case.id}/events/give_verbal_warning")
    form.get_by_role(
        "button", name="Option B: give a verbal warning", exact=True
    ).click()  # nothing typed
    expect(mentor.page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(mentor.page.get_by_role("link", name="Enter at least one target")).to_be_visible()
    mentor.check_accessible()
    mentor.screenshot("case-page-error")

    form = mentor.page.locator("#step-give_verbal_warning")  # reopened with its problems
    fill_plan(form)
    form.get_by_label("Note").fill("Talked it through; agreed the plan.")
    form.get_by_role("button", name="Option B: give a verbal warning", exact=True).click()
    expect(mentor.page.get_by_text("The case is now at 'Verbal warning'")).to_be_visible()
    expect(mentor.page.locator(".moj-timeline")).to_contain_text("Arrive on time")
    mentor.check_accessible()

    next_occurrence(t, case, clock)
    head = visit()
    head.goto("/sign-in")
    head.sign_in(t.head.email, PASSWORD)
    head.goto(f"/cases/{case.id}")
    form = open_step(head, "Issue a written warning")
    fill_plan(form)
    form.get_by_label("Note").fill("A second occurrence after the verbal warning.")
    # Preview the letter first: it opens in a new tab, as a PDF (read here on its way to the
    # tab); nothing is kept.
    previews = []

    def keep(route) -> None:
        response = route.fetch()
        previews.append((response.status, response.headers, response.body()))
        route.fulfill(response=response)

    head.page.context.route(re.compile(r"/events/issue_written_warning/preview$"), keep)
    with head.page.context.expect_page() as tab:
        form.get_by_role("button", name=re.compile("Preview letters")).click()
    tab.value.wait_for_load_state()
    [(status, headers, body)] = previews
    assert status == 200 and headers["content-type"] == "application/pdf"
    assert headers["content-disposition"].startswith("inline;")
    text = pdf_text(body)
    assert "PREVIEW" in text and learner.full_name in text
    tab.value.close()
    head.check_accessible()

    form.get_by_role("button", name="Issue a written warning", exact=True).click()
    expect(head.page.get_by_text("The case is now at 'Written warning'")).to_be_visible()
    head.check_accessible()

    # Its letters wait for the head's approval: they read the learner's, and approve it.
    letter = db.session.scalars(
        select(Letter).where(
            Letter.case_id == case.id,
            Letter.template == "written_warning",
            Letter.recipient_kind == "learner",
        )
    ).one()
    row = head.page.locator("#letters + table tr", has_text=letter.reference)
    expect(row).to_contain_text("Awaiting approval: not sent")
    name, body = head.download(row.get_by_role("link", name=f"Download {letter.reference}"))
    assert name == f"{letter.reference}.pdf" and body == letter.pdf
    text = pdf_text(body)
    assert "PREVIEW" not in text and learner.full_name in text
    row.get_by_role("button", name=f"Approve letter {letter.reference}").click()
    expect(head.page.get_by_text(f"{letter.reference} approved: it can go out")).to_be_visible()
    row = head.page.locator("#letters + table tr", has_text=letter.reference)
    expect(row).to_contain_text("Approved")
    expect(row.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    head.check_accessible()
    head.screenshot("case-page-letter-approved")

    next_occurrence(t, case, clock)
    head.goto(f"/cases/{case.id}")
    form = open_step(head, "Convene a panel")
    form.get_by_label("Day").fill("10")
    form.get_by_label("Month").fill("12")
    form.get_by_label("Year").fill("2026")
    form.get_by_label("Time").fill("10:00")
    form.get_by_label("Place").fill("Meeting room 2")
    form.get_by_label("Members of the panel").fill("Hana Head\nHead of learning support")
    form.get_by_label("Note").fill("The third occurrence.")
    form.get_by_role("button", name="Convene a panel", exact=True).click()
    expect(head.page.get_by_text("The case is now at 'Disciplinary panel'")).to_be_visible()
    expect(head.page.locator("#due")).to_be_visible()
    expect(head.page.get_by_text("Panel at 10:00, Meeting room 2")).to_be_visible()
    head.check_accessible()

    form = open_step(head, "Issue a final written warning")
    form.get_by_label("What the panel decided").fill("A final written warning.")
    fill_plan(form)
    form.get_by_label("Note").fill("The panel met.")
    form.get_by_role("button", name="Issue a final written warning", exact=True).click()
    expect(head.page.get_by_text("The case is now at 'Final written warning'")).to_be_visible()
    expect(head.page.locator("#steps-not-possible")).to_contain_text("Withdraw from the programme")
    head.check_accessible()
    head.screenshot("case-page-final-warning")
    db.session.refresh(case)
    assert case.state == "final_written_warning"
