"""Hostile input on the staff pages: query strings and form posts get a page saying what is
wrong (or are ignored), a body over the limit a plain page; never a server error."""

from __future__ import annotations

import re

from sqlalchemy import select

from casework.extensions import db
from casework.models import Mark
from tests.views.conftest import csrf_token, sign_in
from tests.views.test_learner_pages import officer_of

# Text str.isdigit() takes and int() refuses ('²'), or int() takes and no person types ('٣');
# numbers past any column, or of more digits than int() converts; text no database keeps;
# days off the calendar.
HOSTILE = ["²", "٣", "9" * 5000, "9" * 30, "-1", "\x00", "a\x00b", "0001-01-01", "9999-12-31"]
FORM_VALUES = ["²", "9" * 5000, "9" * 30, "a\x00b", "9999-12-31"]
QUERIES = [
    ("/registers", ("programme", "day", "fill")),
    ("/learners", ("q", "page")),
    ("/learners/{learner_id}", ("marks",)),
    ("/cases", ("page", "programme", "mentor", "stage", "q", "format")),
    ("/attendance", ("page", "programme", "format")),
    ("/letters", ("page", "status")),
    ("/dashboard", ("page",)),
]


def test_hostile_query_values_are_never_a_server_error(client, opened):
    t, case = opened
    sign_in(client, t.head.email)
    failures = []
    for path, names in QUERIES:
        url = path.format(learner_id=case.enrolment.learner_id)
        for name in names:
            for value in HOSTILE:
                response = client.get(url, query_string={name: value})
                if response.status_code >= 500 or "Traceback" in response.text:
                    failures.append((url, name, value[:12], response.status_code))
    assert failures == []


def test_hostile_values_in_every_field_of_the_case_page_forms(client, opened):
    """Every field of every step's form on the case page (the version and the timeline read
    too), one at a time: refused in words on the page (or taken, where the value is
    harmless), never a server error."""
    t, case = opened
    sign_in(client, t.mentor.email)
    html = client.get(f"/cases/{case.id}").text
    token = csrf_token(html)
    forms = dict.fromkeys(re.findall(rf'action="/cases/{case.id}/events/(\w+)"', html))
    assert "add_note" in forms and "give_verbal_warning" in forms
    failures = []
    for event in forms:
        names = sorted(set(re.findall(rf'name="({event}-[\w-]+)"', html)))
        typed = {name: "" for name in names} | {
            f"{event}-version": str(case.version),
            f"{event}-seen": "1",
            f"{event}-note": "Why",
        }
        for name in names:
            for value in FORM_VALUES:
                data = {"csrf_token": token, **typed, name: value}
                response = client.post(f"/cases/{case.id}/events/{event}", data=data)
                if response.status_code >= 500 or "Traceback" in response.text:
                    failures.append((name, value[:12], response.status_code))
    assert failures == []


def test_a_form_over_the_limit_is_a_plain_page(app, client, opened, monkeypatch):
    t, case = opened
    sign_in(client, t.mentor.email)
    token = csrf_token(client.get(f"/cases/{case.id}").text)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    data = {"csrf_token": token, "add_note-note": "x" * 5000}
    response = client.post(f"/cases/{case.id}/events/add_note", data=data)
    assert response.status_code == 413
    assert "larger than casework takes (4096 bytes at most)" in response.text
    assert "Traceback" not in response.text


def test_json_nested_deep_sent_to_a_page_is_a_plain_page(client, opened):
    t, case = opened
    sign_in(client, t.mentor.email)
    response = client.post(
        f"/cases/{case.id}/events/add_note",
        data="[" * 1000 + "]" * 1000,
        content_type="application/json",
    )
    assert response.status_code == 400  # no form, so no token: refused before it is read
    assert "Traceback" not in response.text


def test_hostile_values_in_every_field_of_the_register_forms(client, opened, make):
    """The register of a session and a mark's correction, every field one at a time (the rest
    as a form that saves): refused in words or saved, never a server error."""
    t, case = opened
    officer = officer_of(make, t.programme)
    db.session.commit()
    sign_in(client, officer.email)
    mark = db.session.scalars(select(Mark).where(Mark.enrolment_id == case.enrolment_id)).first()
    failures = []
    for url in (f"/registers/sessions/{mark.session_id}", f"/registers/marks/{mark.id}"):
        html = client.get(url).text
        token = csrf_token(html)
        names = sorted(set(re.findall(r'name="([\w-]+)"', html)) - {"csrf_token"})
        # A form that would save (a present mark, a reason to change it) but for the one field.
        typed = {n: "P" for n in names if n.startswith("code")} | {"why": "Hostile values"}
        for name in names:
            for value in FORM_VALUES:
                data = {"csrf_token": token, **typed, name: value}
                response = client.post(url, data=data)
                if response.status_code >= 500 or "Traceback" in response.text:
                    failures.append((url, name, value[:12], response.status_code))
    assert failures == []
