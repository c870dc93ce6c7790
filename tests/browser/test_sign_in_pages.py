"""In a real browser: staff and learners sign in and land where they work; pages work without
JavaScript; every page passes axe-core's WCAG 2.2 A and AA checks."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from casework.extensions import db
from casework.models import Letter
from tests.views.conftest import PASSWORD, pdf_text


def test_a_mentor_signs_in_and_sees_their_caseload(visit, opened):
    t, case = opened
    db.session.commit()
    tab = visit()
    tab.goto("/cases")  # redirected
    expect(tab.page).to_have_url(re.compile(r"/sign-in\?next=%2Fcases$"))
    expect(tab.page.get_by_text("Sign in to see that page.")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("sign-in")

    tab.sign_in(t.mentor.email, "not the password")
    expect(tab.page.get_by_role("heading", name="There is a problem")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("sign-in-error")

    tab.sign_in(t.mentor.email, PASSWORD)
    expect(tab.page).to_have_url(re.compile(r"/cases$"))
    expect(tab.page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    row = tab.page.get_by_role("row", name=re.compile(case.enrolment.learner.full_name))
    expect(row).to_contain_text(case.enrolment.programme.code)
    expect(tab.page.get_by_role("navigation").get_by_text(t.mentor.name)).to_be_visible()
    tab.check_accessible()
    tab.screenshot("caseload")

    tab.page.get_by_role("button", name="Sign out").click()
    expect(tab.page.get_by_text("You have signed out.")).to_be_visible()
    assert tab.goto("/cases").url.endswith("/sign-in?next=%2Fcases")


def test_a_learner_sees_only_their_own_area(visit, written):
    """Their letters (not the written warning still waiting for the head's approval), one
    downloaded and read back, and their action plan."""
    _t, case, account = written
    waiting = db.session.scalars(
        select(Letter).where(Letter.case_id == case.id, Letter.template == "written_warning")
    ).all()
    tab = visit()
    tab.goto("/sign-in")
    tab.sign_in(account.email, PASSWORD)
    expect(tab.page).to_have_url(re.compile(r"/my$"))
    expect(tab.page.get_by_role("heading", name="Your letters and plan")).to_be_visible()
    table = tab.page.get_by_role("table")
    expect(table).to_contain_text("Attendance")
    expect(table).to_contain_text("Confirmation of a verbal warning")
    for letter in waiting:
        expect(table).not_to_contain_text(letter.reference)
    plan = tab.page.locator("main")
    expect(plan.get_by_role("heading", name="Your action plan")).to_be_visible()
    expect(plan).to_contain_text("Attend every timetabled session")
    expect(plan).to_contain_text("Weekly check-in with the mentor")
    tab.check_accessible()
    tab.screenshot("learner-letters")

    row = table.get_by_role("row", name=re.compile("Confirmation of a verbal warning"))
    name, body = tab.download(row.get_by_role("link", name=re.compile("^Download")))
    own = db.session.scalars(
        select(Letter).where(
            Letter.case_id == case.id,
            Letter.template == "verbal_warning",
            Letter.recipient_kind == "learner",
        )
    ).one()
    assert name == f"{own.reference}.pdf" and body == own.pdf
    assert case.enrolment.learner.full_name in pdf_text(body)

    tab.goto("/cases", status=403)
    expect(tab.page.get_by_text("This page is for staff.")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("forbidden")


def test_a_mentor_changes_their_password(visit, opened):
    t, _case = opened
    db.session.commit()
    tab = visit()
    tab.goto("/sign-in")
    tab.sign_in(t.mentor.email, PASSWORD)
    tab.page.get_by_role("link", name="Change password").click()
    expect(tab.page.get_by_role("heading", name="Change your password")).to_be_visible()
    tab.check_accessible()
    tab.page.get_by_label("Current password").fill(PASSWORD)
    tab.page.get_by_label("New password", exact=True).fill("short")
    tab.page.get_by_label("Confirm new password").fill("short")
    tab.page.get_by_role("button", name="Change password").click()
    expect(tab.page.get_by_role("link", name=re.compile("at least 12 characters"))).to_be_visible()
    tab.check_accessible()
    tab.screenshot("change-password-error")

    new = "a much longer passphrase"
    tab.page.get_by_label("Current password").fill(PASSWORD)
    tab.page.get_by_label("New password", exact=True).fill(new)
    tab.page.get_by_label("Confirm new password").fill(new)
    tab.page.get_by_role("button", name="Change password").click()
    expect(tab.page.get_by_text("Your password has been changed.")).to_be_visible()
    tab.check_accessible()


def test_signing_in_and_out_work_without_javascript(visit, opened):
    """The same pages as above with JavaScript off (axe-core needs it on: they are checked
    there)."""
    t, case = opened
    db.session.commit()
    tab = visit(javascript=False)
    tab.goto("/sign-in")
    tab.sign_in(t.mentor.email, PASSWORD)
    tab.page.get_by_role("link", name="Cases", exact=True).click()
    expect(tab.page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    expect(tab.page.get_by_role("table")).to_contain_text(case.enrolment.learner.full_name)
    tab.page.get_by_role("button", name="Sign out").click()
    expect(tab.page.get_by_text("You have signed out.")).to_be_visible()


def test_the_home_page_and_the_api_docs_load_under_the_content_security_policy(visit):
    tab = visit()
    tab.goto("/")
    expect(tab.page.get_by_role("heading", name="casework", exact=True)).to_be_visible()
    tab.check_accessible()
    tab.screenshot("home")
    tab.goto("/api/v1/docs")  # Swagger UI's page, not casework's design: no axe-core here
    # Swagger UI, started by its script file, draws the API's title from the OpenAPI document.
    expect(tab.page.get_by_role("heading", name=re.compile("^casework"))).to_be_visible()


def test_the_sixth_failed_sign_in_in_a_row_is_refused_without_checking_the_password(visit, opened):
    t, _case = opened
    db.session.commit()
    tab = visit()
    tab.goto("/sign-in")
    for _ in range(5):
        tab.sign_in(t.mentor.email, "not the password")
        expect(tab.page.get_by_text("Enter a correct email address and password.")).to_be_visible()
    # The right password now: refused all the same (429), because it is never checked.
    tab.refused.add(tab.base_url + "/sign-in")
    with tab.page.expect_response(tab.base_url + "/sign-in") as response:
        tab.sign_in(t.mentor.email, PASSWORD)
    assert response.value.status == 429
    expect(tab.page.get_by_text("too many wrong passwords for this account").first).to_be_visible()
    expect(tab.page).to_have_url(re.compile(r"/sign-in"))
    tab.check_accessible()
    tab.goto("/cases")
    expect(tab.page).to_have_url(re.compile(r"/sign-in\?next=%2Fcases$"))


def test_a_form_sent_without_its_csrf_token_is_refused(visit, opened):
    t, _case = opened
    db.session.commit()
    tab = visit()
    tab.goto("/sign-in")
    tab.sign_in(t.mentor.email, PASSWORD)
    tab.goto("/account/password")
    tab.page.get_by_label("Current password").fill(PASSWORD)
    tab.page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    tab.page.get_by_label("Confirm new password").fill("a brand new passphrase")
    # What a forged form from another site would lack: casework's token.
    tab.page.locator("main input[name=csrf_token]").evaluate("input => input.remove()")
    tab.refused.add(tab.base_url + "/account/password")
    tab.page.get_by_role("button", name="Change password").click()
    expect(tab.page.get_by_text("The form could not be sent")).to_be_visible()
    tab.check_accessible()
    db.session.expire_all()
    assert t.mentor.check_password(PASSWORD)  # nothing changed
