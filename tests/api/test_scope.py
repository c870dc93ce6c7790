"""The access test: no API sequence lets a user of programme A see or touch a record of
programme B, and an id they may not see answers exactly as an id that does not exist.

Programme A's staff (its administration officer, head, a mentor, the safeguarding lead with A's
case flagged) try to create enrolments, contacts, marks, sessions and cases for B's learner,
session, enrolment and case, and to change them; then they read everything they can list. B's
words (its learner's name, address, references, its contact) never come back. Every endpoint that
takes an id, in its path, its body or its query, answers for one of B's ids with the same status
and body as for an id no row has (the largest id + 1000), the id itself aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from casework.cases.scan import run_scan
from casework.documents.jobs import render_job
from casework.extensions import db
from casework.models import (
    Case,
    Contact,
    ContactKind,
    DueItem,
    Enrolment,
    Learner,
    Letter,
    LetterJob,
    Mark,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    Session,
    User,
)
from tests.api.conftest import problem_type
from tests.case_fixtures import PLAN, TERM_START, fire
from tests.records.world import make_user

# Programme A's staff: each reads A's records, none B's.
ROLES = ("officer", "head", "mentor", "safeguarding")
SECRET_ADDRESS = "9 Hidden Row\nElsewhere"


@dataclass
class World:
    users: dict[str, User]
    admin: User
    own: dict[str, Any]  # programme A's records: ids and refs
    other: dict[str, Any]  # programme B's
    secrets: tuple[str, ...]  # words of B's that no one of A may read


def _records(enrolment: Enrolment) -> dict[str, Any]:
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    mark = db.session.scalars(select(Mark).where(Mark.enrolment_id == enrolment.id)).first()
    contact = db.session.scalars(select(Contact).where(Contact.learner_id == enrolment.learner_id))
    letter_id = db.session.scalar(select(Letter.id).where(Letter.case_id == case.id))
    due_item_id = db.session.scalar(select(DueItem.id).where(DueItem.case_id == case.id))
    session = db.session.get(Session, mark.session_id)
    return {
        "programme_id": enrolment.programme_id,
        "learner_id": enrolment.learner_id,
        "learner_ref": enrolment.learner.learner_ref,
        "enrolment_id": enrolment.id,
        "contact_id": contact.first().id,
        "case_id": case.id,
        "case_version": case.version,
        "mark_id": mark.id,
        "session_id": session.id,
        "session_ref": session.session_ref,
        "letter_id": letter_id,
        "due_item_id": due_item_id,
    }


@pytest.fixture
def world(make, clock) -> World:
    """Programmes A and B under one policy, each with its staff, a learner with a contact,
    marks, a case the scan opened and the mentor moved to a verbal warning (a plan review due)
    and its first letter rendered; A's case is flagged to the safeguarding lead."""
    users = {
        name: make_user(name.title(), role)
        for name, role in (
            ("officer", Role.ADMINISTRATION_OFFICER),
            ("head", Role.HEAD_OF_PROGRAMME),
            ("mentor", Role.TUTOR_MENTOR),
            ("safeguarding", Role.SAFEGUARDING_LEAD),
            ("admin", Role.ADMINISTRATOR),
            ("b_officer", Role.ADMINISTRATION_OFFICER),
            ("b_head", Role.HEAD_OF_PROGRAMME),
            ("b_mentor", Role.TUTOR_MENTOR),
        )
    }
    a, b = make.programme(), make.programme()
    for programme, prefix in ((a, ""), (b, "b_")):
        for name, role in (("officer", ProgrammeRole.ADMINISTRATION), ("head", ProgrammeRole.HEAD)):
            db.session.add(
                ProgrammeStaff(programme=programme, user=users[prefix + name], role=role)
            )
    own = make.enrolment(
        make.learner(date_of_birth=date(2010, 5, 1)), a, mentor_id=users["mentor"].id
    )
    other = make.enrolment(
        make.learner(
            date_of_birth=date(2010, 6, 1),
            given_name="Quill",
            family_name="Hiddenfield",
            address=SECRET_ADDRESS,
        ),
        b,
        mentor_id=users["b_mentor"].id,
    )
    make.contact(own.learner, ContactKind.PARENT_CARER, name="Pat Own", address="1 Road")
    make.contact(other.learner, ContactKind.PARENT_CARER, name="Vesper Hiddenfield")
    for enrolment in (own, other):
        make.register(enrolment, "PPPPPPPPUU", start=TERM_START)
    db.session.commit()
    day = TERM_START.date() + timedelta(days=9)
    clock(day)
    run_scan(day)
    for enrolment, mentor in ((own, users["mentor"]), (other, users["b_mentor"])):
        case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
        fire(mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
        render_job(  # one letter each is enough (rendering is slow)
            db.session.scalar(select(func.min(LetterJob.id)).where(LetterJob.case_id == case.id))
        )
    own_case = db.session.scalars(select(Case).where(Case.enrolment_id == own.id)).one()
    own_case.safeguarding_flagged_at = datetime.now(UTC)
    db.session.commit()
    records = {"own": _records(own), "other": _records(other)}
    records["other"]["user_id"] = users["b_head"].id  # staff of B's: no mentor
    assert all(records["other"].values()), records  # every kind of record exists on B
    return World(
        users={role: users[role] for role in ROLES},
        admin=users["admin"],
        own=records["own"],
        other=records["other"],
        secrets=(
            "Hiddenfield",
            "Hidden Row",
            records["other"]["learner_ref"],
            records["other"]["session_ref"],
            b.code,
        ),
    )


def _missing() -> dict[str, int | str]:
    """Ids no row has: each table's largest id + 1000; references no row has."""
    ids = {}
    for name, model in (
        ("programme_id", Programme.id),
        ("learner_id", Learner.id),
        ("enrolment_id", Enrolment.id),
        ("contact_id", Contact.id),
        ("case_id", Case.id),
        ("mark_id", Mark.id),
        ("session_id", Session.id),
        ("letter_id", Letter.id),
        ("due_item_id", DueItem.id),
        ("user_id", User.id),
    ):
        ids[name] = (db.session.scalar(select(func.max(model))) or 0) + 1000
    return ids | {"learner_ref": "L-NOBODY", "session_ref": "S-NOWHEN"}


# --- 1. the fault as reported ---------------------------------------------------------------


def test_an_officer_cannot_enrol_another_programmes_learner(api_as, world):
    """Enrolling B's learner on A would make them (address, contacts) A's officer's to read."""
    api = api_as(world.users["officer"])
    learner_id = world.other["learner_id"]
    body = {"programme_id": world.own["programme_id"], "start_date": "2027-03-01"}
    response = api.post("/enrolments", json={**body, "learner_id": learner_id})
    missing = api.post("/enrolments", json={**body, "learner_id": _missing()["learner_id"]})
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert _same(response, learner_id, missing, _missing()["learner_id"])
    assert db.session.scalar(select(func.count()).where(Enrolment.learner_id == learner_id)) == 1
    assert api.get(f"/learners/{learner_id}").status_code == 404
    assert api.get(f"/learners/{learner_id}/contacts").status_code == 404
    assert "Hidden Row" not in api.get("/learners").text


def test_an_officer_enrols_a_learner_they_add_in_the_same_request(api_as, world):
    api = api_as(world.users["officer"])
    body = {
        "programme_id": world.own["programme_id"],
        "start_date": "2027-03-01",
        "learner": {
            "learner_ref": "L990001",
            "given_name": "Nia",
            "family_name": "Newcomer",
            "date_of_birth": "2010-02-03",
            "address": "3 New Street",
        },
    }
    response = api.post("/enrolments", json=body)
    assert response.status_code == 201, response.json
    assert response.json["learner_ref"] == "L990001"
    learner = api.get(f"/learners/{response.json['learner_id']}")
    assert learner.status_code == 200 and learner.json["address"] == "3 New Street"


# --- 2. sequences: try every write on B's records, then read everything ------------------------


def _attempts(w: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, JSON body) of every write a user of A might try on B's records."""
    own, other = w.own, w.other
    learner = {"given_name": "Changed", "address": "Changed"}
    contact = {"kind": "parent_carer", "name": "Mallory Contact", "address": "1 Way"}
    session = {
        "session_ref": "NEW-SESSION",
        "programme_id": other["programme_id"],
        "kind": "workshop",
        "delivery_mode": "face_to_face",
        "starts_at": "2026-10-05T09:00:00",
        "ends_at": "2026-10-05T11:00:00",
    }

    def marks(learner_ref: str, session_ref: str) -> dict[str, Any]:
        return {"items": [{"learner_ref": learner_ref, "session_ref": session_ref, "code": "P"}]}

    def enrol(learner_id: int, programme_id: int) -> dict[str, Any]:
        return {"learner_id": learner_id, "programme_id": programme_id, "start_date": "2027-03-01"}

    return [
        ("POST", "/enrolments", enrol(other["learner_id"], own["programme_id"])),
        ("POST", "/enrolments", enrol(other["learner_id"], other["programme_id"])),
        ("POST", "/enrolments", enrol(own["learner_id"], other["programme_id"])),
        ("PATCH", f"/enrolments/{other['enrolment_id']}", {"is_apprentice": True}),
        ("PATCH", f"/learners/{other['learner_id']}", learner),
        ("POST", f"/learners/{other['learner_id']}/contacts", contact),
        ("PATCH", f"/contacts/{other['contact_id']}", {"name": "Changed"}),
        ("POST", "/marks", marks(other["learner_ref"], own["session_ref"])),
        ("POST", "/marks", marks(own["learner_ref"], other["session_ref"])),
        ("POST", "/marks", marks(other["learner_ref"], other["session_ref"])),
        ("POST", "/sessions", session),
        ("PATCH", f"/sessions/{other['session_id']}", {"title": "Changed"}),
        ("PATCH", f"/programmes/{other['programme_id']}", {"title": "Changed"}),
        ("POST", "/cases", {"enrolment_id": other["enrolment_id"], "note": "Opening"}),
        (
            "POST",
            f"/cases/{other['case_id']}/events",
            {"event": "add_note", "note": "Seen", "data": {}},
        ),
        (
            "POST",
            f"/cases/{own['case_id']}/events",
            {
                "event": "complete_due_item",
                "note": "Done",
                "data": {"due_item_id": other["due_item_id"]},
            },
        ),
        (
            "POST",
            f"/cases/{own['case_id']}/events",
            {"event": "approve_letter", "note": "Fine", "data": {"letter_id": other["letter_id"]}},
        ),
    ]


def _reads(w: World) -> list[str]:
    """Every read a user might try afterwards: lists, filters and B's records by id."""
    other = w.other
    return [
        "/learners",
        f"/learners?programme_id={other['programme_id']}",
        f"/learners?learner_ref={other['learner_ref']}",
        "/learners?q=Hiddenfield",
        f"/learners/{other['learner_id']}",
        f"/learners/{other['learner_id']}/contacts",
        f"/contacts/{other['contact_id']}",
        "/enrolments",
        f"/enrolments?learner_id={other['learner_id']}",
        f"/enrolments?programme_id={other['programme_id']}",
        f"/enrolments/{other['enrolment_id']}",
        f"/enrolments/{other['enrolment_id']}/attendance",
        f"/marks?learner_ref={other['learner_ref']}",
        f"/marks?session_ref={other['session_ref']}",
        f"/marks?enrolment_id={other['enrolment_id']}",
        "/sessions",
        f"/sessions/{other['session_id']}",
        "/programmes",
        f"/programmes/{other['programme_id']}",
        "/cases",
        f"/cases/{other['case_id']}",
        f"/cases?programme_id={other['programme_id']}",
        "/letters",
        f"/letters?case_id={other['case_id']}",
        f"/letters/{other['letter_id']}",
        f"/letters/{other['letter_id']}/pdf",
    ]


def _counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Enrolment, Learner, Contact, Mark, Session, Case, DueItem)
    }


@pytest.mark.parametrize("role", ROLES)
def test_no_sequence_reaches_another_programmes_records(api_as, world, role):
    api = api_as(world.users[role])
    before = _counts()
    written = []
    for method, path, body in _attempts(world):
        headers = {"If-Match": f'"{world.own["case_version"]}"'} if "/events" in path else {}
        response = api.request(method, path, json=body, headers=headers)
        if response.status_code < 400:
            written.append(f"{method} {path} {body}: {response.status_code}")
    assert written == []
    assert _counts() == before
    leaked = []
    for path in _reads(world):
        response = api.get(path)
        assert response.status_code < 500, path
        text = response.get_data().decode("utf-8", "replace")
        leaked += [f"{path}: {word!r}" for word in world.secrets if word in text]
        if path.endswith("/pdf"):
            assert response.status_code == 404, path
    assert leaked == []


def test_the_secrets_are_there_to_find(api_as, world):
    """The reads above would show B's words to someone who may see them."""
    api = api_as(world.admin)
    text = "".join(api.get(path).text for path in _reads(world) if not path.endswith("/pdf"))
    assert all(word in text for word in world.secrets)


# --- 3. an unseen id answers as a missing one ----------------------------------------------------

# (method, path, JSON body, the id's kind): "{id}" in the path or body is the id tried.
ID_ENDPOINTS = [
    ("GET", "/programmes/{id}", None, "programme_id"),
    ("PATCH", "/programmes/{id}", {"title": "T"}, "programme_id"),
    ("GET", "/learners/{id}", None, "learner_id"),
    ("PATCH", "/learners/{id}", {"given_name": "G"}, "learner_id"),
    ("GET", "/learners/{id}/contacts", None, "learner_id"),
    ("POST", "/learners/{id}/contacts", {"kind": "employer", "name": "N"}, "learner_id"),
    ("GET", "/learners?programme_id={id}", None, "programme_id"),
    ("GET", "/contacts/{id}", None, "contact_id"),
    ("PATCH", "/contacts/{id}", {"name": "N"}, "contact_id"),
    ("GET", "/enrolments/{id}", None, "enrolment_id"),
    ("PATCH", "/enrolments/{id}", {"is_apprentice": True}, "enrolment_id"),
    ("GET", "/enrolments/{id}/attendance", None, "enrolment_id"),
    ("GET", "/enrolments?learner_id={id}", None, "learner_id"),
    (
        "POST",
        "/enrolments",
        {"learner_id": "{id}", "programme_id": "{own_programme}", "start_date": "2027-03-01"},
        "learner_id",
    ),
    (
        "POST",
        "/enrolments",
        {"learner_id": "{own_learner}", "programme_id": "{id}", "start_date": "2027-03-01"},
        "programme_id",
    ),
    (
        "POST",
        "/enrolments",
        {
            "learner_id": "{own_learner}",
            "programme_id": "{own_programme}",
            "start_date": "2027-09-01",  # the next academic year: no enrolment yet
            "mentor_id": "{id}",
        },
        "user_id",
    ),
    ("PATCH", "/enrolments/{own_enrolment}", {"mentor_id": "{id}"}, "user_id"),
    ("GET", "/sessions/{id}", None, "session_id"),
    ("PATCH", "/sessions/{id}", {"title": "T"}, "session_id"),
    (
        "POST",
        "/sessions",
        {
            "session_ref": "S-NEW",
            "programme_id": "{id}",
            "kind": "workshop",
            "delivery_mode": "face_to_face",
            "starts_at": "2026-10-05T09:00:00",
            "ends_at": "2026-10-05T11:00:00",
        },
        "programme_id",
    ),
    ("GET", "/marks?enrolment_id={id}", None, "enrolment_id"),
    ("GET", "/marks?learner_ref={id}", None, "learner_ref"),
    ("GET", "/marks?session_ref={id}", None, "session_ref"),
    ("GET", "/learners?learner_ref={id}", None, "learner_ref"),
    (
        "POST",
        "/marks",
        {"items": [{"learner_ref": "{id}", "session_ref": "{own_session}", "code": "P"}]},
        "learner_ref",
    ),
    (
        "POST",
        "/marks",
        {"items": [{"learner_ref": "{own_learner_ref}", "session_ref": "{id}", "code": "P"}]},
        "session_ref",
    ),
    ("GET", "/cases/{id}", None, "case_id"),
    ("POST", "/cases/{id}/events", {"event": "add_note", "note": "N", "data": {}}, "case_id"),
    ("POST", "/cases", {"enrolment_id": "{id}", "note": "Opening"}, "enrolment_id"),
    (
        "POST",
        "/cases/{own_case}/events",
        {"event": "complete_due_item", "note": "Done", "data": {"due_item_id": "{id}"}},
        "due_item_id",
    ),
    (
        "POST",
        "/cases/{own_case}/events",
        {"event": "approve_letter", "note": "Fine", "data": {"letter_id": "{id}"}},
        "letter_id",
    ),
    ("GET", "/cases?programme_id={id}", None, "programme_id"),
    ("GET", "/letters/{id}", None, "letter_id"),
    ("GET", "/letters/{id}/pdf", None, "letter_id"),
    ("GET", "/letters?case_id={id}", None, "case_id"),
]


def _fill(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with each "{name}" replaced: a whole string by the number itself."""
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, str):
        whole = re.fullmatch(r"\{(\w+)\}", template)
        if whole:
            return values[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)
    return template


def _without(response, tried: int | str) -> tuple[int, str | None, str]:
    """The response with the id tried in it made anonymous."""
    id_ = re.escape(str(tried))
    text = re.sub(rf"(?<![\w-]){id_}(?![\w-])", "{id}", response.get_data(as_text=True))
    return response.status_code, response.content_type, text


def _same(unseen, unseen_id: int | str, missing, missing_id: int | str) -> bool:
    return _without(unseen, unseen_id) == _without(missing, missing_id)


@pytest.mark.parametrize(
    ("method", "path", "body", "kind"),
    ID_ENDPOINTS,
    ids=[f"{m} {p} {k}" for m, p, _, k in ID_ENDPOINTS],
)
def test_an_unseen_id_answers_as_a_missing_one(api_as, world, method, path, body, kind):
    missing = _missing()
    differ = []
    for role in ROLES:
        api = api_as(world.users[role])
        answers = []
        for number in (world.other[kind], missing[kind]):
            values = {
                "id": number,
                "own_programme": world.own["programme_id"],
                "own_learner": world.own["learner_id"],
                "own_case": world.own["case_id"],
                "own_enrolment": world.own["enrolment_id"],
                "own_learner_ref": world.own["learner_ref"],
                "own_session": world.own["session_ref"],
            }
            headers = {"If-Match": f'"{world.own["case_version"]}"'} if "/events" in path else {}
            response = api.request(
                method, _fill(path, values), json=_fill(body, values), headers=headers
            )
            assert response.status_code < 500
            answers.append(_without(response, number))
        if answers[0] != answers[1]:
            differ.append(f"{role}: unseen {answers[0]} / missing {answers[1]}")
    assert differ == []
