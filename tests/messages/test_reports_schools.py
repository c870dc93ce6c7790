"""The schools' reports on a frozen clock: 002's present-or-absent report per session, within 30
minutes of the start; 004's daily report by 9:15 with every student, and its calling list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from casework.extensions import db
from casework.messages import reports
from casework.messages.reports import build, build_due
from casework.messages.sender import send_due
from casework.models import (
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Report,
)
from tests.messages.conftest import SCHOOL_A, SCHOOL_B, csv_rows, pdf_text, uk

DAY = date(2026, 12, 1)  # a Tuesday, GMT
START = datetime(2026, 12, 1, 10, 0)  # local wall-clock, as sessions are kept
SUMMER_DAY = date(2026, 10, 13)  # BST: UK time is UTC + 1


def _messages() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.key)))


@pytest.fixture
def ap_session(team, make, pupil, mark_at):
    """A 002 session at 10:00 with three pupils from two schools: one present, one absent, one
    not yet marked."""
    t = team("002-ap-schools")
    present = pupil(t, "Present")
    absent = pupil(t, "Absent")
    unmarked = pupil(t, "Unmarked", school=SCHOOL_B)
    session = make.session(t.programme, START, title="Maths")
    mark_at(present, session, "/", uk(2026, 12, 1, 10, 2))
    mark_at(absent, session, "O", uk(2026, 12, 1, 10, 3))
    db.session.commit()
    return t, session, present, absent, unmarked


@pytest.mark.parametrize(
    ("after", "built"),
    [
        (timedelta(0), False),
        (timedelta(minutes=19, seconds=59), False),
        (timedelta(minutes=20), True),
    ],
)
def test_002_a_session_report_is_built_20_minutes_after_the_start(ap_session, after, built):
    _t, session, *_ = ap_session
    reports = build_due(uk(2026, 12, 1, 10, 0) + after)
    assert bool(reports) is built
    for report in reports:
        assert report.session_id == session.id
        assert report.built_at < uk(2026, 12, 1, 10, 30)


def test_002_a_session_not_started_is_not_reported(ap_session):
    assert build_due(uk(2026, 12, 1, 9, 59)) == []


def test_002_each_school_is_told_of_each_of_its_pupils_present_or_absent(ap_session):
    _t, _session, present, absent, _unmarked = ap_session
    reports = build_due(uk(2026, 12, 1, 10, 20))
    assert len(reports) == 2
    by_rows = {r.rows: r for r in reports}
    school_a, school_b = by_rows[2], by_rows[1]
    rows = {row["Name"]: row["Present or absent"] for row in csv_rows(school_a)}
    assert rows == {present.learner.full_name: "present", absent.learner.full_name: "absent"}
    assert [row["Present or absent"] for row in csv_rows(school_b)] == ["not yet marked"]
    text = pdf_text(school_a)
    assert present.learner.full_name in text and absent.learner.full_name in text
    messages = _messages()
    assert {(m.address, m.report_id) for m in messages} == {
        (SCHOOL_A, school_a.id),
        (SCHOOL_B, school_b.id),
    }
    for message in messages:
        assert message.kind is MessageKind.REPORT
        assert message.status is MessageStatus.QUEUED
        assert message.recipient_kind == "main_school"
        assert message.due_at <= datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def test_002_a_complete_register_is_reported_at_once(ap_session, mark_at):
    _t, session, _present, _absent, unmarked = ap_session
    assert build_due(uk(2026, 12, 1, 10, 5)) == []
    mark_at(unmarked, session, "L", uk(2026, 12, 1, 10, 6), minutes_late=6)
    db.session.commit()
    reports = build_due(uk(2026, 12, 1, 10, 6))
    assert len(reports) == 2
    school_b = next(r for r in reports if r.rows == 1)
    assert [row["Present or absent"] for row in csv_rows(school_b)] == ["present, late"]


def test_building_twice_finds_the_report_and_queues_nothing_more(ap_session):
    first = build_due(uk(2026, 12, 1, 10, 20))
    queued = len(_messages())
    assert build_due(uk(2026, 12, 1, 10, 21)) == []
    again = build("session_present_absent", DAY)
    assert sorted(r.id for r in again) == sorted(r.id for r in first)
    assert db.session.scalar(select(func.count(Report.id))) == 2
    assert len(_messages()) == queued


def test_a_school_with_no_email_is_a_gap_staff_can_fix(team, make, pupil):
    t = team("002-ap-schools")
    pupil(t, "Nomail", school=None)
    make.session(t.programme, START)
    db.session.commit()
    build_due(uk(2026, 12, 1, 10, 20))
    (message,) = _messages()
    assert message.status is MessageStatus.NO_ADDRESS
    assert "has no email address" in message.reason


@pytest.fixture
def nxt_day(team, make, pupil, mark_at):
    """004 on one day, a 09:00 session: a pupil absent with no word from home, one whose parent
    reported illness at 08:45, one present, and one whose report came at 09:01."""
    t = team("004-nxt-gen")
    silent = pupil(t, "Silent")
    reported = pupil(t, "Reported")
    here = pupil(t, "Here", school=SCHOOL_B)
    late_word = pupil(t, "Lateword")
    session = make.session(t.programme, datetime(2026, 12, 1, 9, 0), title="English")
    mark_at(reported, session, "I", uk(2026, 12, 1, 8, 45), absence_reason="illness")
    mark_at(silent, session, "N", uk(2026, 12, 1, 9, 2))
    mark_at(here, session, "L", uk(2026, 12, 1, 9, 4), minutes_late=4)
    mark_at(late_word, session, "I", uk(2026, 12, 1, 9, 1), absence_reason="illness")
    db.session.commit()
    return t, silent, reported, here, late_word


def test_004_the_daily_report_is_built_before_9_15_with_every_student(nxt_day):
    _t, silent, reported, here, late_word = nxt_day
    assert build_due(uk(2026, 12, 1, 9, 4, 59)) == []
    reports = build_due(uk(2026, 12, 1, 9, 5))
    daily = [r for r in reports if r.name == "main_school_daily"]
    assert {r.rows for r in daily} == {3, 1}
    rows = {row["Name"]: row for r in daily for row in csv_rows(r)}
    assert set(rows) == {x.learner.full_name for x in (silent, reported, here, late_word)}
    assert rows[reported.learner.full_name]["Absence reason"] == "illness"
    assert rows[here.learner.full_name]["Attendance"] == "late"
    assert rows[here.learner.full_name]["Minutes late"] == "4"
    for report in daily:
        for name in (row["Name"] for row in csv_rows(report)):
            assert name in pdf_text(report)
    told = [m for m in _messages() if m.recipient_kind == "main_school"]
    assert {m.address for m in told} == {SCHOOL_A, SCHOOL_B}
    assert all(m.due_at < datetime(2026, 12, 1, 9, 15, tzinfo=UTC) for m in told)


def test_004_calling_list_has_who_nobody_called_about_by_9(nxt_day):
    t, silent, _reported, _here, late_word = nxt_day
    (calling,) = build("first_day_calling", DAY, t.programme)
    names = [row["Name"] for row in csv_rows(calling)]
    assert names == sorted([silent.learner.full_name, late_word.learner.full_name])
    assert csv_rows(calling)[0]["Telephone"] == "07700 900123"
    assert silent.learner.full_name in pdf_text(calling)


def test_004_in_summer_time_the_report_waits_for_9_05_uk_time(team, make, pupil):
    t = team("004-nxt-gen")
    pupil(t, "Summer")
    make.session(t.programme, datetime(2026, 10, 13, 9, 0))
    db.session.commit()
    # 08:05 UTC is 09:05 BST.
    assert build_due(datetime(2026, 10, 13, 8, 4, tzinfo=UTC)) == []
    with time_machine.travel(datetime(2026, 10, 13, 8, 5, tzinfo=UTC), tick=False):
        reports = build_due()
    assert {r.name for r in reports} == {"main_school_daily", "first_day_calling"}
    assert all(r.report_date == SUMMER_DAY for r in reports)


@pytest.mark.parametrize(
    ("codes", "born", "flag"),
    [
        ("/////////O", date(2011, 5, 1), "persistent absence"),  # exactly 10% missed
        ("//////////", date(2011, 5, 1), ""),
        ("//////////////////O", date(2011, 5, 1), ""),  # 1 in 19: under 10%
        ("/////OOOOO", date(2011, 5, 1), "severe absence"),  # exactly 50%
        ("//////OOOO", date(2011, 5, 1), "persistent absence"),
        ("/////IIIII", date(2011, 5, 1), "severe absence"),  # authorised absence counts too
        ("/////OOOOO", date(2010, 8, 31), ""),  # 16 on 31 August: past school age
        ("/////OOOO", date(2011, 5, 1), ""),  # under the policy's minimum sessions
    ],
)
def test_persistent_and_severe_absence_flags(team, make, pupil, codes, born, flag):
    t = team("004-nxt-gen")
    enrolment = pupil(t, "Flagged", born=born)
    t.mark(enrolment, codes)
    make.session(t.programme, datetime(2026, 12, 1, 9, 0))
    db.session.commit()
    (report,) = build("main_school_daily", DAY, t.programme)
    (row,) = csv_rows(report)
    assert row["Absence flag"] == flag
    assert row["Attendance"] == "not yet marked"


def test_a_csv_cell_never_starts_a_formula(team, make, pupil):
    t = team("004-nxt-gen")
    pupil(t, "Formula").learner.given_name = "=HYPERLINK(1)"
    make.session(t.programme, datetime(2026, 12, 1, 9, 0))
    db.session.commit()
    (report,) = build("main_school_daily", DAY, t.programme)
    (row,) = csv_rows(report)
    assert row["Name"] == "'=HYPERLINK(1) Formula"
    assert not any(cell.startswith("=") for cell in row.values())


def test_a_build_that_loses_a_race_finds_the_winners_report(team, make, pupil, monkeypatch):
    from casework.messages import reports

    t = team("002-ap-schools")
    pupil(t, "Racer")
    make.session(t.programme, START)
    db.session.commit()
    store = reports._store

    def after_another_process(table, now):
        # Another send-due commits the same report between our look and our insert.
        with db.engine.begin() as other:
            other.execute(
                Report.__table__.insert().values(
                    key=table.key,
                    name=table.name,
                    report_date=table.day,
                    programme_id=table.programme_id,
                    session_id=table.session_id,
                    title="built by the other process",
                    rows=0,
                    csv=b"",
                    pdf=b"",
                    built_at=now,
                )
            )
        return store(table, now)

    monkeypatch.setattr(reports, "_store", after_another_process)
    (report,) = build_due(uk(2026, 12, 1, 10, 20))
    assert report.title == "built by the other process"
    assert db.session.scalar(select(func.count(Report.id))) == 1
    assert _messages() == []  # the winner queues its own messages


def test_send_due_builds_the_reports_that_are_due_then_sends_them(ap_session, runner):
    with time_machine.travel(uk(2026, 12, 1, 10, 20), tick=False):
        result = runner.invoke(args=["send-due"])
        again = runner.invoke(args=["send-due"])

    assert result.exit_code == 0, result.output
    # Standard output only: the log (standard error) names each message sent.
    assert result.stdout == (
        "Reports built: 2 (session_present_absent).\n"
        "Outbox: sent 2, failed 0, retrying 0, cancelled 0.\n"
    )
    assert again.stdout == "Outbox: sent 0, failed 0, retrying 0, cancelled 0.\n"


def test_a_programme_whose_reports_fail_keeps_no_other_school_waiting(
    ap_session, team, pupil, make, runner, monkeypatch
):
    broken = team("002-ap-schools")
    pupil(broken, "Elsewhere")
    make.session(broken.programme, START, title="Art")
    db.session.commit()
    kind = reports.KINDS["session_present_absent"]

    def builder(programme, *args):
        if programme.id == broken.programme.id:
            raise RuntimeError("a fault in this programme's data")
        return kind.builder(programme, *args)

    kind_name = "session_present_absent"
    monkeypatch.setitem(reports.KINDS, kind_name, replace(kind, builder=builder))
    with time_machine.travel(uk(2026, 12, 1, 10, 20), tick=False):
        result = runner.invoke(args=["send-due"])

    assert result.exit_code == 1
    assert result.stdout == (
        f"Reports built: 2 ({kind_name}).\nOutbox: sent 2, failed 0, retrying 0, cancelled 0.\n"
    )
    # After the log's lines (the fault, each message sent), the command's own word.
    assert result.stderr.endswith(
        f"Error: Reports: the reports due for {broken.programme.code} could not be built (the log "
        "says why); the next run tries again.\n"
    )
    assert db.session.scalar(select(func.count()).select_from(Report)) == 2


def test_004_the_daily_report_reaches_each_main_school_before_9_15(nxt_day, mailbox, transports):
    """Built at 09:05 and sent by the same send-due run to a real SMTP server: each school gets
    its own report, the CSV and PDF attached byte for byte as stored, before 9:15."""
    at = uk(2026, 12, 1, 9, 5)
    build_due(at)
    send_due(at, transports=transports)

    for school in (SCHOOL_A, SCHOOL_B):
        (message,) = [m for m in _messages() if m.address == school]
        report = db.session.get(Report, message.report_id)
        assert report.name == "main_school_daily"
        assert message.status is MessageStatus.SENT
        assert message.sent_at < datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
        (email,) = mailbox.to(school)
        attached = {
            part.get_content_type(): part.get_payload(decode=True)
            for part in email.iter_attachments()
        }
        assert attached == {"text/csv": report.csv, "application/pdf": report.pdf}


def test_a_report_email_says_how_much_it_holds(ap_session):
    build_due(uk(2026, 12, 1, 10, 20))
    counts = sorted(m.body.split("\n\n")[1].split(": ", 1)[1][:8] for m in _messages())
    assert counts == ["1 line. ", "2 lines."]
