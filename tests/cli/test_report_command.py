"""casework report: any report on demand as CSV and PDF files, and a clear error for a bad
name, date or programme."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from casework.extensions import db
from casework.models import ContactKind, OutboxMessage


@pytest.fixture
def nxt(team, make):
    t = team("004-nxt-gen")
    enrolment = t.learner()
    make.contact(enrolment.learner, ContactKind.MAIN_SCHOOL, name="School A", email="a@example.org")
    make.session(t.programme, datetime(2026, 12, 1, 9, 0))
    db.session.commit()
    return t, enrolment


def test_report_writes_each_report_as_csv_and_pdf(runner, nxt, tmp_path):
    t, enrolment = nxt
    args = ["report", "main_school_daily", "--date", "2026-12-01", "--out", str(tmp_path)]
    result = runner.invoke(args=[*args, "--programme", t.programme.code])
    assert result.exit_code == 0, result.output
    (csv_file,) = tmp_path.glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8-sig"))))
    assert [row["Name"] for row in rows] == [enrolment.learner.full_name]
    pdf = csv_file.with_suffix(".pdf").read_bytes()
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert enrolment.learner.full_name in text
    # On demand nothing is sent: send-due queues what is due.
    assert db.session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report", "monthly", "--date", "2026-12-01"], "'monthly' is not one of"),
        (["report", "main_school_daily", "--date", "1/12/2026"], "does not match the format"),
        (["report", "main_school_daily"], "Missing option '--date'"),
        (
            ["report", "main_school_daily", "--date", "2026-12-01", "--programme", "NOPE"],
            "there is no programme 'NOPE'",
        ),
    ],
)
def test_bad_input_is_a_usage_error(runner, nxt, args, expected):
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert expected in result.output


def test_a_programme_whose_policy_has_no_such_report(runner, team):
    t = team("003-green-labyrinth")
    db.session.commit()
    args = ["report", "main_school_daily", "--date", "2026-12-01"]
    result = runner.invoke(args=[*args, "--programme", t.programme.code])
    assert result.exit_code == 1
    assert f"Programme {t.programme.code} has no main_school_daily report" in result.output
    assert "Traceback" not in result.output
