"""Marks through the API: the bulk upsert (created, updated, unchanged, history kept), the
all-or-nothing rule with every bad item named, the limit, who may write where, listing with
filters and pages, and idempotent retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Mark, MarkChange, ProgrammeRole, ProgrammeStaff, RegisterImport, Role
from tests.api.conftest import problem_type


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def written() -> tuple[int, int, int]:
    return count(Mark), count(MarkChange), count(RegisterImport)


def item(learner: str, session: str, code: str = "P", **fields) -> dict:
    return {"learner_ref": learner, "session_ref": session, "code": code, **fields}


@pytest.fixture
def world(team, make):
    """Programme A (the team's) with three sessions and programme B with one; L1 on both, L2 on
    A with another mentor, L3 on B only; an administration officer of each programme."""
    t = team()
    a, b = t.programme, make.programme()
    t.officer = make.user(Role.ADMINISTRATION_OFFICER, name="Olu Officer")
    t.officer_b = make.user(Role.ADMINISTRATION_OFFICER, name="Bea Officer")
    db.session.add_all(
        [
            ProgrammeStaff(programme=a, user=t.officer, role=ProgrammeRole.ADMINISTRATION),
            ProgrammeStaff(programme=b, user=t.officer_b, role=ProgrammeRole.ADMINISTRATION),
        ]
    )
    l1, l2, l3 = (make.learner(learner_ref=ref) for ref in ("L1", "L2", "L3"))
    t.l1 = make.enrolment(learner=l1, programme=a, mentor_id=t.mentor.id)
    t.l2 = make.enrolment(learner=l2, programme=a, mentor_id=t.other_mentor.id)
    t.l1_on_b = make.enrolment(learner=l1, programme=b)
    make.enrolment(learner=l3, programme=b)
    for day in (7, 8, 9):
        make.session(a, datetime(2026, 9, day, 9), session_ref=f"A{day}")
    make.session(b, datetime(2026, 9, 7, 13), session_ref="B7")
    db.session.commit()
    return t


# --- writing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "officer"])
def test_post_creates_then_leaves_alone_then_updates_keeping_history(api_as, world, who):
    user = getattr(world, who)
    api = api_as(user)
    batch = [item("L1", "A7"), item("L1", "A8", "N"), item("L2", "A7")]

    first = api.post("/marks", json={"items": batch})
    assert first.status_code == 200, first.json
    assert {k: first.json[k] for k in ("items", "created", "updated", "unchanged")} == {
        "items": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
    }
    assert db.session.get(RegisterImport, first.json["import_id"]).imported_by == user.email
    assert set(db.session.scalars(select(Mark.recorded_by))) == {user.email}

    again = api.post("/marks", json={"items": batch})
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 3)
    assert again.json["import_id"] != first.json["import_id"]
    assert count(MarkChange) == 0

    batch[1] = item("L1", "A8", "A", absence_reason="illness", evidence_ref="GP-1")
    changed = api.post("/marks", json={"items": batch})
    assert (changed.json["created"], changed.json["updated"], changed.json["unchanged"]) == (
        0,
        1,
        2,
    )
    db.session.expire_all()
    change = db.session.scalars(select(MarkChange)).one()
    assert change.previous_code.code == "N"
    assert change.changed_by == user.email
    assert change.import_id == changed.json["import_id"]
    mark = db.session.get(Mark, change.mark_id)
    assert (mark.code.code, mark.absence_reason, mark.evidence_ref) == ("A", "illness", "GP-1")


def test_every_field_lands_as_the_csv_import_would_write_it(api_as, world):
    response = api_as(world.officer).post(
        "/marks",
        json={
            "items": [
                item("L1", "A7", "l", minutes_late=12, recorded_at="2026-09-07T09:12:00"),
                item("L1", "A8", "U", minutes_late=45, recorded_at="2026-09-08T09:00:00Z"),
                item("L1", "A9", "A", absence_reason="medical_appointment", evidence_ref="D-7"),
            ]
        },
    )
    assert response.status_code == 200, response.json
    marks = {m["session_ref"]: m for m in api_as(world.admin).get("/marks?learner_ref=L1").json}
    assert (marks["A7"]["code"], marks["A7"]["minutes_late"]) == ("L", 12)
    assert marks["A7"]["category"] == "late"
    # Without an offset a time is the register's own (UK) clock: 09:12 BST is 08:12 UTC.
    stored = {m.session.session_ref: m.recorded_at for m in db.session.scalars(select(Mark))}
    assert stored["A7"] == datetime(2026, 9, 7, 8, 12, tzinfo=UTC)
    assert stored["A8"] == datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
    assert marks["A9"]["absence_reason"] == "medical_appointment"
    assert marks["A9"]["evidence_ref"] == "D-7"
    assert marks["A9"]["recorded_by"] == world.officer.email


def test_one_bad_item_among_good_ones_writes_nothing_and_every_bad_item_is_named(api_as, world):
    api = api_as(world.officer)
    api.post("/marks", json={"items": [item("L1", "A7")]})
    before = written()

    response = api.post(
        "/marks",
        json={
            "items": [
                item("L1", "A7", "U"),  # a good change that must not land
                item("L9", "A8"),
                item("L2", "A8"),
                item("L2", "A9", "Q"),
                item("L1", "A8", "A"),
                item("L1", "A7", "P"),
            ]
        },
    )
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert response.json["detail"] == "4 of 6 marks are wrong; nothing was written."
    assert response.json["errors"] == {
        "items": {
            "1": {
                "learner_ref": "L9",
                "session_ref": "A8",
                "messages": ["unknown learner 'L9'"],
            },
            "3": {
                "learner_ref": "L2",
                "session_ref": "A9",
                "messages": ["unknown code 'Q' in the further education code set"],
            },
            "4": {
                "learner_ref": "L1",
                "session_ref": "A8",
                "messages": [
                    "code A needs an absence_reason (one of: illness, medical_appointment, "
                    "bereavement, religious_observance, interview, emergency, jury_service, "
                    "annual_leave, work_commitment, exceptional_circumstances)"
                ],
            },
            "5": {
                "learner_ref": "L1",
                "session_ref": "A7",
                "messages": ["duplicates item 0 (same learner and session)"],
            },
        }
    }
    assert written() == before
    assert db.session.scalars(select(Mark)).one().code.code == "P"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"evidence_ref": "=HYPERLINK(1)"}, "evidence_ref starts with '='"),
        ({"evidence_ref": "@SUM(A1)"}, "evidence_ref starts with '@'"),
        ({"recorded_at": "0001-01-01T00:00:00"}, "recorded_at 0001-01-01T00:00:00 is outside"),
        ({"recorded_at": "9999-12-31T23:59:00"}, "recorded_at 9999-12-31T23:59:00 is outside"),
        ({"recorded_at": "2029-09-07T09:00:00Z"}, "recorded_at 2029-09-07T09:00:00+00:00 is"),
    ],
    ids=["formula", "at-formula", "year-one", "year-9999", "two-years-on"],
)
def test_items_pass_the_register_imports_own_checks(api_as, world, fields, message):
    """The API's items meet the checks a register file's rows meet (one place: the import)."""
    api = api_as(world.officer)
    api.post("/marks", json={"items": [item("L1", "A7")]})
    before = written()
    code = "A" if "evidence_ref" in fields else "P"
    reason = {"absence_reason": "illness"} if code == "A" else {}
    batch = [item("L1", "A7", "U"), item("L1", "A8", code, **reason, **fields)]
    response = api.post("/marks", json={"items": batch})
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    (messages,) = [p["messages"] for p in response.json["errors"]["items"].values()]
    assert set(response.json["errors"]["items"]) == {"1"}
    assert messages[0].startswith(message), messages
    assert written() == before


def test_items_failing_the_schema_are_named_the_same_way(api_as, world):
    response = api_as(world.admin).post(
        "/marks",
        json={
            "items": [
                item("L1", "A7"),
                item("L1", "A8", "L", minutes_late=-1, absence_reason="holiday"),
                "not an item",
                {"learner_ref": "L2", "code": "P", "colour": "red"},
            ]
        },
    )
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    problems = response.json["errors"]["items"]
    assert set(problems) == {"1", "2", "3"}
    assert problems["1"]["learner_ref"] == "L1" and problems["1"]["session_ref"] == "A8"
    assert sorted(m.split(":")[0] for m in problems["1"]["messages"]) == [
        "absence_reason",
        "minutes_late",
    ]
    assert problems["2"]["learner_ref"] is problems["2"]["session_ref"] is None
    assert problems["3"]["learner_ref"] == "L2" and problems["3"]["session_ref"] is None
    assert sorted(problems["3"]["messages"]) == [
        "colour: Unknown field.",
        "session_ref: Missing data for required field.",
    ]
    assert written() == (0, 0, 0)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([item("L1", "A7")] * 10_001, "Length must be between 1 and 10000."),
        ([], "Length must be between 1 and 10000."),
    ],
)
def test_more_than_the_limit_or_nothing_is_refused(api_as, world, items, message):
    response = api_as(world.admin).post("/marks", json={"items": items})
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert response.json["errors"] == {"items": [message]}
    assert written() == (0, 0, 0)


def test_the_limit_and_the_item_errors_are_in_the_openapi(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["components"]["schemas"]["MarkBatch"]["properties"]["items"]["maxItems"] == 10_000
    refused = spec["paths"]["/api/v1/marks"]["post"]["responses"]["422"]
    schema = refused["content"]["application/problem+json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    errors = spec["components"]["schemas"][schema]["properties"]["errors"]
    per_item = errors["properties"]["items"]["oneOf"][1]["additionalProperties"]
    assert per_item["required"] == ["learner_ref", "session_ref", "messages"]


# --- who may write where -------------------------------------------------------------------------


def test_an_officer_cannot_write_to_another_programme_nor_learn_what_it_holds(api_as, world):
    api = api_as(world.officer)
    response = api.post(
        "/marks",
        json={
            "items": [
                item("L1", "A7"),
                item("L1", "B7"),  # L1 is on both programmes; B7 is B's
                item("L3", "B7"),  # L3 is on B only
                item("L1", "NOSUCH"),
                item("L404", "A7"),
            ]
        },
    )
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    messages = {i: p["messages"] for i, p in response.json["errors"]["items"].items()}
    assert messages == {
        "1": ["unknown session 'B7'"],
        "2": ["unknown learner 'L3'"],
        "3": ["unknown session 'NOSUCH'"],
        "4": ["unknown learner 'L404'"],
    }
    assert response.json["errors"]["items"]["1"]["session_ref"] == "B7"
    assert written() == (0, 0, 0)

    # The same marks are fine for B's officer and for an administrator.
    assert (
        api_as(world.officer_b).post("/marks", json={"items": [item("L1", "B7")]}).json["created"]
        == 1
    )
    assert (
        api_as(world.admin).post("/marks", json={"items": [item("L3", "B7")]}).json["created"] == 1
    )


@pytest.mark.parametrize("who", ["mentor", "head", "safeguarding"])
def test_others_may_not_write_marks(api_as, world, who):
    response = api_as(getattr(world, who)).post("/marks", json={"items": [item("L1", "A7")]})
    assert response.status_code == 403 and problem_type(response) == "forbidden"
    assert written() == (0, 0, 0)


# --- reading -------------------------------------------------------------------------------------


@pytest.fixture
def marked(api_as, world):
    batch = [item("L1", f"A{day}") for day in (7, 8, 9)] + [item("L2", "A7", "U"), item("L1", "B7")]
    assert api_as(world.admin).post("/marks", json={"items": batch}).status_code == 200
    return world


@pytest.mark.parametrize(
    ("who", "query", "expected"),
    [
        ("admin", "session_ref=A7", [("L1", "A7"), ("L2", "A7")]),
        ("admin", "learner_ref=L1", [("L1", "A7"), ("L1", "B7"), ("L1", "A8"), ("L1", "A9")]),
        ("admin", "learner_ref=L1&session_ref=B7", [("L1", "B7")]),
        ("officer", "learner_ref=L1", [("L1", "A7"), ("L1", "A8"), ("L1", "A9")]),
        ("officer", "session_ref=B7", []),
        ("officer_b", "learner_ref=L1", [("L1", "B7")]),
        ("mentor", "session_ref=A7", [("L1", "A7")]),
        ("other_mentor", "session_ref=A7", [("L2", "A7")]),
        ("outsider_head", "session_ref=A7", []),
        ("head", "session_ref=A7", [("L1", "A7"), ("L2", "A7")]),
        ("admin", "learner_ref=L9", []),
    ],
)
def test_list_filters_within_scope(api_as, marked, who, query, expected):
    response = api_as(getattr(marked, who)).get(f"/marks?{query}")
    assert response.status_code == 200, response.json
    assert [(m["learner_ref"], m["session_ref"]) for m in response.json] == expected


def test_list_by_enrolment(api_as, marked):
    for who, found in (("admin", 3), ("mentor", 3), ("other_mentor", 0), ("officer_b", 0)):
        listed = api_as(getattr(marked, who)).get(f"/marks?enrolment_id={marked.l1.id}")
        assert len(listed.json) == found, who
        assert {m["enrolment_id"] for m in listed.json} <= {marked.l1.id}


@pytest.mark.parametrize("query", ["", "?page=1", "?enrolment_id=0", "?session_ref=" + "x" * 61])
def test_list_needs_a_valid_filter(api_as, marked, query):
    response = api_as(marked.admin).get(f"/marks{query}")
    assert response.status_code == 422 and problem_type(response) == "invalid-data"


def test_list_is_paginated(api_as, marked):
    api = api_as(marked.admin)
    first = api.get("/marks?learner_ref=L1&page_size=3")
    second = api.get("/marks?learner_ref=L1&page_size=3&page=2")
    assert first.status_code == second.status_code == 200
    assert [m["session_ref"] for m in first.json] == ["A7", "B7", "A8"]
    assert [m["session_ref"] for m in second.json] == ["A9"]
    pages = json.loads(first.headers["X-Pagination"])
    assert (pages["total"], pages["total_pages"], pages["page"]) == (4, 2, 1)


# --- retries -------------------------------------------------------------------------------------


def test_retried_post_with_the_same_idempotency_key_writes_once(api_as, world):
    api = api_as(world.officer)
    headers = {"Idempotency-Key": "marks-2026-09-07"}
    body = {"items": [item("L1", "A7"), item("L2", "A7", "U")]}
    first = api.post("/marks", json=body, headers=headers)
    again = api.post("/marks", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json["created"] == 2
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(RegisterImport) == 1 and count(Mark) == 2

    other = api.post("/marks", json={"items": [item("L1", "A8")]}, headers=headers)
    assert other.status_code == 422 and problem_type(other) == "idempotency-key-reused"
    assert count(RegisterImport) == 1 and count(Mark) == 2
