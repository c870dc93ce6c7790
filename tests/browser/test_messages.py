"""In a real browser: the head of programme opens Messages from the navigation, filters the
list to the failed messages, opens the failed one, sends it again and sees it queued, its failed
attempts still listed; then finds the contact gaps. axe-core checks every page visited."""

from __future__ import annotations

from playwright.sync_api import expect

from casework.extensions import db
from casework.models import MessageStatus, OutboxMessage
from tests.views.conftest import PASSWORD
from tests.views.test_outbox import outbox  # noqa: F401  (the messages of the opened case)


def test_the_head_filters_the_messages_and_sends_a_failed_one_again(visit, outbox):  # noqa: F811
    tab = visit()
    tab.goto("/sign-in")
    tab.sign_in(outbox.t.head.email, PASSWORD)
    tab.page.get_by_role("link", name="Messages", exact=True).click()
    expect(tab.page.get_by_role("heading", name="Messages", exact=True)).to_be_visible()
    expect(tab.page.get_by_text("4 messages, the newest first")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("messages")

    tab.page.get_by_label("Written on or after").fill("yesterday")
    tab.refused.add(f"{tab.base_url}/messages?status=&kind=&channel=&learner=&from=yesterday&to=")
    tab.page.get_by_role("button", name="Apply filters").click()
    problem = "Enter a date as year-month-day, for example 2026-09-07."
    expect(tab.page.get_by_role("link", name=problem)).to_be_visible()
    tab.check_accessible()
    tab.screenshot("messages-bad-filter")
    tab.page.get_by_label("Written on or after").fill("2026-09-14")
    tab.page.get_by_label("Status").select_option("failed")
    tab.page.get_by_role("button", name="Apply filters").click()
    expect(tab.page.get_by_text("1 message, the newest first")).to_be_visible()
    tab.check_accessible()

    tab.page.get_by_role("link", name=outbox.failed.subject).click()
    expect(tab.page.get_by_role("heading", name="Message to Pat Parent")).to_be_visible()
    attempts = tab.page.locator("#attempts + table tbody tr")
    expect(attempts).to_have_count(2)
    tab.check_accessible()
    tab.screenshot("message-failed")

    tab.page.get_by_role("button", name="Send the message again").click()
    expect(
        tab.page.get_by_text("The message to Pat Parent is queued to be sent again.")
    ).to_be_visible()
    expect(tab.page.locator("strong.govuk-tag")).to_have_text("Queued")
    expect(attempts).to_have_count(3)
    expect(attempts.nth(2)).to_contain_text("Sent again by staff")
    expect(tab.page.get_by_role("button", name="Send the message again")).to_have_count(0)
    tab.check_accessible()
    tab.screenshot("message-resent")
    db.session.expire_all()
    assert db.session.get(OutboxMessage, outbox.failed.id).status is MessageStatus.QUEUED

    tab.page.get_by_role("link", name="Contact gaps").click()
    expect(
        tab.page.get_by_text("No contact for a parent or carer has an email address")
    ).to_be_visible()
    tab.check_accessible()
    tab.screenshot("contact-gaps")
