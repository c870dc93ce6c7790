"""The staff reports: the weekly list of learners below or approaching the threshold (for the
heads of programme and for each tutor or mentor), and the registers not completed in time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.messages.reports import build, build_due
from casework.models import DeliveryMode, OutboxMessage
from tests.messages.conftest import csv_rows, pdf_text, uk

MONDAY = date(2026, 11, 30)


def test_weekly_report_lists_below_and_approaching_for_head_and_each_mentor(team, make):
    t = team("003-green-labyrinth")  # below 90%, early warning within 5 points
    below = t.learner()
    approaching = t.learner(mentor_id=t.other_mentor.id)
    fine = t.learner()
    t.mark(below, "P" * 8 + "UU")  # 80%
    t.mark(approaching, "P" * 15 + "U")  # 93.75%
    t.mark(fine, "P" * 10)
    assert build_due(uk(2026, 11, 30, 6, 59)) == []
    weekly = {
        r.key.split(f"programme:{t.programme.id}:")[1]: r
        for r in build_due(uk(2026, 11, 30, 7, 0))
        if r.name == "weekly_threshold" and r.programme_id == t.programme.id
    }
    head = csv_rows(weekly["head"])
    assert {row["Name"]: row["Status"] for row in head} == {
        below.learner.full_name: "below 90% threshold",
        approaching.learner.full_name: "approaching the threshold",
    }
    assert [row["Name"] for row in csv_rows(weekly[f"mentor:{t.mentor.id}"])] == [
        below.learner.full_name
    ]
    assert [row["Name"] for row in csv_rows(weekly[f"mentor:{t.other_mentor.id}"])] == [
        approaching.learner.full_name
    ]
    assert below.learner.full_name in pdf_text(weekly["head"])
    told = {
        (m.recipient_kind, m.address)
        for m in db.session.scalars(select(OutboxMessage))
        if m.report_id in {r.id for r in weekly.values()}
    }
    assert told == {
        ("staff", t.head.email),
        ("staff", t.mentor.email),
        ("staff", t.other_mentor.email),
    }


def test_the_weekly_report_waits_for_its_day(team):
    t = team("003-green-labyrinth")
    t.mark(t.learner(), "P" * 8 + "UU")
    reports = build_due(uk(2026, 12, 1, 7, 0))  # a Tuesday
    assert "weekly_threshold" not in {r.name for r in reports}


@pytest.mark.parametrize(
    ("mode", "recorded", "late"),
    [
        (DeliveryMode.FACE_TO_FACE, timedelta(minutes=30), False),  # exactly on time
        (DeliveryMode.FACE_TO_FACE, timedelta(minutes=31), True),
        (DeliveryMode.REMOTE, timedelta(hours=9), False),  # the same day is in time
        (DeliveryMode.FACE_TO_FACE, None, True),  # never completed
    ],
)
def test_001_registers_not_completed_in_time(team, make, mode, recorded, late):
    t = team("001-sts")
    learners = [t.learner(), t.learner()]
    start = datetime(2026, 12, 1, 9, 0)
    session = make.session(t.programme, start, delivery_mode=mode, title="Welding")
    make.mark(learners[0], session, "P", recorded_at=uk(2026, 12, 1, 9, 5))
    if recorded is not None:
        at = uk(2026, 12, 1, 9, 0) + recorded
        make.mark(learners[1], session, "P", recorded_at=at)
    db.session.commit()
    (report,) = build("registers_late", date(2026, 12, 1), t.programme)
    rows = csv_rows(report)
    assert bool(rows) is late
    if late:
        assert rows[0]["Status"] == ("completed late" if recorded else "not complete")
        assert rows[0]["Complete by"] == "01 Dec 09:30"
        assert "Welding" in pdf_text(report)


def test_the_registers_report_is_built_the_next_morning_for_the_day_before(team, make):
    t = team("001-sts")
    session = make.session(t.programme, datetime(2026, 12, 1, 9, 0))
    make.mark(t.learner(), session, "P", recorded_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    db.session.commit()
    assert "registers_late" not in {r.name for r in build_due(uk(2026, 12, 2, 6, 59))}
    (report,) = [r for r in build_due(uk(2026, 12, 2, 7, 0)) if r.name == "registers_late"]
    assert report.report_date == date(2026, 12, 1) and report.rows == 1
