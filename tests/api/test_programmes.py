"""Programmes through the API: administrators create and change them; everyone else sees the
programmes they are linked to or mentor on."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Programme, ProgrammeRole, Role
from tests.api.conftest import problem_type
from tests.records.world import World, build_world, make_user


@pytest.fixture
def w(make) -> World:
    return build_world(make)


def new_programme(w: World, **overrides):
    body = {
        "code": "ART1",
        "title": "Art and Design",
        "policy": "000-sek",
        "head_of_programme_ids": [w.head.id],
        "administration_officer_ids": [w.officer.id],
    }
    return {**body, **overrides}


def staff(*users):
    return [{"id": u.id, "name": u.name, "email": u.email} for u in users]


def test_an_administrator_creates_a_programme(api_as, w):
    api = api_as(w.admin)
    response = api.post("/programmes", json=new_programme(w))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["code"] == "ART1" and body["title"] == "Art and Design"
    assert body["policy"] == "000-sek"
    assert body["heads_of_programme"] == staff(w.head)
    assert body["administration_officers"] == staff(w.officer)
    assert response.headers["Location"].endswith(f"/api/v1/programmes/{body['id']}")
    assert api.get(f"/programmes/{body['id']}").json == body
    # The head and the officer now see it too.
    assert api_as(w.head).get(f"/programmes/{body['id']}").status_code == 200


def test_a_programme_needs_no_staff_to_start_with(api_as, w):
    body = {"code": "ART1", "title": "Art", "policy": "000-sek"}
    response = api_as(w.admin).post("/programmes", json=body)
    assert response.status_code == 201
    assert response.json["heads_of_programme"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"code": None}, "code"),
        ({"code": ""}, "code"),
        ({"code": "X" * 41}, "code"),
        ({"code": "HSC3"}, "code"),  # taken
        ({"title": "T" * 201}, "title"),
        ({"title": "Nul\x00"}, "title"),
        ({"policy": "999-nobody"}, "policy"),
        ({"head_of_programme_ids": [999999]}, "head_of_programme_ids"),
        ({"head_of_programme_ids": [0]}, "head_of_programme_ids"),
        ({"head_of_programme_ids": "1"}, "head_of_programme_ids"),
        ({"administration_officer_ids": [2**40]}, "administration_officer_ids"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_create_rejects_bad_data(api_as, w, overrides, field):
    body = {k: v for k, v in new_programme(w, **overrides).items() if v is not None}
    response = api_as(w.admin).post("/programmes", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert field in response.json["errors"], response.json
    assert db.session.scalar(select(func.count(Programme.id))) == 2


@pytest.mark.parametrize(
    ("field", "who"),
    [
        ("head_of_programme_ids", "mentor"),
        ("head_of_programme_ids", "officer"),
        ("administration_officer_ids", "head"),
    ],
)
def test_staff_must_hold_the_role_they_fill(api_as, w, field, who):
    user = getattr(w, who)
    response = api_as(w.admin).post("/programmes", json=new_programme(w, **{field: [user.id]}))
    assert response.status_code == 422
    assert response.json["errors"][field] == [f"User {user.id} is not {_role(field)}."]


def _role(field: str) -> str:
    return "head of programme" if field.startswith("head") else "administration officer"


@pytest.mark.parametrize("who", ["officer", "head", "mentor", "safeguarding"])
def test_only_administrators_create_programmes(api_as, w, who):
    response = api_as(getattr(w, who)).post("/programmes", json=new_programme(w))
    assert response.status_code == 403 and problem_type(response) == "forbidden"


@pytest.mark.parametrize(
    ("who", "codes"),
    [
        ("admin", ["ENG2", "HSC3"]),
        ("officer", ["HSC3"]),
        ("other_officer", ["ENG2"]),
        ("head", ["HSC3"]),
        ("mentor", ["HSC3"]),  # mentors an enrolment on it
        ("other_mentor", ["HSC3"]),
        ("outsider", []),
        ("safeguarding", []),
    ],
)
def test_who_sees_which_programmes(api_as, w, who, codes):
    api = api_as(getattr(w, who))
    listed = api.get("/programmes")
    assert listed.status_code == 200
    assert [p["code"] for p in listed.json] == codes
    for programme in (w.programme, w.other_programme):
        one = api.get(f"/programmes/{programme.id}")
        if programme.code in codes:
            assert one.status_code == 200 and one.json["code"] == programme.code
        else:
            assert one.status_code == 404 and problem_type(one) == "not-found"
            assert one.json["detail"] == f"There is no programme {programme.id}."


def test_a_link_counts_only_while_the_user_holds_its_role(api_as, w):
    # A mentor once linked as head (the role since taken away) does not see it through the link.
    w.link(w.outsider, w.other_programme, ProgrammeRole.HEAD)
    assert api_as(w.outsider).get("/programmes").json == []


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("policy=001-sts", ["ENG2"]),
        ("policy=003-green-labyrinth", ["HSC3"]),
        ("policy=000-sek", []),
        ("policy=unheard-of", []),
    ],
)
def test_list_filters_by_policy(api_as, w, query, codes):
    assert [p["code"] for p in api_as(w.admin).get(f"/programmes?{query}").json] == codes


def test_list_rejects_bad_filters(api_as, w):
    response = api_as(w.admin).get("/programmes?policy=" + "x" * 81)
    assert response.status_code == 422 and set(response.json["errors"]) == {"policy"}


def test_list_is_paginated(api_as, make, w):
    for n in range(3):
        make.programme(code=f"Z{n}")
    db.session.commit()
    response = api_as(w.admin).get("/programmes?page=2&page_size=2")
    assert response.status_code == 200
    assert [p["code"] for p in response.json] == ["Z0", "Z1"]  # ENG2, HSC3 | Z0, Z1 | Z2
    meta = json.loads(response.headers["X-Pagination"])
    assert meta["total"] == 5 and meta["page"] == 2 and meta["total_pages"] == 3


def test_an_administrator_changes_title_and_staff(api_as, w):
    new_head = make_user("Nia Newhead", Role.HEAD_OF_PROGRAMME)
    db.session.commit()
    api = api_as(w.admin)
    response = api.patch(
        f"/programmes/{w.programme.id}",
        json={"title": "Health and Care", "head_of_programme_ids": [new_head.id]},
    )
    assert response.status_code == 200, response.json
    assert response.json["title"] == "Health and Care"
    assert response.json["heads_of_programme"] == staff(new_head)
    assert response.json["administration_officers"] == staff(w.officer)  # not sent: kept
    assert response.json["code"] == "HSC3" and response.json["policy"] == "003-green-labyrinth"
    # The old head no longer sees it; the new one does.
    assert api_as(w.head).get(f"/programmes/{w.programme.id}").status_code == 404
    assert api_as(new_head).get(f"/programmes/{w.programme.id}").status_code == 200


def test_keeping_a_head_while_adding_another(api_as, w):
    second = make_user("Sam Second", Role.HEAD_OF_PROGRAMME)
    db.session.commit()
    response = api_as(w.admin).patch(
        f"/programmes/{w.programme.id}",
        json={"head_of_programme_ids": [w.head.id, second.id], "administration_officer_ids": []},
    )
    assert response.status_code == 200
    assert response.json["heads_of_programme"] == staff(w.head, second)
    assert response.json["administration_officers"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"head_of_programme_ids": [999999]}, "head_of_programme_ids"),
        ({"administration_officer_ids": [0]}, "administration_officer_ids"),
        ({"code": "NEW1"}, "code"),  # the code stays
        ({"policy": "000-sek"}, "policy"),  # and so does the policy
    ],
)
def test_change_rejects_bad_data(api_as, w, body, field):
    response = api_as(w.admin).patch(f"/programmes/{w.programme.id}", json=body)
    assert response.status_code == 422 and field in response.json["errors"]


@pytest.mark.parametrize(("who", "status"), [("head", 403), ("officer", 403), ("outsider", 404)])
def test_only_administrators_change_programmes(api_as, w, who, status):
    response = api_as(getattr(w, who)).patch(f"/programmes/{w.programme.id}", json={"title": "X"})
    assert response.status_code == status
    assert problem_type(response) == ("forbidden" if status == 403 else "not-found")
    assert db.session.get(Programme, w.programme.id).title == "Health and Social Care"


def test_a_retried_create_makes_one_programme(api_as, w):
    api = api_as(w.admin)
    headers = {"Idempotency-Key": "programme-art1"}
    first = api.post("/programmes", json=new_programme(w), headers=headers)
    again = api.post("/programmes", json=new_programme(w), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json == first.json
    assert db.session.scalar(select(func.count()).where(Programme.code == "ART1")) == 1
