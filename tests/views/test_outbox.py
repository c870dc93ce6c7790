"""The outbox pages through the real app, signed in as each role: the messages list (scoped to
the user's programmes and mentees, filtered, paginated, bad filters answered in words), one
message with its attempts, sending a failed one again (CSRF, scope, the attempts kept, the
address read afresh) and the contact gaps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import (
    Case,
    Contact,
    ContactKind,
    DeliveryAttempt,
    Enrolment,
    Letter,
    LetterJob,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    User,
)
from casework.routing import MAX_ID
from casework.views.messages import PER_PAGE
from tests.case_fixtures import Team, render_letters
from tests.factories import Factory
from tests.views.conftest import csrf_token, sign_in
from tests.views.test_lists import table_rows

# Before the scan's evening, where the opened case's clock stands (16 September 2026).
WRITTEN = datetime(2026, 9, 14, 10, 0, tzinfo=UTC)


@dataclass
class Outbox:
    t: Team
    mine: Enrolment  # the opened case's learner, mentored by t.mentor
    parent: Contact
    officer: User  # keeps the registers of t.programme
    failed: OutboxMessage  # by text to the parent, two failed attempts
    sent: OutboxMessage
    held: OutboxMessage  # no email address for the parent
    cancelled: OutboxMessage
    elsewhere: OutboxMessage  # on t.other_programme: only its head and the admin see it


@pytest.fixture
def outbox(opened, make: Factory) -> Outbox:
    t, case = opened
    mine = case.enrolment
    parent = mine.learner.contacts[0]
    parent.phone = "07700 900001"
    mine.learner.email = "learner@example.org"
    officer = make.user(Role.ADMINISTRATION_OFFICER, name="Oli Officer")
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    failed = make.outbox_message(
        mine,
        parent,
        status=MessageStatus.FAILED,
        channel=MessageChannel.SMS,
        created_at=WRITTEN,
        last_error="The number is not in service",
    )
    for minutes in (0, 5):
        make.delivery_attempt(
            failed,
            started_at=WRITTEN + timedelta(minutes=minutes),
            error="The number is not in service",
        )
    sent = make.outbox_message(
        mine,
        status=MessageStatus.SENT,
        kind=MessageKind.LETTER,
        created_at=WRITTEN - timedelta(days=3),
        subject="Your letter",
    )
    make.delivery_attempt(sent, "sent", started_at=WRITTEN - timedelta(days=3))
    held = make.outbox_message(
        mine,
        parent,
        status=MessageStatus.NO_ADDRESS,
        created_at=WRITTEN + timedelta(days=1),
        reason="Pat Parent has no email address: add one to send this email.",
    )
    cancelled = make.outbox_message(
        mine,
        parent,
        status=MessageStatus.CANCELLED,
        channel=MessageChannel.SMS,
        created_at=WRITTEN + timedelta(days=2, hours=-1),
        reason="The mark was corrected to present",
    )
    other = make.enrolment(make.learner(given_name="Olive"), t.other_programme)
    elsewhere = make.outbox_message(
        other, status=MessageStatus.FAILED, created_at=WRITTEN, address="olive@example.org"
    )
    db.session.commit()
    return Outbox(t, mine, parent, officer, failed, sent, held, cancelled, elsewhere)


def signed_in(client, user: User):
    response = sign_in(client, user.email)
    assert response.status_code == 303, response.text
    return client


def ids_listed(page: str, outbox: Outbox) -> set[str]:
    names = {
        "failed": outbox.failed,
        "sent": outbox.sent,
        "held": outbox.held,
        "cancelled": outbox.cancelled,
        "elsewhere": outbox.elsewhere,
    }
    return {name for name, m in names.items() if f'href="/messages/{m.id}"' in page}


MINE = {"failed", "sent", "held", "cancelled"}


@pytest.mark.parametrize(
    ("who", "seen"),
    [
        ("admin", MINE | {"elsewhere"}),
        ("head", MINE),
        ("outsider_head", {"elsewhere"}),
        ("officer", MINE),
        ("mentor", MINE),
        ("other_mentor", set()),
    ],
)
def test_each_role_sees_the_messages_of_its_own_scope(client, outbox, who, seen):
    user = outbox.officer if who == "officer" else getattr(outbox.t, who)
    response = signed_in(client, user).get("/messages")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ids_listed(page, outbox) == seen
    assert 'href="/messages/contact-gaps"' in page  # in the navigation
    if not seen:
        assert "There are no messages yet." in page


def test_a_safeguarding_lead_alone_has_no_messages_pages(client, outbox):
    signed_in(client, outbox.t.safeguarding)
    assert 'href="/messages"' not in client.get("/dashboard").get_data(as_text=True)
    for path in ("/messages", f"/messages/{outbox.failed.id}", "/messages/contact-gaps"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "These pages are for administrators" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "seen"),
    [
        ("status=failed", {"failed"}),
        ("status=no_address", {"held"}),
        ("kind=letter", {"sent"}),
        ("channel=sms", {"failed", "cancelled"}),
        ("channel=sms&status=cancelled", {"cancelled"}),
        ("from=2026-09-14&to=2026-09-15", {"failed", "held"}),
        ("to=2026-09-13", {"sent"}),
        ("from=2026-09-16", {"cancelled"}),
        ("learner=nobody", set()),
    ],
)
def test_the_filters_narrow_the_list(client, outbox, query, seen):
    page = signed_in(client, outbox.t.head).get(f"/messages?{query}").get_data(as_text=True)
    assert ids_listed(page, outbox) == seen
    if not seen:
        assert "No messages match these filters." in page


def test_the_learner_filter_takes_a_learner_id_in_any_case(client, outbox):
    ref = outbox.mine.learner.learner_ref.lower()
    page = signed_in(client, outbox.t.admin).get(f"/messages?learner={ref}")
    assert ids_listed(page.get_data(as_text=True), outbox) == MINE


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("status=lost", "Choose a status from the list."),
        ("kind=%00", "Choose a kind of message from the list."),
        ("channel=post", "Choose email or text message."),
        ("from=2026-13-01", "Enter a date as year-month-day, for example 2026-09-07."),
        ("to=yesterday", "Enter a date as year-month-day, for example 2026-09-07."),
        ("from=2026-09-22&to=2026-09-20", "The end date must be the same as or after the start"),
        ("learner=" + "x" * 41, "A learner ID has at most 40 characters."),
        ("learner=a%00b", "A learner ID has at most 40 characters."),
        ("page=0", "The page number must be a whole number, 1 or more."),
        ("page=" + "9" * 30, "The page number must be a whole number, 1 or more."),
        ("page=2", "There is no page 2: the list has 1 page."),
    ],
)
def test_a_bad_filter_is_answered_in_words(client, outbox, query, words):
    response = signed_in(client, outbox.t.head).get(f"/messages?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem with the filters" in page
    assert words in page
    assert "<title>Error: Messages" in page


def test_the_list_is_paginated_keeping_its_filters(client, outbox, make):
    for n in range(PER_PAGE + 2):
        make.outbox_message(
            outbox.mine, status=MessageStatus.SENT, created_at=WRITTEN - timedelta(minutes=n)
        )
    db.session.commit()
    signed_in(client, outbox.t.head)
    first = client.get("/messages?status=sent").get_data(as_text=True)
    assert table_rows(first) == PER_PAGE
    assert "28 messages, the newest first (showing 1 to 25)" in first
    assert 'href="/messages?status=sent&amp;page=2"' in first
    second = client.get("/messages?status=sent&page=2").get_data(as_text=True)
    assert table_rows(second) == 3
    assert "(showing 26 to 28)" in second


def test_the_message_page_shows_its_cause_and_every_attempt(client, outbox):
    response = signed_in(client, outbox.t.head).get(f"/messages/{outbox.failed.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    learner = outbox.mine.learner
    assert f'href="/learners/{learner.id}"' in page
    assert "07700 900001" in page
    assert "Failed" in page and "The number is not in service" in page
    assert page.count("The number is not in service") == 3  # the last error and two attempts
    assert "14 September 2026, 11:00" in page  # the first attempt, in UK time (BST)
    assert "Send the message again" in page
    assert "may have reached" not in page  # its attempts failed: nothing was delivered


@pytest.mark.parametrize("who", ["mentor", "head"])
def test_a_sent_or_cancelled_message_has_no_resend_button(client, outbox, who):
    signed_in(client, getattr(outbox.t, who))
    for message in (outbox.sent, outbox.cancelled):
        page = client.get(f"/messages/{message.id}").get_data(as_text=True)
        assert "Send the message again" not in page
    # A tutor or mentor sees their learner's failed message but does not send it again.
    failed = client.get(f"/messages/{outbox.failed.id}").get_data(as_text=True)
    assert ("Send the message again" in failed) is (who == "head")


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("outsider_head", "/messages/{failed}"),
        ("other_mentor", "/messages/{failed}"),
        ("head", "/messages/{elsewhere}"),
        ("head", f"/messages/{MAX_ID}"),
        ("head", f"/messages/{MAX_ID + 1}"),
        ("head", "/messages/0"),
        ("head", "/messages/-1"),
        ("head", "/messages/abc"),
    ],
)
def test_a_message_outside_the_scope_or_none_is_not_found(client, outbox, who, path):
    signed_in(client, getattr(outbox.t, who))
    url = path.format(failed=outbox.failed.id, elsewhere=outbox.elsewhere.id)
    response = client.get(url)
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def resend(client, message: OutboxMessage, *, token: bool = True):
    page = client.get(f"/messages/{message.id}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page) if token else ""}
    return client.post(f"/messages/{message.id}/resend", data=data)


def reloaded(message: OutboxMessage) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message.id)


@pytest.mark.parametrize("who", ["head", "officer", "admin"])
def test_a_failed_message_is_queued_again_with_its_attempts_kept(client, outbox, who):
    user = outbox.officer if who == "officer" else getattr(outbox.t, who)
    outbox.parent.phone = "07700 900002"  # corrected since it failed
    db.session.commit()
    signed_in(client, user)
    asked = datetime.now(UTC)
    response = resend(client, outbox.failed)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/messages/{outbox.failed.id}"
    message = reloaded(outbox.failed)
    assert message.status is MessageStatus.QUEUED
    assert message.address == "07700 900002"
    assert message.next_attempt_at >= asked
    assert (message.attempts, message.last_error) == (0, None)
    log = [(a.outcome, a.error) for a in message.attempt_log]
    assert log[:2] == [("failed", "The number is not in service")] * 2
    assert log[2][0] == "resend"
    assert f"{user.name} ({user.email})" in log[2][1]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The message to Pat Parent is queued to be sent again." in page
    assert "Queued" in page and "Sent again by staff" in page
    assert "Send the message again" not in page


def test_a_held_message_goes_again_once_the_address_is_there(client, outbox):
    signed_in(client, outbox.t.head)
    response = resend(client, outbox.held)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pat Parent still has no email address: add it on the learner" in page
    assert reloaded(outbox.held).status is MessageStatus.NO_ADDRESS

    outbox.parent.email = "pat@example.org"
    db.session.commit()
    assert resend(client, outbox.held).status_code == 303
    message = reloaded(outbox.held)
    assert (message.status, message.address, message.reason) == (
        MessageStatus.QUEUED,
        "pat@example.org",
        None,
    )


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("cancelled", "This message was cancelled (The mark was corrected to present)"),
        ("sent", "This message has been sent: there is nothing to send again."),
    ],
)
def test_a_message_that_cannot_go_again_is_refused_in_words(client, outbox, name, words):
    message = getattr(outbox, name)
    status = message.status
    signed_in(client, outbox.t.head)
    page = client.get(f"/messages/{message.id}").get_data(as_text=True)
    response = client.post(f"/messages/{message.id}/resend", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert words in client.get(response.headers["Location"]).get_data(as_text=True)
    assert reloaded(message).status is status
    assert (
        db.session.scalars(
            select(DeliveryAttempt).where(
                DeliveryAttempt.message_id == message.id, DeliveryAttempt.outcome == "resend"
            )
        ).all()
        == []
    )


def test_resending_takes_a_csrf_token(client, outbox):
    signed_in(client, outbox.t.head)
    response = resend(client, outbox.failed, token=False)
    assert response.status_code == 400
    assert "The form could not be sent" in response.get_data(as_text=True)
    assert reloaded(outbox.failed).status is MessageStatus.FAILED


@pytest.mark.parametrize(("who", "status"), [("mentor", 403), ("outsider_head", 404)])
def test_resending_is_for_the_programmes_staff(client, outbox, who, status):
    signed_in(client, getattr(outbox.t, who))
    token = csrf_token(client.get("/messages").get_data(as_text=True))
    response = client.post(f"/messages/{outbox.failed.id}/resend", data={"csrf_token": token})
    assert response.status_code == status
    assert reloaded(outbox.failed).status is MessageStatus.FAILED


def test_contact_gaps_say_what_is_missing_why_and_where_to_fix_it(client, new_client, outbox):
    job = db.session.scalars(select(LetterJob).where(LetterJob.recipient_kind == "learner")).first()
    job.channel = "none"
    db.session.commit()
    learner = outbox.mine.learner
    page = signed_in(client, outbox.t.head).get("/messages/contact-gaps").get_data(as_text=True)
    assert learner.full_name in page
    # The held message, with its reason and a link to it.
    assert "Pat Parent has no email address: add one to send this email." in page
    assert f"The message \u201c{outbox.held.subject}\u201d is held until it is added." in page
    assert f'href="/messages/{outbox.held.id}"' in page
    # The letter with no way to reach the learner, linked to its case.
    assert "letter to the learner has no postal address or email address" in page
    assert f'href="/cases/{job.case_id}#letters"' in page
    # 003: a text on the first absence, emails after: an under-18's parent needs an email.
    assert "No contact for a parent or carer has an email address" in page
    assert f"The policy sends an email on later absences. ({outbox.t.programme.title})" in page
    assert "No contact for a parent or carer has a phone number" not in page
    assert f'href="/learners/{learner.id}#contacts"' in page
    # The officer who keeps the programme's contacts sees the letter too, but not its case.
    page = signed_in(new_client(), outbox.officer).get("/messages/contact-gaps").text
    assert "letter to the learner has no postal address or email address" in page
    assert f'href="/cases/{job.case_id}#letters"' not in page
    # Another head sees none of it.
    other = signed_in(new_client(), outbox.t.outsider_head).get("/messages/contact-gaps")
    assert learner.full_name not in other.get_data(as_text=True)


def test_an_employer_and_main_school_need_email_under_their_policies(client, team, make):
    t = team("001-sts")
    apprentice = t.learner(born=date(2000, 1, 1))
    make.contact(apprentice.learner, ContactKind.EMPLOYER, name="Acme Ltd")
    db.session.commit()
    page = signed_in(client, t.head).get("/messages/contact-gaps").get_data(as_text=True)
    assert "No contact for the employer has an email address" in page
    assert "The policy sends an email on every unauthorised absence." in page

    make.contact(apprentice.learner, ContactKind.EMPLOYER, name="Acme HR", email="hr@acme.test")
    db.session.commit()
    page = client.get("/messages/contact-gaps").get_data(as_text=True)
    assert "Nothing is missing" in page


def test_resending_a_message_that_is_gone_is_not_found(client, outbox):
    signed_in(client, outbox.t.head)
    token = csrf_token(client.get("/messages").get_data(as_text=True))
    for message_id in (outbox.elsewhere.id, MAX_ID):
        response = client.post(f"/messages/{message_id}/resend", data={"csrf_token": token})
        assert response.status_code == 404
        assert "Page not found" in response.get_data(as_text=True)
    assert reloaded(outbox.elsewhere).status is MessageStatus.FAILED


def test_the_pages_run_as_many_statements_however_many_rows_they_show(
    client, outbox, make, statements
):
    signed_in(client, outbox.t.head)
    pages = ("/messages", "/messages/contact-gaps")
    before = [statements(client, path) for path in pages]
    for _ in range(5):
        other = make.enrolment(programme=outbox.t.programme)
        parent = make.contact(other.learner, ContactKind.PARENT_CARER, phone="07700 900009")
        make.outbox_message(other, parent, status=MessageStatus.NO_ADDRESS)
    db.session.commit()
    assert [statements(client, path) for path in pages] == before


def test_a_letter_message_links_its_case_and_letter_for_those_who_may_open_them(
    client, new_client, outbox, make
):
    job = db.session.scalars(
        select(LetterJob).where(LetterJob.recipient_kind == "parent_carer")
    ).first()
    render_letters(db.session.get(Case, job.case_id))
    letter = db.session.scalars(select(Letter).where(Letter.job_id == job.id)).one()
    message = make.outbox_message(
        outbox.mine,
        outbox.parent,
        kind=MessageKind.LETTER,
        letter_job_id=job.id,
        address="pat@example.org",
    )
    db.session.commit()
    page = signed_in(client, outbox.t.head).get(f"/messages/{message.id}").text
    assert f'href="/cases/{job.case_id}"' in page
    assert f'href="/letters/{letter.id}"' in page and letter.reference in page
    # An administration officer sees the message but not the case, nor its letter.
    page = signed_in(new_client(), outbox.officer).get(f"/messages/{message.id}").text
    assert f'href="/learners/{outbox.mine.learner_id}"' in page
    assert f"/cases/{job.case_id}" not in page and letter.reference not in page


def test_a_message_that_may_have_been_delivered_warns_before_it_is_sent_again(client, outbox, make):
    make.delivery_attempt(outbox.failed, "unknown", error="the sender stopped after handing it")
    db.session.commit()
    page = signed_in(client, outbox.t.head).get(f"/messages/{outbox.failed.id}").text
    assert "Not known: it may have been delivered" in page
    assert "The last attempt may have reached Pat Parent: check with them" in page
    assert "Send the message again" in page
