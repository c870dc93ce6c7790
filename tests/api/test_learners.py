"""Learners and their contacts through the API: administrators add learners, administration
officers change their programmes' learners (adding one with its enrolment); everyone sees only
the learners of enrolments they may see."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Contact, Learner, Role, UserRole
from tests.api.conftest import problem_type
from tests.records.world import World, build_world


@pytest.fixture
def w(make) -> World:
    return build_world(make)


def new_learner(**overrides):
    body = {
        "learner_ref": "L900001",
        "given_name": "Dana",
        "family_name": "Newcomer",
        "preferred_name": "Dee",
        "date_of_birth": "2009-04-02",
        "email": "dee@example.org",
        "phone": "07700 900123",
        "address": "1 High Street\nTown",
        "postcode": "AB1 2CD",
    }
    return {**body, **overrides}


def new_contact(**overrides):
    body = {"kind": "parent_carer", "name": "Pat Parent", "relationship": "Mother"}
    return {**body, **overrides}


def learners_count() -> int:
    return db.session.scalar(select(func.count(Learner.id)))


# Learners


def test_administrators_add_learners(api_as, w):
    response = api_as(w.admin).post("/learners", json=new_learner())
    assert response.status_code == 201, response.json
    body = response.json
    assert body["learner_ref"] == "L900001" and body["full_name"] == "Dee Newcomer"
    assert body["date_of_birth"] == "2009-04-02" and body["address"] == "1 High Street\nTown"
    assert response.headers["Location"].endswith(f"/api/v1/learners/{body['id']}")
    assert api_as(w.admin).get(f"/learners/{body['id']}").json == body


def test_only_the_required_fields(api_as, w):
    body = {k: new_learner()[k] for k in ("learner_ref", "given_name", "family_name")}
    response = api_as(w.admin).post("/learners", json={**body, "date_of_birth": "2009-04-02"})
    assert response.status_code == 201
    assert response.json["email"] is None and response.json["full_name"] == "Dana Newcomer"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"learner_ref": None}, "learner_ref"),
        ({"learner_ref": "L" * 41}, "learner_ref"),
        ({"given_name": ""}, "given_name"),
        ({"family_name": "F" * 101}, "family_name"),
        ({"family_name": "Nul\x00"}, "family_name"),
        ({"date_of_birth": None}, "date_of_birth"),
        ({"date_of_birth": "2009-02-30"}, "date_of_birth"),
        ({"date_of_birth": (date.today() + timedelta(days=1)).isoformat()}, "date_of_birth"),
        ({"date_of_birth": "0001-01-01"}, "date_of_birth"),
        ({"email": "not an email"}, "email"),
        ({"phone": "1" * 41}, "phone"),
        ({"postcode": "AB1 2CD EFG"}, "postcode"),
        ({"address": "x" * 1001}, "address"),
        ({"shoe_size": 9}, "shoe_size"),
    ],
)
def test_add_rejects_bad_data(api_as, w, overrides, field):
    body = {k: v for k, v in new_learner(**overrides).items() if v is not None}
    response = api_as(w.admin).post("/learners", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert field in response.json["errors"], response.json
    assert learners_count() == 3


def test_a_taken_learner_ref_is_invalid_data(api_as, w):
    taken = w.elsewhere.learner.learner_ref
    response = api_as(w.admin).post("/learners", json=new_learner(learner_ref=taken))
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert response.json["errors"] == {"learner_ref": [f"There is already a learner {taken}."]}


@pytest.mark.parametrize("who", ["officer", "head", "mentor", "safeguarding"])
def test_others_may_not_add_learners(api_as, w, who):
    """Nor an administration officer: a learner on no programme is no officer's to see, so
    they add a learner with their first enrolment (tests/api/test_enrolments.py)."""
    response = api_as(getattr(w, who)).post("/learners", json=new_learner())
    assert response.status_code == 403 and problem_type(response) == "forbidden"
    assert learners_count() == 3


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("admin", {"mine", "theirs", "elsewhere"}),
        ("officer", {"mine", "theirs"}),
        ("other_officer", {"elsewhere"}),
        ("head", {"mine", "theirs"}),
        ("mentor", {"mine"}),
        ("other_mentor", {"theirs"}),
        ("outsider", set()),
        ("safeguarding", set()),  # no case flagged
    ],
)
def test_who_sees_which_learners(api_as, w, who, sees):
    api = api_as(getattr(w, who))
    enrolments = {name: getattr(w, name) for name in ("mine", "theirs", "elsewhere")}
    listed = {row["id"] for row in api.get("/learners").json}
    assert listed == {enrolments[name].learner_id for name in sees}
    for name, enrolment in enrolments.items():
        one = api.get(f"/learners/{enrolment.learner_id}")
        if name in sees:
            assert one.status_code == 200
        else:
            assert one.status_code == 404 and problem_type(one) == "not-found"
            assert one.json["detail"] == f"There is no learner {enrolment.learner_id}."


def test_an_administrator_sees_learners_not_yet_enrolled(api_as, make, w):
    learner = make.learner()
    db.session.commit()
    assert api_as(w.admin).get(f"/learners/{learner.id}").status_code == 200
    assert api_as(w.officer).get(f"/learners/{learner.id}").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("programme_id={programme}", ["elsewhere"]),
        ("programme_id={programme}&mentor_id={mentor}", []),
        ("mentor_id={mentor}", ["mine"]),
        ("learner_ref={ref}", ["theirs"]),
        ("learner_ref=l000", []),  # exact, not part of one
        ("q=THEIR", ["theirs"]),
        ("q=bo the", ["theirs"]),  # given and family name together
        ("q=e", ["elsewhere", "mine", "theirs"]),  # by family name
        ("q=%", []),  # a wildcard is a character
        ("q=_", []),
    ],
)
def test_list_filters(api_as, w, query, expected):
    query = query.format(
        programme=w.other_programme.id,
        mentor=w.mentor.id,
        ref=w.theirs.learner.learner_ref,
    )
    listed = api_as(w.admin).get(f"/learners?{query}")
    assert listed.status_code == 200
    ids = {name: getattr(w, name).learner_id for name in ("mine", "theirs", "elsewhere")}
    assert [row["id"] for row in listed.json] == [ids[name] for name in expected]


def test_filters_stay_within_scope(api_as, w):
    # The mentor asks for the other mentor's learners: there are none they may see.
    response = api_as(w.mentor).get(f"/learners?mentor_id={w.other_mentor.id}")
    assert response.status_code == 200 and response.json == []


def test_preferred_name_matches_too(api_as, make, w):
    learner = make.learner(given_name="Robert", family_name="Smith", preferred_name="Bobby")
    db.session.commit()
    listed = api_as(w.admin).get("/learners?q=bobb").json
    assert [(row["id"], row["full_name"]) for row in listed] == [(learner.id, "Bobby Smith")]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("programme_id=0", {"programme_id"}),
        ("mentor_id=x&learner_ref=" + "L" * 41, {"mentor_id", "learner_ref"}),
        ("q=", {"q"}),
        ("q=%00", {"q"}),
    ],
)
def test_list_rejects_bad_filters(api_as, w, query, fields):
    response = api_as(w.admin).get(f"/learners?{query}")
    assert response.status_code == 422 and set(response.json["errors"]) == fields


def test_list_is_paginated(api_as, make, w):
    for n in range(4):
        make.learner(family_name=f"Zed{n}")
    db.session.commit()
    response = api_as(w.admin).get("/learners?page=2&page_size=3")
    # Elsewhere, Mine, Theirs | Zed0, Zed1, Zed2 | Zed3
    assert [row["family_name"] for row in response.json] == ["Zed0", "Zed1", "Zed2"]
    meta = json.loads(response.headers["X-Pagination"])
    assert (meta["total"], meta["page"], meta["total_pages"]) == (7, 2, 3)


def test_an_officer_changes_a_learner(api_as, w):
    learner = w.mine.learner
    response = api_as(w.officer).patch(
        f"/learners/{learner.id}",
        json={"phone": "01234 567890", "preferred_name": None, "learner_ref": "L123456"},
    )
    assert response.status_code == 200, response.json
    assert response.json["phone"] == "01234 567890" and response.json["preferred_name"] is None
    assert response.json["learner_ref"] == "L123456"
    assert response.json["given_name"] == "Alex"  # not sent: kept
    db.session.expire_all()
    assert db.session.get(Learner, learner.id).phone == "01234 567890"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"learner_ref": "taken"}, "learner_ref"),
        ({"learner_ref": None}, "learner_ref"),
        ({"given_name": None}, "given_name"),
        ({"email": "@"}, "email"),
        ({"date_of_birth": "tomorrow"}, "date_of_birth"),
    ],
)
def test_change_rejects_bad_data(api_as, w, body, field):
    if body.get("learner_ref") == "taken":
        body = {"learner_ref": w.elsewhere.learner.learner_ref}
    response = api_as(w.officer).patch(f"/learners/{w.mine.learner_id}", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert list(response.json["errors"]) == [field]


def test_keeping_ones_own_learner_ref_is_fine(api_as, w):
    learner = w.mine.learner
    response = api_as(w.admin).patch(
        f"/learners/{learner.id}", json={"learner_ref": learner.learner_ref}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("mentor", 403),  # sees the learner, may not change them
        ("head", 403),
        ("other_mentor", 404),  # does not see them at all
        ("other_officer", 404),
    ],
)
def test_who_may_not_change_a_learner(api_as, w, who, status):
    response = api_as(getattr(w, who)).patch(
        f"/learners/{w.mine.learner_id}", json={"family_name": "Changed"}
    )
    assert response.status_code == status
    assert problem_type(response) == ("forbidden" if status == 403 else "not-found")
    db.session.expire_all()
    assert db.session.get(Learner, w.mine.learner_id).family_name == "Mine"


def test_an_officer_who_only_mentors_the_learner_may_not_change_them(api_as, w):
    w.other_officer.role_rows.append(UserRole(role=Role.TUTOR_MENTOR))
    w.theirs.mentor_id = w.other_officer.id
    db.session.commit()
    api = api_as(w.other_officer)
    assert api.get(f"/learners/{w.theirs.learner_id}").status_code == 200
    response = api.patch(f"/learners/{w.theirs.learner_id}", json={"family_name": "X"})
    assert response.status_code == 403 and problem_type(response) == "forbidden"


def test_a_retried_add_makes_one_learner(api_as, w):
    api = api_as(w.admin)
    headers = {"Idempotency-Key": "learner-L900001"}
    first = api.post("/learners", json=new_learner(), headers=headers)
    again = api.post("/learners", json=new_learner(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert learners_count() == 4


# Contacts


def test_an_officer_adds_and_lists_contacts(api_as, w):
    api = api_as(w.officer)
    learner_id = w.mine.learner_id
    response = api.post(
        f"/learners/{learner_id}/contacts",
        json=new_contact(email="pat@example.org", notify_by_email=True, address="1 Road"),
    )
    assert response.status_code == 201, response.json
    contact = response.json
    assert contact["learner_id"] == learner_id and contact["relationship"] == "Mother"
    assert contact["receives_letters"] is True and contact["notify_by_sms"] is False
    assert contact["notify_by_email"] is True
    assert response.headers["Location"].endswith(f"/api/v1/contacts/{contact['id']}")
    assert api.get(f"/contacts/{contact['id']}").json == contact
    assert api.get(f"/learners/{learner_id}/contacts").json == [contact]
    # The learner's mentor reads them too.
    assert api_as(w.mentor).get(f"/learners/{learner_id}/contacts").json == [contact]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "neighbour"}, "kind"),
        ({"kind": None}, "kind"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"relationship": "r" * 101}, "relationship"),
        ({"email": "nope"}, "email"),
        ({"receives_letters": "perhaps"}, "receives_letters"),
        ({"notify_by_sms": True}, "notify_by_sms"),  # no phone
        ({"notify_by_email": True}, "notify_by_email"),  # no email
    ],
)
def test_add_contact_rejects_bad_data(api_as, w, overrides, field):
    body = {k: v for k, v in new_contact(**overrides).items() if v is not None}
    response = api_as(w.officer).post(f"/learners/{w.mine.learner_id}/contacts", json=body)
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert field in response.json["errors"], response.json
    assert db.session.scalar(select(func.count(Contact.id))) == 0


@pytest.mark.parametrize(
    ("who", "learner", "status"),
    [
        ("mentor", "mine", 403),
        ("head", "mine", 403),
        ("other_mentor", "mine", 404),
        ("other_officer", "mine", 404),
        ("officer", "elsewhere", 404),
    ],
)
def test_who_may_not_add_contacts(api_as, w, who, learner, status):
    learner_id = getattr(w, learner).learner_id
    response = api_as(getattr(w, who)).post(f"/learners/{learner_id}/contacts", json=new_contact())
    assert response.status_code == status
    assert problem_type(response) == ("forbidden" if status == 403 else "not-found")


def test_contacts_are_as_visible_as_their_learner(api_as, make, w):
    contact = make.contact(w.mine.learner)
    db.session.commit()
    api = api_as(w.other_mentor)
    for path in (f"/learners/{w.mine.learner_id}/contacts", f"/contacts/{contact.id}"):
        response = api.get(path)
        assert response.status_code == 404 and problem_type(response) == "not-found"


def test_contacts_are_paginated(api_as, make, w):
    made = [make.contact(w.mine.learner, name=f"Contact {n}") for n in range(3)]
    db.session.commit()
    response = api_as(w.officer).get(f"/learners/{w.mine.learner_id}/contacts?page=2&page_size=2")
    assert [c["id"] for c in response.json] == [made[2].id]
    assert json.loads(response.headers["X-Pagination"])["total"] == 3


def test_an_officer_changes_a_contact(api_as, make, w):
    contact = make.contact(w.mine.learner, phone="07700 900000")
    db.session.commit()
    response = api_as(w.officer).patch(
        f"/contacts/{contact.id}",
        json={"kind": "employer", "notify_by_sms": True, "relationship": None},
    )
    assert response.status_code == 200, response.json
    assert response.json["kind"] == "employer" and response.json["notify_by_sms"] is True
    assert response.json["relationship"] is None and response.json["name"] == "Alex Parent"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notify_by_email": True}, "notify_by_email"),  # the contact has no email
        ({"phone": None, "notify_by_sms": True}, "notify_by_sms"),
        ({"kind": "friend"}, "kind"),
        ({"name": None}, "name"),
    ],
)
def test_change_contact_rejects_bad_data(api_as, make, w, body, field):
    contact = make.contact(w.mine.learner, phone="07700 900000")
    db.session.commit()
    response = api_as(w.officer).patch(f"/contacts/{contact.id}", json=body)
    assert response.status_code == 422 and list(response.json["errors"]) == [field]


def test_removing_the_phone_an_sms_needs_is_invalid(api_as, make, w):
    contact = make.contact(w.mine.learner, phone="07700 900000", notify_by_sms=True)
    db.session.commit()
    response = api_as(w.officer).patch(f"/contacts/{contact.id}", json={"phone": None})
    assert response.status_code == 422 and list(response.json["errors"]) == ["notify_by_sms"]


@pytest.mark.parametrize(("who", "status"), [("mentor", 403), ("other_officer", 404)])
def test_who_may_not_change_a_contact(api_as, make, w, who, status):
    contact = make.contact(w.mine.learner)
    db.session.commit()
    response = api_as(getattr(w, who)).patch(f"/contacts/{contact.id}", json={"name": "X"})
    assert response.status_code == status


def test_a_retried_contact_is_added_once(api_as, w):
    api = api_as(w.officer)
    path, headers = f"/learners/{w.mine.learner_id}/contacts", {"Idempotency-Key": "contact-1"}
    first = api.post(path, json=new_contact(), headers=headers)
    again = api.post(path, json=new_contact(), headers=headers)
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert db.session.scalar(select(func.count(Contact.id))) == 1
