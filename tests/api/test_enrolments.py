"""Enrolments through the API, and an enrolment's attendance figures as at a day."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.machines.effects import record_occurrence
from casework.models import (
    Case,
    CodeSet,
    Enrolment,
    EnrolmentStatus,
    Learner,
    ProgrammeRole,
    Role,
)
from tests.api.conftest import problem_type
from tests.case_fixtures import PLAN, fire
from tests.records.world import World, build_world, make_user


@pytest.fixture
def w(make) -> World:
    return build_world(make)


@pytest.fixture
def newcomer(make):
    learner = make.learner(given_name="Dana", family_name="Newcomer")
    db.session.commit()
    return learner


def new_enrolment(w: World, learner, **overrides):
    body = {
        **({"learner_id": learner.id} if learner is not None else {}),
        "programme_id": w.programme.id,
        "start_date": "2027-03-01",
        "end_date": "2027-07-16",
        "is_apprentice": True,
        "mentor_id": w.mentor.id,
    }
    return {**body, **overrides}


def enrolments_count() -> int:
    return db.session.scalar(select(func.count(Enrolment.id)))


NEW_LEARNER = {
    "learner_ref": "L900001",
    "given_name": "Dana",
    "family_name": "Newcomer",
    "date_of_birth": "2010-02-03",
    "address": "3 New Street",
}


def with_new_learner(w: World, **overrides):
    """An enrolment of a learner added with it (how an administration officer adds one)."""
    return {"learner": NEW_LEARNER, **new_enrolment(w, None, **overrides)}


@pytest.mark.parametrize("who", ["admin", "officer"])
def test_enrolling_a_learner(api_as, w, newcomer, who):
    # An administrator enrols a learner nobody has enrolled yet; an officer adds them with it.
    body = new_enrolment(w, newcomer) if who == "admin" else with_new_learner(w)
    response = api_as(getattr(w, who)).post("/enrolments", json=body)
    assert response.status_code == 201, response.json
    body = response.json
    learner = db.session.get(Learner, body["learner_id"])
    assert body["academic_year"] == 2026  # March 2027 is in 2026/27
    assert body["learner_ref"] == learner.learner_ref
    assert (learner.id == newcomer.id) is (who == "admin")
    assert body["learner_name"] == "Dana Newcomer"
    assert body["programme_id"] == w.programme.id and body["programme_code"] == "HSC3"
    assert body["start_date"] == "2027-03-01" and body["end_date"] == "2027-07-16"
    assert body["status"] == "active"
    assert (body["is_apprentice"], body["is_dual_registered"]) == (True, False)
    assert body["mentor"] == {"id": w.mentor.id, "name": w.mentor.name, "email": w.mentor.email}
    assert response.headers["Location"].endswith(f"/api/v1/enrolments/{body['id']}")
    # Now enrolled, the learner is the officer's and the mentor's to see.
    for user in (w.officer, w.mentor):
        assert api_as(user).get(f"/enrolments/{body['id']}").json == body
        assert api_as(user).get(f"/learners/{learner.id}").status_code == 200


def test_an_officer_enrols_only_learners_they_see(api_as, w, newcomer):
    """A learner on none of the officer's programmes (on another's, or on none yet) answers as
    one that does not exist: enrolling them would show the officer their details."""
    api = api_as(w.officer)
    for learner_id in (newcomer.id, w.elsewhere.learner_id, 999999):
        body = new_enrolment(w, newcomer, learner_id=learner_id)
        response = api.post("/enrolments", json=body)
        assert response.status_code == 422 and problem_type(response) == "invalid-data"
        assert response.json["errors"] == {"learner_id": [f"There is no learner {learner_id}."]}
    assert enrolments_count() == 3
    # One they see already, through a programme of theirs, they enrol on another year.
    body = new_enrolment(w, w.mine.learner, start_date="2027-09-01", end_date=None)
    assert api.post("/enrolments", json=body).status_code == 201


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {"learner_id": 1},
            {"learner_id": ["Give learner_id or learner, not both."]},
        ),
        (
            {"learner": None},
            {"learner": ["Field may not be null."]},
        ),
        (
            {"learner": {**NEW_LEARNER, "given_name": ""}},
            {"learner": {"given_name": ["Length must be between 1 and 100."]}},
        ),
        (
            {"learner": {**NEW_LEARNER, "learner_ref": "{taken}"}},
            {"learner": {"learner_ref": ["There is already a learner {taken}."]}},
        ),
    ],
)
def test_a_new_learner_with_the_enrolment_is_checked_as_one_alone(api_as, w, change, errors):
    taken = w.elsewhere.learner.learner_ref
    change, errors = (json.loads(json.dumps(x).replace("{taken}", taken)) for x in (change, errors))
    response = api_as(w.officer).post("/enrolments", json={**with_new_learner(w), **change})
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert response.json["errors"] == errors
    assert enrolments_count() == 3 and db.session.scalar(select(func.count(Learner.id))) == 3


def test_an_enrolment_names_its_learner(api_as, w, newcomer):
    body = new_enrolment(w, newcomer)
    del body["learner_id"]
    response = api_as(w.admin).post("/enrolments", json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {"learner_id": ["Give learner_id or learner, not both."]}


def test_enrolling_without_a_mentor_or_end(api_as, w, newcomer):
    body = new_enrolment(w, newcomer, mentor_id=None)
    del body["end_date"]
    response = api_as(w.admin).post("/enrolments", json=body)
    assert response.status_code == 201
    assert response.json["mentor"] is None and response.json["end_date"] is None


def test_august_starts_a_new_academic_year(api_as, w):
    body = new_enrolment(w, w.mine.learner, start_date="2027-08-01", end_date=None)
    response = api_as(w.officer).post("/enrolments", json=body)
    assert response.status_code == 201 and response.json["academic_year"] == 2027


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"learner_id": 999999}, "learner_id"),
        ({"learner_id": 0}, "learner_id"),
        ({"learner_id": None}, "learner_id"),
        ({"programme_id": 999999}, "programme_id"),
        ({"programme_id": "HSC3"}, "programme_id"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "2027-13-01"}, "start_date"),
        ({"end_date": "2027-02-28"}, "end_date"),  # before the start
        ({"mentor_id": "head"}, "mentor_id"),  # not a tutor/mentor
        ({"mentor_id": 999999}, "mentor_id"),
        ({"is_apprentice": "sometimes"}, "is_apprentice"),
        ({"status": "withdrawn"}, "status"),  # not on create
    ],
)
def test_enrol_rejects_bad_data(api_as, w, newcomer, overrides, field):
    if overrides.get("mentor_id") == "head":
        overrides = {"mentor_id": w.head.id}
    body = {k: v for k, v in new_enrolment(w, newcomer, **overrides).items() if v is not None}
    response = api_as(w.officer).post("/enrolments", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert field in response.json["errors"], response.json
    assert enrolments_count() == 3


def test_an_inactive_mentor_is_refused(api_as, w, newcomer):
    w.other_mentor.active = False
    db.session.commit()
    body = new_enrolment(w, newcomer, mentor_id=w.other_mentor.id)
    response = api_as(w.admin).post("/enrolments", json=body)
    assert response.json["errors"] == {
        "mentor_id": [f"User {w.other_mentor.id} is not an active tutor / mentor."]
    }


def test_the_same_learner_programme_and_year_twice_is_invalid_data(api_as, w):
    # mine is on HSC3 from September 2026: March 2027 is the same academic year.
    body = new_enrolment(w, w.mine.learner)
    response = api_as(w.officer).post("/enrolments", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    ref = w.mine.learner.learner_ref
    assert response.json["errors"] == {
        "learner_id": [
            f"Learner {ref} is already enrolled on HSC3 in 2026/27 (enrolment {w.mine.id})."
        ]
    }


def test_an_officer_enrols_only_on_their_own_programmes(api_as, w, newcomer):
    # A programme the officer cannot see does not exist for them.
    body = new_enrolment(w, newcomer, programme_id=w.other_programme.id)
    response = api_as(w.officer).post("/enrolments", json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {
        "programme_id": [f"There is no programme {w.other_programme.id}."]
    }


def test_seeing_a_programme_is_not_keeping_it(api_as, w, newcomer):
    # Officer of ENG2 and head of HSC3: sees HSC3, but does not keep its registers.
    both = make_user("Bea Both", Role.ADMINISTRATION_OFFICER, Role.HEAD_OF_PROGRAMME)
    w.link(both, w.other_programme, ProgrammeRole.ADMINISTRATION)
    w.link(both, w.programme, ProgrammeRole.HEAD)
    response = api_as(both).post("/enrolments", json=new_enrolment(w, newcomer))
    assert response.status_code == 403 and problem_type(response) == "forbidden"


@pytest.mark.parametrize("who", ["head", "mentor", "safeguarding"])
def test_others_may_not_enrol(api_as, w, newcomer, who):
    response = api_as(getattr(w, who)).post("/enrolments", json=new_enrolment(w, newcomer))
    assert response.status_code == 403 and problem_type(response) == "forbidden"
    assert enrolments_count() == 3


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("admin", ["mine", "theirs", "elsewhere"]),
        ("officer", ["mine", "theirs"]),
        ("other_officer", ["elsewhere"]),
        ("head", ["mine", "theirs"]),
        ("mentor", ["mine"]),
        ("other_mentor", ["theirs"]),
        ("outsider", []),
    ],
)
def test_who_sees_which_enrolments(api_as, w, who, sees):
    api = api_as(getattr(w, who))
    assert [e["id"] for e in api.get("/enrolments").json] == [getattr(w, n).id for n in sees]
    for name in ("mine", "theirs", "elsewhere"):
        one = api.get(f"/enrolments/{getattr(w, name).id}")
        assert one.status_code == (200 if name in sees else 404)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("programme_id={programme}", ["mine", "theirs"]),
        ("mentor_id={mentor}", ["mine"]),
        ("learner_id={learner}", ["theirs"]),
        ("status=active", ["mine", "theirs", "elsewhere"]),
        ("status=withdrawn", []),
        ("programme_id={programme}&mentor_id={other_mentor}", ["theirs"]),
        ("programme_id={other_programme}&mentor_id={mentor}", []),
    ],
)
def test_list_filters(api_as, w, query, expected):
    query = query.format(
        programme=w.programme.id,
        other_programme=w.other_programme.id,
        mentor=w.mentor.id,
        other_mentor=w.other_mentor.id,
        learner=w.theirs.learner_id,
    )
    listed = api_as(w.admin).get(f"/enrolments?{query}")
    assert [e["id"] for e in listed.json] == [getattr(w, n).id for n in expected]


def test_list_rejects_bad_filters(api_as, w):
    response = api_as(w.admin).get("/enrolments?status=asleep&learner_id=-1")
    assert response.status_code == 422 and set(response.json["errors"]) == {"status", "learner_id"}


def test_list_is_paginated(api_as, make, w):
    extra = [make.enrolment(programme=w.programme) for _ in range(2)]
    db.session.commit()
    response = api_as(w.officer).get("/enrolments?page=2&page_size=3")
    assert [e["id"] for e in response.json] == [extra[1].id]  # mine, theirs, extra0 | extra1
    meta = json.loads(response.headers["X-Pagination"])
    assert (meta["total"], meta["page"], meta["total_pages"]) == (4, 2, 2)


@pytest.mark.parametrize(
    ("query", "listed", "total"),
    [
        ("page=2&page_size=3", 1, 4),  # the length comes with the page's rows
        ("page=3&page_size=3", 0, 4),  # past the end: no rows to carry it, so counted
        (f"page={2**62}&page_size=3", 0, 4),  # an offset no database takes: counted only
        ("page=1&page_size=3&programme_id=999999", 0, 0),  # nothing at all
        ("page=2&page_size=3&programme_id=999999", 0, 0),
    ],
)
def test_a_page_tells_the_length_of_the_whole_list(api_as, make, w, query, listed, total):
    for _ in range(2):
        make.enrolment(programme=w.programme)
    db.session.commit()
    response = api_as(w.officer).get(f"/enrolments?{query}")
    assert response.status_code == 200 and len(response.json) == listed
    assert json.loads(response.headers["X-Pagination"])["total"] == total


def test_an_officer_changes_the_mentor_and_more(api_as, w):
    response = api_as(w.officer).patch(
        f"/enrolments/{w.mine.id}",
        json={
            "mentor_id": w.other_mentor.id,
            "end_date": "2027-06-30",
            "status": "completed",
            "is_dual_registered": True,
        },
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["mentor_id"] == w.other_mentor.id and body["mentor"]["name"] == "Otto Mentor"
    assert (body["end_date"], body["status"], body["is_dual_registered"]) == (
        "2027-06-30",
        "completed",
        True,
    )
    assert body["start_date"] == "2026-09-01"  # not changeable: kept
    # The old mentor no longer sees the learner; the new one does.
    assert api_as(w.mentor).get(f"/enrolments/{w.mine.id}").status_code == 404
    assert api_as(w.other_mentor).get(f"/enrolments/{w.mine.id}").status_code == 200


def test_removing_the_mentor(api_as, w):
    response = api_as(w.admin).patch(f"/enrolments/{w.mine.id}", json={"mentor_id": None})
    assert response.status_code == 200 and response.json["mentor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mentor_id": "officer"}, "mentor_id"),
        ({"mentor_id": 0}, "mentor_id"),
        ({"end_date": "2026-08-31"}, "end_date"),  # the day before the start
        ({"status": "paused"}, "status"),
        ({"status": None}, "status"),
        ({"start_date": "2026-09-02"}, "start_date"),  # the start stays
        ({"programme_id": 1}, "programme_id"),
    ],
)
def test_change_rejects_bad_data(api_as, w, body, field):
    if body.get("mentor_id") == "officer":
        body = {"mentor_id": w.officer.id}
    response = api_as(w.officer).patch(f"/enrolments/{w.mine.id}", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert list(response.json["errors"]) == [field]


@pytest.mark.parametrize(
    ("who", "status"),
    [("mentor", 403), ("head", 403), ("other_officer", 404), ("other_mentor", 404)],
)
def test_who_may_not_change_an_enrolment(api_as, w, who, status):
    response = api_as(getattr(w, who)).patch(
        f"/enrolments/{w.mine.id}", json={"status": "withdrawn"}
    )
    assert response.status_code == status
    assert problem_type(response) == ("forbidden" if status == 403 else "not-found")
    db.session.expire_all()
    assert db.session.get(Enrolment, w.mine.id).status == EnrolmentStatus.ACTIVE


def test_a_retried_enrolment_is_made_once(api_as, w):
    api = api_as(w.officer)
    headers = {"Idempotency-Key": "enrol-dana"}
    first = api.post("/enrolments", json=with_new_learner(w), headers=headers)
    again = api.post("/enrolments", json=with_new_learner(w), headers=headers)
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert enrolments_count() == 4 and db.session.scalar(select(func.count(Learner.id))) == 4


# Attendance figures


@pytest.fixture
def marked(make, w):
    """Ten sessions from Monday 7 September 2026 for mine: 7 present, 1 late, 2 unauthorised
    (the last two, an open absence period), one planned non-attendance."""
    make.register(w.mine, "PPPPPPPLXUU", start=datetime(2026, 9, 7, 9))
    db.session.commit()
    return w


def test_attendance_as_at_a_day(api_as, marked):
    w = marked
    response = api_as(w.mentor).get(f"/enrolments/{w.mine.id}/attendance?as_at=2026-09-30")
    assert response.status_code == 200, response.json
    figures = response.json
    assert figures["enrolment_id"] == w.mine.id
    assert figures["as_at"] == "2026-09-30" and figures["window_start"] == "2026-08-01"
    assert {k: figures[k] for k in ("possible", "attended", "present", "late")} == {
        "possible": 10,
        "attended": 8,
        "present": 7,
        "late": 1,
    }
    assert (figures["authorised"], figures["unauthorised"], figures["not_counted"]) == (0, 2, 1)
    assert figures["after_close"] == 0  # two plain U marks: absences, not arrivals
    assert figures["approved_activity"] == 0 and figures["sessions_missed"] == 2
    assert figures["percent"] == pytest.approx(80.0)
    assert figures["punctuality_percent"] == pytest.approx(87.5)
    assert figures["threshold"] == "below 90%"
    assert figures["evaluable"] is True and figures["below"] is True
    assert figures["assessment_at_risk"] is True  # 003: below 90% puts the exam at risk
    assert figures["absence_period"] == {
        "sessions": 2,
        "started_at": "2026-09-16T09:00:00+01:00",
    }


def test_attendance_counts_only_what_happened_by_the_day(api_as, marked):
    w = marked
    response = api_as(w.officer).get(f"/enrolments/{w.mine.id}/attendance?as_at=2026-09-10")
    figures = response.json
    assert (figures["possible"], figures["attended"]) == (4, 4)
    assert figures["percent"] == pytest.approx(100.0)
    assert figures["evaluable"] is False and figures["below"] is False  # fewer than 10 sessions
    assert figures["absence_period"] is None


def test_attendance_before_any_session(api_as, marked):
    w = marked
    figures = api_as(w.admin).get(f"/enrolments/{w.mine.id}/attendance?as_at=2026-09-01").json
    assert figures["possible"] == 0
    assert figures["percent"] is None and figures["punctuality_percent"] is None


def test_attendance_defaults_to_today(api_as, marked):
    w = marked
    figures = api_as(w.admin).get(f"/enrolments/{w.mine.id}/attendance").json
    assert figures["as_at"] == date.today().isoformat()


@pytest.mark.parametrize("as_at", ["yesterday", "2026-02-30", "0001-01-01", "9999-12-31"])
def test_attendance_rejects_a_bad_day(api_as, marked, as_at):
    response = api_as(marked.admin).get(f"/enrolments/{marked.mine.id}/attendance?as_at={as_at}")
    assert response.status_code == 422 and list(response.json["errors"]) == ["as_at"]


@pytest.mark.parametrize("who", ["other_mentor", "other_officer", "outsider"])
def test_attendance_is_as_visible_as_the_enrolment(api_as, marked, who):
    response = api_as(getattr(marked, who)).get(f"/enrolments/{marked.mine.id}/attendance")
    assert response.status_code == 404 and problem_type(response) == "not-found"


# Ending an enrolment that has an open case


@pytest.fixture
def open_case(team, make, clock):
    """``open_case(policy)``: a case the scan opened on a fresh enrolment under ``policy``."""

    def build(policy_key: str = "003-green-labyrinth"):
        t = team(policy_key)
        enrolment = t.learner()
        absent = "O" if t.programme.policy.code_set is CodeSet.STATUTORY else "U"
        day = t.mark(enrolment, "P" * 8 + absent * 2)
        clock(day)
        run_scan(day)
        case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
        return t, case, day

    return build


def enrolment_row(enrolment_id: int) -> tuple:
    db.session.expire_all()
    e = db.session.get(Enrolment, enrolment_id)
    return (e.status, e.end_date, e.mentor_id, e.is_apprentice, e.is_dual_registered)


@pytest.mark.parametrize(
    ("policy", "status", "event"),
    [
        # At monitoring neither policy can withdraw yet (only after a panel or a removal
        # review): the case is closed first, or taken through the workflow.
        ("003-green-labyrinth", "withdrawn", "close"),
        ("003-green-labyrinth", "completed", "close"),
        ("001-sts", "withdrawn", "close"),
        # No withdrawal in the schools' workflows: the case is closed first.
        ("004-nxt-gen", "withdrawn", "close"),
    ],
)
def test_an_open_case_refuses_ending_the_enrolment(api_as, open_case, policy, status, event):
    t, case, _ = open_case(policy)
    before = enrolment_row(case.enrolment_id)
    body = {"status": status, "end_date": "2027-01-15", "is_dual_registered": True}
    response = api_as(t.admin).patch(f"/enrolments/{case.enrolment_id}", json=body)
    assert response.status_code == 409 and problem_type(response) == "case-open"
    assert (response.json["case_id"], response.json["event"]) == (case.id, event)
    assert f"open case ({case.id})" in response.json["detail"]
    assert f"'{event}'" in response.json["detail"]
    assert enrolment_row(case.enrolment_id) == before  # nothing changed, not even the flags
    assert before[0] == EnrolmentStatus.ACTIVE


def test_a_case_at_a_panel_names_its_withdraw_event(api_as, open_case):
    """Where the case's own stage allows withdrawal, the refusal names that event."""
    t, case, day = open_case("003-green-labyrinth")
    fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    record_occurrence(case, day, 80.0, None)  # as the scan would, after the decision
    db.session.commit()
    fire(t.head, case, "issue_written_warning", today=day, action_plan=PLAN)
    record_occurrence(case, day, 80.0, None)
    db.session.commit()
    panel = {"date": "2027-01-20", "time": "10:00", "place": "Room 4", "members": ["A. Chair"]}
    assert fire(t.head, case, "convene_panel", today=day, panel=panel).stage == "disciplinary_panel"
    response = api_as(t.admin).patch(
        f"/enrolments/{case.enrolment_id}", json={"status": "withdrawn"}
    )
    assert response.status_code == 409 and problem_type(response) == "case-open"
    assert (response.json["case_id"], response.json["event"]) == (case.id, "withdraw")
    monitoring = open_case("003-green-labyrinth")[1]
    refused = api_as(t.admin).patch(
        f"/enrolments/{monitoring.enrolment_id}", json={"status": "withdrawn"}
    )
    assert "withdraws a learner only from 'Disciplinary panel'" in refused.json["detail"]


def test_an_open_case_allows_other_changes(api_as, open_case):
    t, case, _ = open_case()
    body = {"status": "active", "end_date": "2027-01-15", "mentor_id": t.other_mentor.id}
    response = api_as(t.admin).patch(f"/enrolments/{case.enrolment_id}", json=body)
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["end_date"]) == ("active", "2027-01-15")
    assert response.json["mentor_id"] == t.other_mentor.id


def test_an_ended_case_no_longer_holds_the_enrolment(api_as, open_case):
    t, case, day = open_case()
    fire(t.mentor, case, "close", today=day, reason="no_further_action")
    assert case.ended_at is not None
    response = api_as(t.admin).patch(
        f"/enrolments/{case.enrolment_id}", json={"status": "completed"}
    )
    assert response.status_code == 200, response.json
    assert enrolment_row(case.enrolment_id)[0] == EnrolmentStatus.COMPLETED
