"""casework scan, verify-audit and diagram, through the real CLI."""

from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import text

from casework.extensions import db
from tests.append_only import lifted


def test_scan_reports_and_a_second_run_changes_nothing(runner, one_case):
    _t, day = one_case
    first = runner.invoke(args=["scan", "--date", day.isoformat()])
    assert first.exit_code == 0, first.output
    assert "cases opened: 1" in first.output
    second = runner.invoke(args=["scan", "--date", day.isoformat()])
    assert "cases opened: 0" in second.output and "Nothing changed." in second.output


def test_scan_rejects_a_bad_date(runner):
    result = runner.invoke(args=["scan", "--date", "31/12/2026"])
    assert result.exit_code == 2
    assert "'31/12/2026' does not match the format '%Y-%m-%d'" in result.output


def test_verify_audit_names_the_altered_event(runner, one_case):
    _t, day = one_case
    runner.invoke(args=["scan", "--date", day.isoformat()])
    intact = runner.invoke(args=["verify-audit"])
    assert intact.exit_code == 0 and "intact" in intact.output
    event_id = db.session.execute(text("SELECT id FROM case_event")).scalar_one()
    with lifted(db.session.connection()):  # as the database's owner could
        db.session.execute(
            text("UPDATE case_event SET note = 'rewritten' WHERE id = :id"), {"id": event_id}
        )
    db.session.commit()
    broken = runner.invoke(args=["verify-audit"])
    assert broken.exit_code == 1
    assert f"event {event_id} (number 1): its content was altered" in broken.output


def test_diagram_writes_mermaid_and_svg_in_the_policys_words(runner, tmp_path, app_context):
    if shutil.which("dot") is None and os.environ.get("CI") != "true":
        pytest.skip("Graphviz is not installed (CI installs it)")
    result = runner.invoke(args=["diagram", "004-nxt-gen", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    mermaid = (tmp_path / "004-nxt-gen.mmd").read_text()
    assert "Joint support plan" in mermaid and "Flag persistent absence" in mermaid
    assert "warning" not in mermaid.lower()  # no disciplinary stage under this policy
    svg = (tmp_path / "004-nxt-gen.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Joint support plan" in svg


def test_diagram_of_an_unknown_policy(runner, app_context):
    result = runner.invoke(args=["diagram", "999-nobody"])
    assert result.exit_code == 1 and "There is no policy '999-nobody'" in result.output


def test_verify_audit_notices_a_stage_changed_outside_casework(runner, one_case):
    _t, day = one_case
    runner.invoke(args=["scan", "--date", day.isoformat()])
    db.session.execute(text("UPDATE attendance_case SET state = 'closed'"))
    db.session.commit()
    broken = runner.invoke(args=["verify-audit"])
    assert broken.exit_code == 1
    assert "stage 'closed' is not where its events leave it ('monitoring')" in broken.output
