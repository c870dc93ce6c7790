"""The record services on their own: what the API cannot easily show (a unique key lost to a
concurrent writer, an inactive actor) and the attendance block shared with case_detail."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from casework.cases.queries import case_detail
from casework.cases.scan import run_scan
from casework.errors import Forbidden, InvalidData, NotFound
from casework.extensions import db
from casework.models import Case, Learner
from casework.policies.rules import rules_of
from casework.records import enrolments, learners, programmes, sessions
from casework.records.common import commit
from casework.registers.thresholds import attendance_summary
from tests.records.world import World, build_world


@pytest.fixture
def w(make) -> World:
    return build_world(make)


def test_a_learner_ref_taken_after_the_check_is_invalid_data(w, monkeypatch):
    # Another request adds L900001 between this one's check and its commit.
    monkeypatch.setattr(learners, "_ref_taken", lambda *args: None)
    taken = w.mine.learner.learner_ref
    values = {
        "learner_ref": taken,
        "given_name": "Dup",
        "family_name": "Licate",
        "date_of_birth": date(2009, 1, 1),
    }
    with pytest.raises(InvalidData) as raised:
        learners.create_learner(w.admin, values)
    assert raised.value.errors == {"learner_ref": [f"There is already a learner {taken}."]}
    # Rolled back: the session is usable and nothing was added.
    assert db.session.scalar(select(Learner.id).where(Learner.family_name == "Licate")) is None


def test_commit_turns_a_lost_unique_key_into_the_fields_error(w):
    db.session.add(
        Learner(
            learner_ref=w.mine.learner.learner_ref,
            given_name="A",
            family_name="B",
            date_of_birth=date(2009, 1, 1),
        )
    )
    with pytest.raises(InvalidData) as raised:
        commit("learner_ref", "Taken.")
    assert raised.value.errors == {"learner_ref": ["Taken."]}
    assert db.session.get(Learner, w.mine.learner_id) is not None


def test_an_inactive_user_sees_nothing_and_writes_nothing(w):
    w.admin.active = False
    db.session.commit()
    assert db.session.scalars(programmes.visible_programmes(w.admin)).all() == []
    assert db.session.scalars(learners.list_learners(w.admin)).all() == []
    assert db.session.scalars(sessions.list_sessions(w.admin)).all() == []
    with pytest.raises(Forbidden):
        programmes.create_programme(w.admin, code="X1", title="X", policy="000-sek")
    with pytest.raises(NotFound):
        enrolments.update_enrolment(w.admin, w.mine.id, {"status": "withdrawn"})


def test_the_case_detail_keeps_its_attendance_block(team, clock, make):
    """case_detail and the enrolment figures share attendance_summary; the case still shows
    only its own seven figures."""
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPLUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    block = case_detail(t.mentor, case.id, today=day)["attendance"]
    assert block == {
        "percent": pytest.approx(80.0),
        "punctuality_percent": pytest.approx(87.5),
        "possible": 10,
        "sessions_missed": 2,
        "threshold": "below 90%",
        "below": True,
        "assessment_at_risk": True,
    }
    summary = attendance_summary(rules_of(case.policy), enrolment.id, day)
    assert {k: summary[k] for k in block} == block
