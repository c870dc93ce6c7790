"""Absence alerts queued with the marks, through the real register import, on a frozen clock.

Tuesday 1 December 2026: UK time is UTC, so local clocks read as UTC below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import select

from casework.extensions import db
from casework.messages.reports import build
from casework.models import ContactKind, Mark, OutboxMessage, Policy
from casework.models.messages import MessageChannel, MessageStatus
from casework.policies import document_sha256, validated
from casework.registers.importing import import_marks, import_register
from tests.registers.conftest import csv_bytes

DAY = date(2026, 12, 1)
UNDER_18 = date(2009, 6, 1)  # 17 on the day
OVER_18 = date(2008, 1, 1)  # 18 on the day


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def run(*rows: str, clock: datetime | None = None):
    with time_machine.travel(clock or at(10), tick=False):
        return import_register(csv_bytes(*rows), filename="r.csv", imported_by="officer@x.org")


def calling_list(programme) -> list[str]:
    """The learner numbers on the first-day calling list built at 09:05 (the one list staff call
    from: casework.messages.reports)."""
    (report,) = build("first_day_calling", DAY, programme, now=at(9, 5))
    lines = report.csv.decode("utf-8-sig").splitlines()[1:]
    return [line.split(",")[0] for line in lines]


def messages() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


class College:
    """Programmes under 003, 001 and 004 with a session each day, and their learners."""

    def __init__(self, make):
        self.make = make
        self.green = make.programme("003-green-labyrinth", code="GL")
        self.sts = make.programme("001-sts", code="STS")
        self.nxt = make.programme("004-nxt-gen", code="NXT")
        for programme in (self.green, self.sts, self.nxt):
            for day in (30, 1):
                for hour in (9, 13):
                    month = 11 if day == 30 else 12
                    make.session(
                        programme,
                        datetime(2026, month, day, hour),
                        session_ref=f"{programme.code}-{day}-{hour}",
                        title=f"{'Morning' if hour == 9 else 'Afternoon'} workshop",
                    )

    def learner(self, programme, ref: str, born: date = UNDER_18, **kw):
        learner = self.make.learner(learner_ref=ref, date_of_birth=born, given_name="Sam", **kw)
        self.make.enrolment(learner=learner, programme=programme, start_date=date(2026, 9, 1))
        return learner

    def contact(self, learner, kind=ContactKind.PARENT_CARER, **kw):
        kw.setdefault("phone", "07700 900123")
        kw.setdefault("email", "parent@example.org")
        return self.make.contact(learner, kind, **kw)


@pytest.fixture
def college(make):
    built = College(make)
    db.session.commit()
    return built


# --- 003: a text on the first absence of a new period, email after that -----------------------


@pytest.mark.parametrize(
    ("born", "kind", "address"),
    [(UNDER_18, "parent_carer", "07700 900123"), (OVER_18, "learner", "07700 900999")],
)
def test_003_first_absence_of_a_period_texts_the_parent_under_18_or_the_learner(
    college, born, kind, address
):
    learner = college.learner(college.green, "G1", born, phone="07700 900999")
    college.contact(learner)
    db.session.commit()
    run("G1,GL-30-13,P,,,,,", "G1,GL-1-9,U,,,,,")
    (message,) = messages()
    assert (message.channel, message.recipient_kind, message.address) == (
        MessageChannel.SMS,
        kind,
        address,
    )
    assert message.status is MessageStatus.QUEUED
    assert message.due_at == at(10)
    assert "Sam" in message.body and "Morning workshop" in message.body
    assert "Tue 1 Dec at 09:00" in message.body
    assert len(message.body) <= 160  # one text


def test_003_a_second_absence_in_the_period_is_emailed_not_texted(college):
    learner = college.learner(college.green, "G1")
    college.contact(learner)
    db.session.commit()
    run("G1,GL-1-9,U,,,,,")
    run("G1,GL-1-13,A,,illness,,,", clock=at(14))
    first, second = messages()
    assert [first.channel, second.channel] == [MessageChannel.SMS, MessageChannel.EMAIL]
    assert second.address == "parent@example.org"
    assert "Afternoon workshop" in second.subject


def test_003_an_attended_session_starts_a_new_period(college):
    learner = college.learner(college.green, "G1")
    college.contact(learner)
    db.session.commit()
    # Yesterday's absence ended with an attended afternoon: today's is a new period's first.
    run("G1,GL-30-9,U,,,,,", "G1,GL-30-13,P,,,,,", "G1,GL-1-9,U,,,,,")
    (message,) = messages()
    assert message.channel is MessageChannel.SMS
    assert db.session.get(Mark, message.mark_id).session.session_ref == "GL-1-9"


# --- 001: every unauthorised absence to the employer, by email, the same day ------------------


@pytest.mark.parametrize(
    ("codes", "expected"),
    [("UUU", 3), ("AAA", 0), ("UPU", 2), ("PLP", 0)],
)
def test_001_every_unauthorised_mark_emails_the_employer(make, college, codes, expected):
    refs = ["A1", "A2", "A3"]
    for ref in refs:
        apprentice = college.make.learner(learner_ref=ref, date_of_birth=OVER_18)
        make.enrolment(learner=apprentice, programme=college.sts, is_apprentice=True)
        college.contact(apprentice, ContactKind.EMPLOYER, email=f"boss-{ref}@example.org")
    db.session.commit()
    reasons = {"A": "annual_leave"}
    run(
        *(f"{ref},STS-1-9,{c},,{reasons.get(c, '')},,," for ref, c in zip(refs, codes, strict=True))
    )
    sent = messages()
    assert len(sent) == expected
    assert {(m.channel, m.recipient_kind, m.due_at) for m in sent} <= {
        (MessageChannel.EMAIL, "employer", at(10))
    }
    assert len({m.address for m in sent}) == expected


# --- 004: held until 9:00; a parent's report before then cancels it ---------------------------


def test_004_an_absence_with_no_contact_by_9_is_alerted_at_9(college):
    pupil = college.learner(college.nxt, "N1")
    college.contact(pupil)
    db.session.commit()
    run("N1,NXT-1-9,N,,,,,", clock=at(8, 30))
    (message,) = messages()
    assert (message.channel, message.status, message.due_at) == (
        MessageChannel.SMS,
        MessageStatus.QUEUED,
        at(9),
    )
    assert calling_list(college.nxt) == ["N1"]


def test_004_a_parents_report_at_845_cancels_the_held_alert(college):
    pupil = college.learner(college.nxt, "N1")
    college.contact(pupil)
    db.session.commit()
    run("N1,NXT-1-9,N,,,,,", clock=at(8, 30))
    # The parent rings at 08:45; the officer records illness.
    run("N1,NXT-1-9,I,,,,,2026-12-01T08:45", clock=at(8, 50))
    (message,) = messages()
    assert message.status is MessageStatus.CANCELLED
    assert message.reason == (
        "The mark was corrected to I (Illness) at 08:45 on 01/12/2026, "
        "before this was due at 09:00."
    )
    assert calling_list(college.nxt) == []


def test_004_a_report_before_the_register_means_no_alert(college):
    pupil = college.learner(college.nxt, "N1")
    college.contact(pupil)
    db.session.commit()
    run("N1,NXT-1-9,I,,,,,", clock=at(8, 50))
    assert messages() == []


def test_004_an_absence_recorded_after_9_is_due_at_once(college):
    pupil = college.learner(college.nxt, "N1")
    college.contact(pupil)
    db.session.commit()
    run("N1,NXT-1-9,O,,,,,", clock=at(9, 20))
    (message,) = messages()
    assert message.due_at == at(9, 20)


# --- gaps, preferences, repeats, corrections, old registers -----------------------------------


@pytest.mark.parametrize(
    ("contact", "status", "channel", "reason"),
    [
        (
            {"phone": None},
            MessageStatus.NO_ADDRESS,
            MessageChannel.SMS,
            "No mobile number for Alex Parent, parent or carer of Sam",
        ),
        ({"phone": "  "}, MessageStatus.NO_ADDRESS, MessageChannel.SMS, "No mobile number"),
        # Asked for email only: the first-absence message goes by email.
        (
            {"phone": None, "notify_by_email": True},
            MessageStatus.QUEUED,
            MessageChannel.EMAIL,
            None,
        ),
        # Both preferences, or neither: the policy's channel.
        ({"notify_by_sms": True, "notify_by_email": True}, MessageStatus.QUEUED, "sms", None),
        ({"notify_by_sms": False}, MessageStatus.QUEUED, MessageChannel.SMS, None),
    ],
)
def test_a_contacts_address_and_preferences(college, contact, status, channel, reason):
    learner = college.learner(college.green, "G1")
    college.contact(learner, **contact)
    db.session.commit()
    run("G1,GL-1-9,U,,,,,")
    (message,) = messages()
    assert (message.status, message.channel) == (status, channel)
    assert (message.reason or "").startswith(reason or "")
    if reason:
        assert "add one" in message.reason and message.address is None


def test_a_learner_under_18_with_no_parent_on_record_is_a_gap(college):
    college.learner(college.green, "G1")
    db.session.commit()
    run("G1,GL-1-9,U,,,,,")
    (message,) = messages()
    assert message.status is MessageStatus.NO_ADDRESS
    assert message.reason.startswith("Sam Learner")
    assert "has no parent or carer on record" in message.reason


def test_reimporting_the_same_register_queues_nothing_twice(college):
    learner = college.learner(college.green, "G1")
    college.contact(learner)
    db.session.commit()
    rows = ("G1,GL-1-9,U,,,,,", "G1,GL-1-13,U,,,,,")
    run(*rows)
    run(*rows, clock=at(14))
    with time_machine.travel(at(15), tick=False):
        import_marks([r.split(",") for r in rows], source="api", imported_by="officer@x.org")
    assert [m.channel for m in messages()] == [MessageChannel.SMS, MessageChannel.EMAIL]


@pytest.mark.parametrize(
    ("code", "cancelled"),
    [("/", True), ("I", True), ("N", False)],  # present, authorised, still unexplained
)
def test_a_correction_before_sending(college, code, cancelled):
    pupil = college.learner(college.nxt, "N1")
    college.contact(pupil)
    db.session.commit()
    run("N1,NXT-1-9,O,,,,,", clock=at(8, 40))
    run(f"N1,NXT-1-9,{code},,,,,", clock=at(8, 50))
    (message,) = messages()
    if cancelled:
        assert message.status is MessageStatus.CANCELLED
        assert message.reason.startswith(f"The mark was corrected to {code} (")
    else:  # kept, following the mark's new code (the sender compares it before sending)
        assert message.status is MessageStatus.QUEUED
        assert message.mark_code_id == db.session.get(Mark, message.mark_id).code_id


def test_last_months_register_texts_nobody(college):
    learner = college.learner(college.green, "G1")
    college.contact(learner)
    db.session.commit()
    # Yesterday's sessions imported today: outside the window (sessions on the import's day).
    run("G1,GL-30-9,U,,,,,", "G1,GL-30-13,U,,,,,")
    assert messages() == []


def give_notices(key: str, *notices: dict) -> None:
    """Store policy ``key`` with these notices (the fixtures put the shipped file back)."""
    policy = db.session.scalars(select(Policy).where(Policy.key == key)).one()
    document = validated({**policy.document, "notices": list(notices)})
    policy.document, policy.sha256 = document, document_sha256(document)
    db.session.commit()


@pytest.mark.parametrize(
    ("to", "born", "enrolment", "expected"),
    [
        ("learner", UNDER_18, {}, [("learner", "sam@example.org")]),
        ("learner_adult", UNDER_18, {}, []),
        ("learner_adult", OVER_18, {}, [("learner", "sam@example.org")]),
        ("parent_carer", OVER_18, {}, []),
        ("employer", OVER_18, {}, []),
        ("employer", OVER_18, {"is_apprentice": True}, [("employer", "boss@example.org")]),
        ("main_school", UNDER_18, {}, []),
        (
            "main_school",
            UNDER_18,
            {"is_dual_registered": True},
            [("main_school", "office@school.example.org")],
        ),
    ],
)
def test_who_a_notice_reaches(make, college, to, born, enrolment, expected):
    give_notices(
        "004-nxt-gen",
        {"marks": "absent", "occasion": "every", "to": [to], "channel": "email"},
    )
    learner = make.learner(learner_ref="N9", date_of_birth=born, email="sam@example.org")
    make.enrolment(learner=learner, programme=college.nxt, **enrolment)
    college.contact(learner, ContactKind.EMPLOYER, email="boss@example.org")
    college.contact(learner, ContactKind.MAIN_SCHOOL, email="office@school.example.org")
    db.session.commit()
    run("N9,NXT-1-13,I,,,,,")
    assert [(m.recipient_kind, m.address) for m in messages()] == expected


def test_the_hold_is_uk_time_in_summer(make, college):
    """9:00 in June is 08:00 UTC (British Summer Time)."""
    make.session(college.nxt, datetime(2027, 6, 8, 9), session_ref="NXT-JUNE")
    pupil = college.learner(college.nxt, "N1", date(2011, 1, 1))
    college.contact(pupil)
    db.session.commit()
    run("N1,NXT-JUNE,N,,,,,", clock=datetime(2027, 6, 8, 7, 30, tzinfo=UTC))
    (message,) = messages()
    assert message.due_at == datetime(2027, 6, 8, 8, 0, tzinfo=UTC)
