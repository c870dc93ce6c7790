"""The scan through the API: administrators only; it opens the cases the CLI's scan would."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import Case, LetterJob, LetterStatus
from tests.api.conftest import problem_type


@pytest.fixture
def below(team, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    return t, enrolment, day


@pytest.mark.parametrize("who", ["head", "mentor", "safeguarding"])
def test_only_an_administrator_runs_the_scan(api_as, below, who):
    t, _, day = below
    response = api_as(getattr(t, who)).post("/scan", json={"as_at": day.isoformat()})
    assert response.status_code == 403 and problem_type(response) == "forbidden"
    assert db.session.scalars(select(Case)).all() == []


def test_scan_opens_the_case_and_can_render_its_letters(api_as, below):
    t, enrolment, day = below
    api = api_as(t.admin)
    body = {"as_at": day.isoformat(), "render_letters": True}
    report = api.post("/scan", json=body, headers={"Idempotency-Key": "night-1"})
    assert report.status_code == 200, report.json
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    assert report.json["cases_opened"] == [case.id]
    assert report.json["letters_rendered"] == 1 and report.json["letters_failed"] == 0
    assert {j.status for j in db.session.scalars(select(LetterJob))} == {LetterStatus.RENDERED}
    replay = api.post("/scan", json=body, headers={"Idempotency-Key": "night-1"})
    assert replay.get_data() == report.get_data()
    assert replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("body", [{"as_at": "yesterday"}, {"as_at": "2026-02-30"}, {"x": 1}])
def test_scan_rejects_bad_input(api_as, below, body):
    t, _, _ = below
    response = api_as(t.admin).post("/scan", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
