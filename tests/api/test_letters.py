"""Letters through the API: listed within scope, downloaded as the very bytes stored."""

from __future__ import annotations

import hashlib

import pytest

from casework.extensions import db
from tests.api.conftest import problem_type, warning
from tests.case_fixtures import render_letters, to_written_warning


@pytest.fixture
def warned(api_as, opened, app, monkeypatch):
    """The mentor gives a verbal warning through the API; its letters render at once."""
    monkeypatch.setitem(app.config, "RENDER_LETTERS_ON_ACTION", True)
    t, case = opened
    api = api_as(t.mentor)
    response = api.post(
        f"/cases/{case.id}/events", json=warning(), headers={"If-Match": f'"{case.version}"'}
    )
    assert response.status_code == 200, response.json
    return t, case, api, response.json


def test_fired_event_gives_its_letters_to_download(warned):
    _t, _case, api, result = warned
    letters = result["letters"]
    assert {x["status"] for x in letters} == {"rendered"} and len(letters) == 2
    for produced in letters:
        download = api.client.get(produced["download"], headers={"Authorization": api.auth})
        assert download.status_code == 200 and download.content_type == "application/pdf"
        assert download.data.startswith(b"%PDF-")
        record = api.get(f"/letters/{produced['letter_id']}").json
        assert hashlib.sha256(download.data).hexdigest() == record["sha256"]
        assert download.headers["ETag"] == f'"{record["sha256"]}"'
        assert record["reference"] in download.headers["Content-Disposition"]
        again = api.client.get(produced["download"], headers={"Authorization": api.auth})
        assert again.data == download.data


def test_letter_list_filters_and_pages(warned):
    _t, case, api, _ = warned
    everything = api.get(f"/letters?case_id={case.id}")
    assert {x["template"] for x in everything.json} == {"verbal_warning"}
    assert api.get("/letters?recipient_kind=parent_carer").json[0]["recipient_kind"] == (
        "parent_carer"
    )
    first = api.get("/letters?page_size=1")
    assert len(first.json) == 1 and '"total": 2' in first.headers["X-Pagination"]
    second = api.get("/letters?page_size=1&page=2")
    assert second.json[0]["id"] != first.json[0]["id"]


def test_letters_outside_scope_do_not_exist(warned, api_as):
    t, _case, _, result = warned
    outsider = api_as(t.outsider_head)
    letter_id = result["letters"][0]["letter_id"]
    assert outsider.get("/letters").json == []
    for path in (f"/letters/{letter_id}", f"/letters/{letter_id}/pdf"):
        response = outsider.get(path)
        assert response.status_code == 404 and problem_type(response) == "not-found"


def test_the_head_approves_or_returns_a_letter_as_a_change_of_its_case(api_as, opened, clock):
    """approve_letter and return_letter are changes like any other: POST /cases/{id}/events with
    the case's version, only from the head of the learner's programme."""
    t, case = opened
    to_written_warning(t, case, clock, case.opened_on)
    render_letters(case)
    db.session.refresh(case)
    waiting = api_as(t.head).get(f"/cases/{case.id}").json["letters"]
    learner, parent = [x for x in waiting if x["approval"] == "awaiting"]
    assert {learner["template"], parent["template"]} == {"written_warning"}

    def send(user, event: str, letter: dict, note: str = "Read it"):
        db.session.refresh(case)
        body = {"event": event, "note": note, "data": {"letter_id": letter["letter_id"]}}
        return api_as(user).post(
            f"/cases/{case.id}/events", json=body, headers={"If-Match": f'"{case.version}"'}
        )

    refused = send(t.mentor, "approve_letter", learner)
    assert refused.status_code == 403 and problem_type(refused) == "forbidden"
    assert send(t.head, "return_letter", learner, note="").status_code == 422
    approved = send(t.head, "approve_letter", learner)
    assert approved.status_code == 200 and approved.json["event"] == "approve_letter"
    returned = send(t.head, "return_letter", parent, note="Wrong address")
    assert returned.status_code == 200
    again = send(t.head, "approve_letter", parent)
    assert again.status_code == 409 and problem_type(again) == "guard-failed"
    letters = {x["letter_id"]: x for x in api_as(t.head).get(f"/cases/{case.id}").json["letters"]}
    assert letters[learner["letter_id"]]["approval"] == "approved"
    assert letters[parent["letter_id"]]["approval"] == "returned"
    assert letters[parent["letter_id"]]["approval_note"] == "Wrong address"
