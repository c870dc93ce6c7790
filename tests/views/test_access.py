"""The access table (tests/views/access): every page route, for every role, on its own
programme's records and on another's, answers with the status the table expects; and the table
has a row for every page route the app has, so a new route cannot go without one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from casework.cases.scan import run_scan
from casework.documents.jobs import render_job
from casework.extensions import db
from casework.models import (
    Case,
    ContactKind,
    Enrolment,
    Learner,
    Letter,
    LetterJob,
    Mark,
    MessageStatus,
    OutboxMessage,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    Session,
)
from tests.views.access import ROLES, STAFF, table
from tests.views.conftest import csrf_token, sign_in

PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass
class World:
    emails: dict[str, str]  # role -> the account that signs in as it
    ids: dict[str, dict[str, int | str]]  # "own" / "other" -> path parameter -> id


def _records(enrolment: Enrolment) -> dict[str, int | str]:
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    letter = db.session.scalars(
        select(Letter).where(Letter.case_id == case.id, Letter.recipient_kind == "learner")
    ).first()
    mark = db.session.scalars(select(Mark).where(Mark.enrolment_id == enrolment.id)).first()
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.learner_id == enrolment.learner_id)
    ).one()
    return {
        "case_id": case.id,
        "enrolment_id": enrolment.id,
        "learner_id": enrolment.learner_id,
        "programme_id": enrolment.programme_id,
        "letter_id": letter.id,
        "job_id": letter.job_id,
        "mark_id": mark.id,
        "session_id": mark.session_id,
        "message_id": message.id,
        "event": "give_verbal_warning",  # a step of the case page's: one the own case can take
    }


@pytest.fixture
def world(team, make, clock) -> World:
    """Two programmes under one policy, each with a learner whose case the scan opened and whose
    letters are rendered; the first programme's case is flagged to the safeguarding lead."""
    t = team("003-green-labyrinth")
    officer = make.user(Role.ADMINISTRATION_OFFICER, name="Oli Officer")
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    own = t.learner(born=date(2010, 5, 1))
    other = make.enrolment(
        learner=make.learner(date_of_birth=date(2010, 6, 1)),
        programme=t.other_programme,
        mentor_id=t.other_mentor.id,
    )
    for enrolment in (own, other):
        parent = make.contact(
            enrolment.learner,
            ContactKind.PARENT_CARER,
            name="Pat",
            address="1 Road",
            email="p@x.org",
        )
        make.outbox_message(enrolment, parent, status=MessageStatus.FAILED)
        day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    for job_id in db.session.scalars(select(LetterJob.id)).all():
        render_job(job_id)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == own.id)).one()
    case.safeguarding_flagged_at = datetime.now(UTC)
    account = make.learner_account(own.learner)
    db.session.commit()
    users = {
        "mentor": t.mentor,
        "head": t.head,
        "officer": officer,
        "safeguarding": t.safeguarding,
        "admin": t.admin,
    }
    return World(
        emails={"learner": account.email} | {role: user.email for role, user in users.items()},
        ids={"own": _records(own), "other": _records(other)},
    )


def page_routes(app) -> set[str]:
    """``"METHOD /rule"`` of every route that serves pages (not the API, its docs or files)."""
    return {
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api") and rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_table_has_a_row_for_every_page_route_and_no_more(app):
    rows, routes = table().keys(), page_routes(app)
    assert sorted(routes - rows) == [], "routes without a row in tests/views/access"
    assert sorted(rows - routes) == [], "rows for routes the app does not have"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_as_the_table_says(role, world, new_client):
    client = new_client()
    if role != "anonymous":
        assert sign_in(client, world.emails[role]).status_code == 303
    token = csrf_token(client.get("/account/password" if role != "anonymous" else "/sign-in").text)
    # Signing out ends the session the other rows need: it goes last.
    rows = sorted(table().items(), key=lambda row: (row[0] == "POST /sign-out", row[0]))
    wrong = []
    for key, access in rows:
        method, rule = key.split(" ", 1)
        sides = ("own", "other") if PARAMETER.search(rule) else ("own",)
        for side in sides:
            ids = world.ids[side]
            path = PARAMETER.sub(lambda match, ids=ids: str(ids[match.group(1)]), rule)
            data = {**(access.data or {}), "csrf_token": token} if method == "POST" else None
            status = client.open(path, method=method, data=data).status_code
            if status != access.status(role, side):
                wrong.append(f"{key} ({side}): {status}, expected {access.status(role, side)}")
    assert wrong == []


# Each path parameter's table, for an id that no row has.
TABLES = {
    "case_id": Case,
    "enrolment_id": Enrolment,
    "learner_id": Learner,
    "programme_id": Programme,
    "letter_id": Letter,
    "job_id": LetterJob,
    "mark_id": Mark,
    "session_id": Session,
    "message_id": OutboxMessage,
}
CSRF = re.compile(r'name="csrf_token" value="[^"]*"')


def _anonymous(response, ids: dict[str, int | str]) -> tuple[int, str]:
    """Status and page, with the ids asked for and the form tokens left out."""
    text = CSRF.sub("", response.text)
    for value in ids.values():
        text = re.sub(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", "{id}", text)
    return response.status_code, text


@pytest.mark.parametrize("role", (*STAFF, "learner"))
def test_an_unseen_record_answers_as_a_missing_one(role, world, new_client):
    """Wherever a record of another programme's is not found, a record that does not exist is
    not found in exactly the same words: a page does not tell which ids exist."""
    client = new_client()
    assert sign_in(client, world.emails[role]).status_code == 303
    token = csrf_token(client.get("/account/password").text)
    missing = {
        name: (db.session.scalar(select(func.max(model.id))) or 0) + 1000
        for name, model in TABLES.items()
    }
    differ = []
    for key, access in sorted(table().items()):
        method, rule = key.split(" ", 1)
        if not PARAMETER.search(rule) or access.status(role, "other") != 404:
            continue
        answers = []
        for ids in (world.ids["other"], {**world.ids["other"], **missing}):
            path = PARAMETER.sub(lambda match, ids=ids: str(ids[match.group(1)]), rule)
            data = {**(access.data or {}), "csrf_token": token} if method == "POST" else None
            used = {name: ids[name] for name in PARAMETER.findall(rule) if name in TABLES}
            answers.append(_anonymous(client.open(path, method=method, data=data), used))
        if answers[0] != answers[1]:
            differ.append(f"{key}: unseen {answers[0][0]}, missing {answers[1][0]}")
    assert differ == []


def test_a_register_form_writes_only_its_own_learners(world, new_client):
    """The register page's fields are named by enrolment: one of another programme's, added to
    the form, is ignored, never marked."""
    client = new_client()
    assert sign_in(client, world.emails["officer"]).status_code == 303
    own, other = world.ids["own"], world.ids["other"]
    path = f"/registers/sessions/{own['session_id']}"
    before = db.session.scalar(
        select(func.count()).where(Mark.enrolment_id == other["enrolment_id"])
    )
    data = {
        "csrf_token": csrf_token(client.get(path).text),
        f"code-{own['enrolment_id']}": "P",
        f"code-{other['enrolment_id']}": "P",
    }
    assert client.post(path, data=data).status_code == 303
    after = db.session.scalar(
        select(func.count()).where(Mark.enrolment_id == other["enrolment_id"])
    )
    assert after == before
