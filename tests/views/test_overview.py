"""The overview page (GET /) and the data behind it."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import event

from casework.demo import build_demo
from casework.extensions import db
from casework.models import EnrolmentStatus
from casework.registers.overview import percent_text, programme_overview

TODAY = date.today()  # the page shows figures as at today
START = datetime.combine(TODAY - timedelta(days=20), time(9))


def page(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def row_for(html: str, text: str) -> str:
    """The one table row that mentions ``text``."""
    rows = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S) if text in row]
    assert len(rows) == 1, f"{len(rows)} rows mention {text!r}"
    return rows[0]


def cells(row: str) -> list[str]:
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in found]


@pytest.fixture
def college(make):
    """An FE programme (below 90% is a concern) and a statutory one (at or below 90%)."""
    fe = make.programme("003-green-labyrinth", code="HSC3", title="Level 3 Health and Social Care")
    school = make.programme("002-ap-schools", code="APS", title="Key Stage 4 Provision")

    def enrol(programme, ref, given, family, codes, born=date(2000, 1, 1), **kw):
        learner = make.learner(
            learner_ref=ref, given_name=given, family_name=family, date_of_birth=born
        )
        enrolment = make.enrolment(learner, programme, start_date=START.date(), **kw)
        make.register(enrolment, codes, start=START)
        return enrolment

    enrol(fe, "GL001", "Amira", "Steady", "PPPPPPPPPP")  # 100%
    enrol(fe, "GL002", "Ben", "At-Ninety", "PPPPPPPPPU")  # exactly 90%: not below
    enrol(fe, "GL003", "Cara", "O'Drift", "PPLPPPPPUU", born=date(2010, 5, 5))  # 80%, run of 2
    enrol(fe, "GL004", "Dev", "Newcomer", "UPP")  # under the policy's 10 sessions
    enrol(fe, "GL005", "Eve", "Apprentice", "PPPPPPPPPA", is_apprentice=True)
    statutory = ["/"] * 9 + ["O"]
    enrol(school, "AP001", "Finn", "Ninety", statutory, born=date(2011, 2, 2))  # at 90%: below
    return fe, school


def test_empty_state_says_how_to_load_demo_data(client):
    html = page(client)
    assert '<html lang="en-GB">' in html
    assert "No programmes yet" in html
    assert "<code>casework demo</code>" in html
    assert "<table" not in html


def test_lists_programmes_learners_and_their_figures(client, college):
    html = page(client)
    assert "Level 3 Health and Social Care" in html and "Green Labyrinth" in html
    assert "Key Stage 4 Provision" in html and "Alternative provision for schools" in html

    name, ref, age, notes, attendance, punctuality, missed, absence, status = cells(
        row_for(html, "GL003")
    )
    assert name == "Cara O&#39;Drift"  # escaped
    assert ref == "GL003"
    assert int(age) == TODAY.year - 2010 - ((TODAY.month, TODAY.day) < (5, 5))
    assert "Under 18" in notes
    assert (attendance, punctuality, missed) == ("80.0%", "87.5%", "2")
    assert absence.startswith("2 sessions since")
    assert status == "Concern: below 90%"

    assert cells(row_for(html, "GL001"))[4:] == [
        "100.0%",
        "100.0%",
        "0",
        "None",
        "No concern",
    ]
    assert "Apprentice" in cells(row_for(html, "GL005"))[3]


def test_below_threshold_learners_are_marked_in_words(client, college):
    html = page(client)
    assert 'class="below"' in row_for(html, "GL003")
    assert 'class="below"' not in row_for(html, "GL002")  # 90% is not below 90%
    assert cells(row_for(html, "GL002"))[-1] == "No concern"
    # The statutory policy counts 90% as a concern (at or below).
    assert 'class="below"' in row_for(html, "AP001")
    assert cells(row_for(html, "AP001"))[-1] == "Concern: at or below 90%"
    # Too few sessions to judge, even at 66.6%.
    newcomer = cells(row_for(html, "GL004"))
    assert newcomer[4] == "66.6%"
    assert newcomer[-1] == "Not yet evaluated (3 of 10 sessions)"
    words = re.sub(r"\s+", " ", html)
    assert "1 of 5 learners below 90%" in words  # counted per programme
    assert "1 of 1 learner at or below 90%" in words


def test_lowest_attendance_first_within_each_programme(client, college):
    html = page(client)
    order = [html.index(ref) for ref in ("GL004", "GL003", "GL002", "GL005", "GL001")]
    assert order == sorted(order)  # 66.6%, 80%, then 90% and 90% by name, then 100%


def test_programme_overview_returns_plain_data(college):
    overview = {p.code: p for p in programme_overview(TODAY)}
    assert set(overview) == {"HSC3", "APS"}
    hsc = overview["HSC3"]
    assert (hsc.provider, hsc.threshold_percent, hsc.threshold_inclusive) == (
        "Green Labyrinth",
        90.0,
        False,
    )
    assert [row.learner_ref for row in hsc.learners] == [
        "GL004",
        "GL003",
        "GL002",
        "GL005",
        "GL001",
    ]
    cara = hsc.learners[1]
    assert cara.attendance_percent == 80.0 and cara.punctuality_percent == 87.5
    assert (cara.sessions_missed, cara.absence_period_sessions) == (2, 2)
    assert cara.absence_period_started == START + timedelta(days=8)
    assert cara.under_18 and cara.below_threshold and cara.evaluated
    assert not any(isinstance(value, db.Model) for value in vars(cara).values())
    assert overview["APS"].threshold_inclusive and overview["APS"].learners[0].below_threshold


def test_withdrawn_enrolments_are_left_out(make, client):
    programme = make.programme(title="Level 2 Hair and Beauty")
    make.enrolment(
        programme=programme,
        learner=make.learner(learner_ref="GONE1"),
        status=EnrolmentStatus.WITHDRAWN,
    )
    make.enrolment(programme=programme, learner=make.learner(learner_ref="HERE1"))
    html = page(client)
    assert "HERE1" in html and "GONE1" not in html
    assert cells(row_for(html, "HERE1"))[4] == "none yet"


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (Fraction(1), "100.0%"),
        (Fraction(2, 3), "66.6%"),
        (Fraction(8997, 10000), "89.9%"),  # truncated: never shows 90.0% for a learner below 90%
        (Fraction(0), "0.0%"),
        (None, "none yet"),
    ],
)
def test_percent_text(share, text):
    assert percent_text(share) == text


def test_the_demo_on_the_page(client):
    summary = build_demo(TODAY)
    html = page(client)
    assert html.count('<th scope="row">') == summary.learners
    for title in (
        "Steps into Work",
        "Business Administrator Level 3 Apprenticeship",
        "Key Stage 4 Alternative Provision",
        "Level 3 Health and Social Care",
        "Supplementary Provision",
    ):
        assert title in html
    assert html.count('class="below"') >= 5
    assert "Dual registered" in html and "Apprentice" in html


def test_overview_runs_a_handful_of_queries_whatever_the_learners(app_context):
    build_demo(TODAY)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        overview = programme_overview(TODAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert sum(len(p.learners) for p in overview) >= 55
    assert len(statements) <= 5
