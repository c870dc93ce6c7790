"""Before sending, the sender checks that what caused a message still holds: the mark, or the
letter (rendered, and released by the head of programme where the policy holds it)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.messages.sender import send_due
from casework.models import (
    Case,
    ContactKind,
    Letter,
    LetterApproval,
    LetterJob,
    MessageKind,
    MessageStatus,
    OutboxMessage,
)
from tests.case_fixtures import render_letters
from tests.messages.conftest import NOW, message


@pytest.mark.parametrize(
    ("corrected_to", "status", "reason"),
    [
        (None, MessageStatus.SENT, None),
        ("P", MessageStatus.CANCELLED, "the mark was corrected to P before it was sent"),
    ],
)
def test_an_absence_message_goes_only_while_its_mark_still_says_absent(
    app_context, make, mailbox, transports, corrected_to, status, reason
):
    enrolment = make.enrolment()
    mark = make.mark(enrolment, make.session(enrolment.programme), "N")
    db.session.commit()
    row = message(f"absence:mark:{mark.id}:email:contact:1", mark_id=mark.id)
    row.mark_code_id = mark.code_id
    if corrected_to:
        mark.code = make.code(corrected_to)
    db.session.commit()

    send_due(NOW, transports=transports)

    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.status, row.reason) == (status, reason)
    assert len(mailbox.received) == (status == MessageStatus.SENT)


@pytest.fixture
def email_letter(team, make, clock):
    """A 003 case opened by the scan whose parent has an email address and no postal one."""
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1))
    make.contact(
        enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent", email="pat@example.org"
    )
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    job = db.session.scalars(select(LetterJob).where(LetterJob.channel == "email")).one()
    return case, job


@pytest.mark.parametrize(
    ("approval", "status"),
    [
        (LetterApproval.NOT_NEEDED, MessageStatus.SENT),
        (LetterApproval.APPROVED, MessageStatus.SENT),
        (LetterApproval.AWAITING, MessageStatus.WAITING),
        (LetterApproval.RETURNED, MessageStatus.CANCELLED),
    ],
)
def test_a_letter_by_email_waits_for_its_pdf_and_release_then_carries_it(
    app_context, mailbox, transports, email_letter, approval, status
):
    case, job = email_letter
    first = send_due(NOW, transports=transports)  # not rendered yet: queued, waiting
    row = db.session.scalars(select(OutboxMessage)).one()
    assert (first.letters_queued, first.sent, row.status) == (1, 0, MessageStatus.WAITING)
    assert (row.key, row.kind, row.address) == (
        f"letter:job:{job.id}",
        MessageKind.LETTER,
        "pat@example.org",
    )

    render_letters(case)
    job = db.session.get(LetterJob, job.id)
    job.approval = approval
    job.approval_note = "Please add the meeting date" if approval.value == "returned" else None
    db.session.commit()
    second = send_due(NOW, transports=transports)

    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert row.status == status
    assert second.letters_queued == 0
    if status == MessageStatus.SENT:
        [got] = mailbox.received
        assert got["To"] == "Pat Parent <pat@example.org>"
        assert got["Subject"] == row.subject
        [pdf] = got.iter_attachments()
        stored = db.session.scalars(select(Letter).where(Letter.job_id == job.id)).one()
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_content() == stored.pdf  # byte for byte
    else:
        assert mailbox.received == []
    if status == MessageStatus.CANCELLED:
        returned = "the head of programme returned the letter: Please add the meeting date"
        assert row.reason == returned
