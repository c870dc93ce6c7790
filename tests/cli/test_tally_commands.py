"""casework tallies check / repair."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from casework.extensions import db
from casework.models import EnrolmentTally
from casework.registers import tallies


@pytest.mark.parametrize("scan_all", [False, True], ids=["by enrolment", "one pass"])
def test_check_finds_wrong_and_missing_tallies_and_repair_mends_them(
    runner, team, monkeypatch, scan_all
):
    if scan_all:  # the recount of many enrolments at once, here for a few
        monkeypatch.setattr(tallies, "_SCAN_ALL", 0)
    t = team()
    right, wrong, missing = (t.learner() for _ in range(3))
    for enrolment in (right, wrong, missing):
        t.mark(enrolment, "PPPUL")
    never_marked = t.learner()  # no marks: needs no tally
    result = runner.invoke(args=["tallies", "check"])
    assert result.exit_code == 0, result.output
    assert "Every tally equals a recount of its marks." in result.output

    db.session.execute(
        update(EnrolmentTally).where(EnrolmentTally.enrolment_id == wrong.id).values(present=9)
    )
    db.session.execute(delete(EnrolmentTally).where(EnrolmentTally.enrolment_id == missing.id))
    db.session.commit()
    result = runner.invoke(args=["tallies", "check"])
    assert result.exit_code == 1
    assert f"enrolment {wrong.id} from 2026-08-01: stored present 9," in result.output
    assert "recounted present 3, late 1," in result.output
    assert f"enrolment {missing.id} from 2026-08-01: stored none;" in result.output
    assert f"enrolment {right.id} " not in result.output
    assert f"enrolment {never_marked.id} " not in result.output
    assert "2 tally(ies) differ from a recount; run 'casework tallies repair'." in result.output

    result = runner.invoke(args=["tallies", "repair"])
    assert result.exit_code == 0, result.output
    assert "Recounted 4 enrolment tallies." in result.output
    result = runner.invoke(args=["tallies", "check"])
    assert result.exit_code == 0, result.output
