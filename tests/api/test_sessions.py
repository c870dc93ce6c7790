"""Sessions through the API: planned by administrators and a programme's administration
officers, read by whoever may see the programme. Times are UK wall-clock times."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Session
from tests.api.conftest import problem_type
from tests.records.world import World, build_world


@pytest.fixture
def w(make) -> World:
    return build_world(make)


def new_session(w: World, **overrides):
    body = {
        "session_ref": "HSC3-2026-09-14-AM",
        "programme_id": w.programme.id,
        "title": "Safeguarding in practice",
        "kind": "workshop",
        "delivery_mode": "face_to_face",
        "starts_at": "2026-09-14T09:00:00",
        "ends_at": "2026-09-14T12:00:00",
        "register_closes_at": "2026-09-14T09:15:00",
    }
    return {**body, **overrides}


def sessions_count() -> int:
    return db.session.scalar(select(func.count(Session.id)))


@pytest.mark.parametrize("who", ["admin", "officer"])
def test_planning_a_session(api_as, w, who):
    response = api_as(getattr(w, who)).post("/sessions", json=new_session(w))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["session_ref"] == "HSC3-2026-09-14-AM" and body["programme_code"] == "HSC3"
    assert (body["kind"], body["delivery_mode"]) == ("workshop", "face_to_face")
    # Sent without an offset: UK time, given back with September's offset (BST).
    assert body["starts_at"] == "2026-09-14T09:00:00+01:00"
    assert body["ends_at"] == "2026-09-14T12:00:00+01:00"
    assert body["register_closes_at"] == "2026-09-14T09:15:00+01:00"
    assert response.headers["Location"].endswith(f"/api/v1/sessions/{body['id']}")
    assert api_as(w.mentor).get(f"/sessions/{body['id']}").json == body
    stored = db.session.get(Session, body["id"])
    assert stored.starts_at == datetime(2026, 9, 14, 9, 0)  # kept as UK wall-clock time


def test_times_with_an_offset_are_kept_as_uk_time(api_as, w):
    body = new_session(
        w,
        starts_at="2026-12-07T09:00:00Z",  # GMT in December: 09:00 in the UK
        ends_at="2026-12-07T12:00:00+01:00",  # 11:00 in the UK
        register_closes_at="2026-12-07T04:30:00-05:00",  # 09:30 in the UK
    )
    response = api_as(w.officer).post("/sessions", json=body)
    assert response.status_code == 201, response.json
    assert response.json["starts_at"] == "2026-12-07T09:00:00+00:00"
    assert response.json["ends_at"] == "2026-12-07T11:00:00+00:00"
    assert response.json["register_closes_at"] == "2026-12-07T09:30:00+00:00"


@pytest.mark.parametrize(
    ("programme", "closes"),
    [
        ("other_programme", "2026-09-14T09:30:00+01:00"),  # 001: 30 minutes after the start
        ("programme", "2026-09-14T12:00:00+01:00"),  # 003 names no time: at the end
    ],
)
def test_the_register_closes_as_the_policy_says_by_default(api_as, w, programme, closes):
    body = new_session(w, programme_id=getattr(w, programme).id)
    del body["register_closes_at"]
    response = api_as(w.admin).post("/sessions", json=body)
    assert response.status_code == 201 and response.json["register_closes_at"] == closes


def test_a_default_close_never_passes_the_end(api_as, w):
    body = new_session(w, programme_id=w.other_programme.id, ends_at="2026-09-14T09:20:00")
    del body["register_closes_at"]
    response = api_as(w.admin).post("/sessions", json=body)
    assert response.json["register_closes_at"] == "2026-09-14T09:20:00+01:00"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"session_ref": None}, "session_ref"),
        ({"session_ref": "S" * 61}, "session_ref"),
        ({"session_ref": "taken"}, "session_ref"),
        ({"programme_id": None}, "programme_id"),
        ({"programme_id": 999999}, "programme_id"),
        ({"title": "T" * 201}, "title"),
        ({"kind": "lecture"}, "kind"),
        ({"delivery_mode": None}, "delivery_mode"),
        ({"starts_at": "2026-09-14"}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
        ({"ends_at": "9999-12-31T23:59:59-12:00"}, "ends_at"),
        ({"ends_at": "2026-09-14T09:00:00"}, "ends_at"),  # not after the start
        ({"ends_at": "2026-09-14T08:00:00"}, "ends_at"),
        ({"register_closes_at": "2026-09-14T08:59:00"}, "register_closes_at"),
        ({"register_closes_at": "2026-09-14T12:01:00"}, "register_closes_at"),
        ({"room": "B12"}, "room"),
    ],
)
def test_planning_rejects_bad_data(api_as, w, overrides, field):
    if overrides.get("session_ref") == "taken":
        overrides = {"session_ref": w.other_session.session_ref}
    body = {k: v for k, v in new_session(w, **overrides).items() if v is not None}
    response = api_as(w.officer).post("/sessions", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert field in response.json["errors"], response.json
    assert sessions_count() == 2


def test_the_register_may_close_at_the_start_or_the_end(api_as, w):
    api = api_as(w.officer)
    for n, closes in enumerate(("2026-09-14T09:00:00", "2026-09-14T12:00:00")):
        body = new_session(w, session_ref=f"S-{n}", register_closes_at=closes)
        assert api.post("/sessions", json=body).status_code == 201


def test_an_officer_plans_only_for_their_own_programmes(api_as, w):
    body = new_session(w, programme_id=w.other_programme.id)
    response = api_as(w.officer).post("/sessions", json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {
        "programme_id": [f"There is no programme {w.other_programme.id}."]
    }


@pytest.mark.parametrize("who", ["head", "mentor", "safeguarding"])
def test_others_may_not_plan_sessions(api_as, w, who):
    response = api_as(getattr(w, who)).post("/sessions", json=new_session(w))
    assert response.status_code == 403 and problem_type(response) == "forbidden"
    assert sessions_count() == 2


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("admin", ["session", "other_session"]),
        ("officer", ["session"]),
        ("other_officer", ["other_session"]),
        ("head", ["session"]),
        ("mentor", ["session"]),
        ("outsider", []),
        ("safeguarding", []),
    ],
)
def test_who_sees_which_sessions(api_as, w, who, sees):
    api = api_as(getattr(w, who))
    assert [s["id"] for s in api.get("/sessions").json] == [getattr(w, n).id for n in sees]
    for name in ("session", "other_session"):
        one = api.get(f"/sessions/{getattr(w, name).id}")
        if name in sees:
            assert one.status_code == 200
        else:
            assert one.status_code == 404 and problem_type(one) == "not-found"


@pytest.fixture
def september(make, w):
    """Sessions of HSC3 on 7 (the world's), 10, 14 and 21 September 2026."""
    made = [make.session(w.programme, datetime(2026, 9, day, 13, 30)) for day in (10, 14, 21)]
    db.session.commit()
    return [w.session, *made]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("programme_id={programme}", [0, 1, 2, 3]),
        ("from=2026-09-10", [1, 2, 3]),
        ("to=2026-09-14", [0, 1, 2]),  # the whole of the 14th
        ("from=2026-09-14&to=2026-09-14", [2]),
        ("from=2026-09-22", []),
    ],
)
def test_list_filters(api_as, w, september, query, expected):
    query = query.format(programme=w.programme.id)
    listed = api_as(w.officer).get(f"/sessions?{query}")
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json] == [september[i].id for i in expected]


def test_filtering_by_another_programme_shows_nothing_outside_scope(api_as, w):
    listed = api_as(w.officer).get(f"/sessions?programme_id={w.other_programme.id}")
    assert listed.status_code == 200 and listed.json == []


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("from=2026-09-14&to=2026-09-13", {"to"}),
        ("from=14/09/2026", {"from"}),
        ("to=0001-01-01", {"to"}),
        ("programme_id=0", {"programme_id"}),
    ],
)
def test_list_rejects_bad_filters(api_as, w, query, fields):
    response = api_as(w.admin).get(f"/sessions?{query}")
    assert response.status_code == 422 and set(response.json["errors"]) == fields


def test_list_is_paginated(api_as, w, september):
    response = api_as(w.officer).get("/sessions?page=2&page_size=3")
    assert [s["id"] for s in response.json] == [september[3].id]
    meta = json.loads(response.headers["X-Pagination"])
    assert (meta["total"], meta["page"], meta["total_pages"]) == (4, 2, 2)


def test_an_officer_changes_a_session(api_as, w):
    response = api_as(w.officer).patch(
        f"/sessions/{w.session.id}",
        json={
            "title": None,
            "delivery_mode": "remote",
            "starts_at": "2026-09-07T10:00:00",
            "register_closes_at": "2026-09-07T10:10:00",
        },
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["title"] is None and body["delivery_mode"] == "remote"
    assert body["starts_at"] == "2026-09-07T10:00:00+01:00"
    assert body["ends_at"] == "2026-09-07T11:00:00+01:00"  # not sent: kept
    assert body["session_ref"] == w.session.session_ref


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ends_at": "2026-09-07T09:00:00"}, "ends_at"),
        ({"starts_at": "2026-09-07T09:45:00"}, "register_closes_at"),  # now before the start
        ({"register_closes_at": "2026-09-07T11:30:00"}, "register_closes_at"),
        ({"register_closes_at": None}, "register_closes_at"),
        ({"session_ref": "taken"}, "session_ref"),
        ({"kind": None}, "kind"),
        ({"programme_id": 2}, "programme_id"),  # a session stays on its programme
    ],
)
def test_change_rejects_bad_data(api_as, w, body, field):
    if body.get("session_ref") == "taken":
        body = {"session_ref": w.other_session.session_ref}
    response = api_as(w.officer).patch(f"/sessions/{w.session.id}", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert list(response.json["errors"]) == [field]


def test_a_marked_session_stays_in_its_academic_year(api_as, make, w):
    make.mark(w.mine, w.session, "P")
    db.session.commit()
    api = api_as(w.officer)
    moved = api.patch(
        f"/sessions/{w.session.id}",
        json={
            "starts_at": "2026-07-31T09:00:00",
            "ends_at": "2026-07-31T11:00:00",
            "register_closes_at": "2026-07-31T09:30:00",
        },
    )
    assert moved.status_code == 422 and list(moved.json["errors"]) == ["starts_at"]
    within = api.patch(
        f"/sessions/{w.session.id}",
        json={"starts_at": "2026-09-07T08:30:00", "register_closes_at": "2026-09-07T08:45:00"},
    )
    assert within.status_code == 200


@pytest.mark.parametrize(
    ("who", "status"), [("mentor", 403), ("head", 403), ("other_officer", 404), ("outsider", 404)]
)
def test_who_may_not_change_a_session(api_as, w, who, status):
    response = api_as(getattr(w, who)).patch(f"/sessions/{w.session.id}", json={"title": "X"})
    assert response.status_code == status
    assert problem_type(response) == ("forbidden" if status == 403 else "not-found")


def test_a_retried_plan_makes_one_session(api_as, w):
    api = api_as(w.officer)
    headers = {"Idempotency-Key": "session-hsc3-14"}
    first = api.post("/sessions", json=new_session(w), headers=headers)
    again = api.post("/sessions", json=new_session(w), headers=headers)
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert sessions_count() == 3
