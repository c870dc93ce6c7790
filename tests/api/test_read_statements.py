"""What the API's hot reads cost the database: a case read and the case list each run a fixed
number of statements, however long the case's history or however many cases the list holds.

Each request runs in an app context (and a database session) of its own, as when served, so no
object a test or an earlier request loaded spares a lazy load."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from casework.cases.scan import run_scan
from casework.documents.jobs import render_job
from casework.extensions import db
from casework.models import (
    Case,
    ContactKind,
    LetterJob,
    ProgrammeRole,
    ProgrammeStaff,
    ReviewOutcome,
)
from tests.api.conftest import ApiClient
from tests.case_fixtures import PLAN, Team, fire
from tests.views.conftest import PageClient

OPENING = "PPPPPPPPUU"  # 80%: below 90%, the scan opens a case


@pytest.fixture
def served_api(app, make):
    """``served_api(user)``: an API client for ``user`` whose every request is served as in
    production (its own app context), its token's first use (a write) already made."""

    def for_user(user) -> ApiClient:
        from casework.tokens import create_token

        _, secret = create_token(email=user.email, name="tests")
        api = ApiClient(PageClient(app, app.response_class), secret)
        assert api.get("/cases").status_code == 200  # notes the token's use, once a minute
        return api

    return for_user


def long_history(t: Team, make, clock) -> Case:
    """A case with more of everything than a case just opened: contacts (letters), notes
    (events), a second occurrence, an action plan with reviews. Its learner is absent now."""
    enrolment = t.learner(born=date(2010, 5, 1))
    for n in range(3):
        make.contact(enrolment.learner, ContactKind.PARENT_CARER, name=f"Carer {n}", address="1")
    day = t.mark(enrolment, OPENING)
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    for outcome in (ReviewOutcome.PARTLY_MET, ReviewOutcome.NOT_MET):
        review = {"reviewed_on": str(day), "outcome": outcome.value, "notes": "Checked in."}
        fire(t.mentor, case, "record_review", today=day, **review)
    for _ in range(4):
        fire(t.mentor, case, "add_note", today=day)
    day = t.mark(enrolment, "PPU")  # back for two sessions, absent again: a second occurrence
    clock(day)
    run_scan(day)
    for job_id in db.session.scalars(select(LetterJob.id)).all():
        render_job(job_id)
    db.session.commit()
    return case


# token + user + roles, the case with its people, the head's part in it (heads only), the
# timeline, the current plan with its reviews, the figures (totals; the absence period, as both
# learners are absent now), occurrences, due items, letters.
@pytest.mark.parametrize(("who", "expected"), [("head", 10), ("mentor", 9)])
def test_a_case_read_runs_as_many_statements_for_a_long_history_as_for_a_new_case(
    opened, make, clock, served_api, statements, who, expected
):
    t, new = opened
    long = long_history(t, make, clock)
    api = served_api(getattr(t, who))
    assert len(api.get(f"/cases/{long.id}").json["timeline"]) > 8
    assert api.get(f"/cases/{long.id}").json["action_plan"]["reviews"]
    assert api.get(f"/cases/{new.id}").json["action_plan"] is None
    assert statements(api, f"/cases/{new.id}") == expected
    assert statements(api, f"/cases/{long.id}") == expected


def grow(teams: list[Team], clock, cases: int) -> None:
    """Open cases (by the scan) until there are ``cases``, spread over the teams' policies."""
    have = cases_now()
    day = None
    for n in range(have, cases):
        day = teams[n % len(teams)].mark(teams[n % len(teams)].learner(), OPENING)
    clock(day)
    run_scan(day)
    db.session.commit()
    assert cases_now() == cases


def cases_now() -> int:
    return db.session.scalar(select(func.count()).select_from(Case))


# token + user + roles, the count of the list, the page's cases with their enrolments and
# learners, their policies.
def test_the_case_list_runs_as_many_statements_for_thirty_cases_as_for_three(
    team, clock, served_api, statements
):
    t = team("003-green-labyrinth")
    other = team("000-sek")  # a second policy: its stage names come from its own rules
    db.session.add(ProgrammeStaff(programme=other.programme, user=t.head, role=ProgrammeRole.HEAD))
    grow([t, other], clock, 3)
    api = served_api(t.head)
    few = statements(api, "/cases")
    grow([t, other], clock, 30)
    listed = api.get("/cases").json
    assert len(listed) == 30
    assert {row["policy"] for row in listed} == {"003-green-labyrinth", "000-sek"}
    assert statements(api, "/cases") == few == 4
