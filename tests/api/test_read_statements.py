"""What the API's hot reads cost the database: a case read and the case list each run a fixed
number of statements, however long the case's history or however many cases the list holds.

Each request runs in an app context (and a database session) of its own, as when served, so no
object a test or an earlier request loaded spares a lazy load."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, event, func, select

from casework import scope
from casework.cases import queries
from casework.cases.queries import CASE_DETAIL, WITH_PEOPLE
from casework.cases.scan import run_scan
from casework.documents.jobs import render_job
from casework.errors import NotFound
from casework.extensions import db
from casework.models import (
    Case,
    ContactKind,
    EnrolmentTally,
    LetterJob,
    ProgrammeRole,
    ProgrammeStaff,
    ReviewOutcome,
    Role,
    academic_year_of,
)
from casework.policies.rules import rules_of
from casework.registers.tallies import window_of
from casework.registers.thresholds import attendance_summary
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


# token + user + roles; the case with its people, the user's part in it, its enrolment's tally
# (the figures, absence period included: both learners are absent now) and its sets (the
# timeline, the current plan with its reviews, occurrences, due items, letters).
@pytest.mark.parametrize(("who", "expected"), [("head", 2), ("mentor", 2)])
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


def test_each_set_read_with_the_case_is_what_its_own_statement_gives(opened, make, clock):
    """The sets carried as JSON in the case's statement read back as their own statements'
    rows would: the same values of the same types (instants aware, enums members, JSON parsed),
    in the same order."""
    t, _ = opened
    case = long_history(t, make, clock)
    _, _, read = queries._read(t.head, case.id, date(2026, 11, 20))
    arrays = read[-len(queries._SETS) :]
    for rows, array in zip(queries._SETS, arrays, strict=True):
        direct = sorted(queries._rows(rows.statement, {"case_id": case.id}), key=rows.key)
        carried = rows.rows(array)
        assert carried, rows.column.name  # a long history has some of everything
        assert [tuple(r) for r in carried] == [tuple(r) for r in direct], rows.column.name
        assert [[type(v) for v in r] for r in carried] == [[type(v) for v in r] for r in direct]


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


# token + user + roles, the page's rows with the list's length (each case's enrolment, learner
# and policy joined as columns). A policy version's rules are built once in a process, from its
# document read then: the first request to list a case of it has one statement more.
def test_the_case_list_runs_as_many_statements_for_thirty_cases_as_for_three(
    team, clock, served_api, statements
):
    t = team("003-green-labyrinth")
    other = team("000-sek")  # a second policy: its stage names come from its own rules
    db.session.add(ProgrammeStaff(programme=other.programme, user=t.head, role=ProgrammeRole.HEAD))
    grow([t, other], clock, 3)
    api = served_api(t.head)
    api.get("/cases")  # both policies' rules built in this process
    few = statements(api, "/cases")
    grow([t, other], clock, 30)
    listed = api.get("/cases").json
    assert len(listed) == 30
    assert {row["policy"] for row in listed} == {"003-green-labyrinth", "000-sek"}
    assert statements(api, "/cases") == few == 2


def test_a_head_of_another_programme_who_mentors_the_learner_reads_the_case_as_its_mentor(
    opened, make
):
    """The part read with the case is the user's on the case's own programme: heading another
    one makes nobody this case's head of programme."""
    t, case = opened
    both = make.user(Role.HEAD_OF_PROGRAMME, Role.TUTOR_MENTOR, name="Bo Both")
    db.session.add(ProgrammeStaff(programme=t.other_programme, user=both, role=ProgrammeRole.HEAD))
    case.enrolment.mentor_id = both.id
    db.session.commit()
    parts = {
        user.name: scope.read_case(user, case.id, options=WITH_PEOPLE)[1] for user in (t.head, both)
    }
    assert parts == {"Hana Head": {"head_of_programme"}, "Bo Both": {"tutor_mentor"}}
    assert parts == {user.name: scope.case_roles(user, case.enrolment) for user in (t.head, both)}
    with pytest.raises(NotFound):  # heads another programme only: not theirs to see
        scope.read_case(t.outsider_head, case.id, options=WITH_PEOPLE)


@pytest.mark.parametrize("tally", ["answers", "none", "behind a later session"])
def test_the_case_reads_attendance_from_the_tally_only_where_it_answers_for_today(
    opened, make, clock, served_api, tally
):
    """The attendance block is the same figures counted from the marks, whether the tally gives
    them or does not answer (none yet, as before `tallies repair`; or a counted session after
    today, whose mark the tally counts but today's figures must not)."""
    t, case = opened
    enrolment = case.enrolment
    day = date.today()  # the evening of the last day marked (the clock is moved there)
    if tally == "none":
        db.session.execute(
            delete(EnrolmentTally).where(EnrolmentTally.enrolment_id == enrolment.id)
        )
    elif tally == "behind a later session":
        t.mark(enrolment, "PPPPP")  # marked ahead of today: counted by the tally, not today
        stored = db.session.get(EnrolmentTally, (enrolment.id, window_of(academic_year_of(day))))
        assert stored.last_session_at.date() > day
    db.session.commit()
    counted = attendance_summary(rules_of(case.policy), enrolment.id, day)
    read = served_api(t.head).get(f"/cases/{case.id}").json["attendance"]
    assert read == CASE_DETAIL.dump({"attendance": counted})["attendance"]
    assert read["below"] and read["possible"] == 10  # the opening marks: 80%, below 90%


@pytest.mark.parametrize(
    ("path", "in_a_transaction"),
    [("/cases/{case}", False), ("/cases", False), ("/programmes", True)],
)
def test_the_hot_reads_run_outside_a_transaction_on_postgresql(
    opened, served_api, path, in_a_transaction
):
    """The case read and the case list (marked reads_only) send no BEGIN and no ROLLBACK on
    PostgreSQL; a resource not marked reads in a transaction as before, on a connection the
    pool has given back to its default after a hot read."""
    t, case = opened
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite begins no transaction for a read in any case")
    api = served_api(t.head)
    assert api.get(f"/cases/{case.id}").status_code == 200  # a hot read first, on every run
    statuses: list[str] = []

    def note(conn, *_args) -> None:
        statuses.append(conn.connection.dbapi_connection.info.transaction_status.name)

    event.listen(db.engine, "after_cursor_execute", note)
    try:
        assert api.get(path.format(case=case.id)).status_code == 200
    finally:
        event.remove(db.engine, "after_cursor_execute", note)
    assert statuses and set(statuses) == {"INTRANS" if in_a_transaction else "IDLE"}
