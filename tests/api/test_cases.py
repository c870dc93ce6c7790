"""Cases through the API: scope, reading with an ETag, firing events with If-Match, each
problem kind, and idempotent retries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from casework.cases.service import stage_name
from casework.extensions import db
from casework.machines.events import Change
from casework.machines.workflow import Event
from casework.models import Case, CaseEvent
from casework.policies import rules
from tests.api.conftest import problem_type, warning
from tests.case_fixtures import PLAN


def events_of(case: Case) -> int:
    return db.session.scalar(select(func.count()).where(CaseEvent.case_id == case.id))


@pytest.mark.parametrize(
    ("who", "sees"),
    [("mentor", True), ("head", True), ("admin", True), ("outsider_head", False)],
)
def test_case_scope(api_as, opened, who, sees):
    t, case = opened
    api = api_as(getattr(t, who))
    listed = api.get("/cases")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json] == ([case.id] if sees else [])
    if sees:
        (summary,) = listed.json
        assert summary == expected_summary(case)
    one = api.get(f"/cases/{case.id}")
    if sees:
        assert one.status_code == 200 and one.json["learner_ref"]
    else:
        assert one.status_code == 404 and problem_type(one) == "not-found"


def expected_summary(case: Case) -> dict:
    enrolment = case.enrolment
    return {
        "id": case.id,
        "version": case.version,
        "stage": "monitoring",
        "stage_name": stage_name(case, "monitoring"),
        "policy": "003-green-labyrinth",
        "enrolment_id": enrolment.id,
        "learner_ref": enrolment.learner.learner_ref,
        "learner_name": enrolment.learner.full_name,
        "programme_id": enrolment.programme_id,
        "mentor_id": enrolment.mentor_id,
        "opened_on": str(case.opened_on),
        "ended_at": None,
        "occurrence_count": 1,
        "decision_due_on": str(case.decision_due_on),
    }


def test_the_case_list_reads_a_policy_version_s_document_the_first_time(
    api_as, opened, monkeypatch
):
    """Rules are built once per policy version in a process; a process that has built none yet
    (a new worker) reads the version's document for its first list."""
    t, case = opened
    monkeypatch.setattr(rules, "_cache", {})
    assert api_as(t.head).get("/cases").json == [expected_summary(case)]
    assert list(rules._cache) == [case.policy.sha256]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("stage=monitoring", True),
        ("stage=written_warning", False),
        ("open=true", True),
        ("open=false", False),
        ("decision_due_by=2030-01-01", True),
        ("decision_due_by=2000-01-01", False),
        ("programme_id={programme}", True),
        ("programme_id=999999", False),
        ("mentor_id={mentor}", True),
        ("mentor_id=999999", False),
    ],
)
def test_case_list_filters(api_as, opened, query, found):
    t, case = opened
    query = query.format(programme=t.programme.id, mentor=t.mentor.id)
    listed = api_as(t.head).get(f"/cases?{query}")
    assert [c["id"] for c in listed.json] == ([case.id] if found else [])


def test_case_list_rejects_bad_filters(api_as, opened):
    t, _ = opened
    response = api_as(t.head).get("/cases?stage=limbo&programme_id=0")
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert set(response.json["errors"]) == {"stage", "programme_id"}


def test_read_gives_version_as_etag_and_the_events_the_caller_may_fire(api_as, opened):
    t, case = opened
    response = api_as(t.mentor).get(f"/cases/{case.id}")
    assert response.headers["ETag"] == f'"{case.version}"'
    events = {e["event"] for e in response.json["events_allowed"]}
    assert "give_verbal_warning" in events
    assert {letter["template"] for letter in response.json["letters"]} == {"concern_notice"}


def test_fire_event_moves_the_case_and_lists_its_letters(api_as, opened):
    t, case = opened
    api = api_as(t.mentor)
    etag = api.get(f"/cases/{case.id}").headers["ETag"]
    response = api.post(f"/cases/{case.id}/events", json=warning(), headers={"If-Match": etag})
    assert response.status_code == 200, response.json
    assert response.json["stage"] == "verbal_warning"
    assert response.headers["ETag"] == f'"{response.json["version"]}"' != etag
    assert {(x["template"], x["recipient_kind"]) for x in response.json["letters"]} == {
        ("verbal_warning", "learner"),
        ("verbal_warning", "parent_carer"),
    }


@pytest.mark.parametrize(
    ("if_match", "kind", "status"),
    [(None, "precondition-required", 428), ("*", "precondition-required", 428)],
)
def test_fire_event_needs_if_match(api_as, opened, if_match, kind, status):
    t, case = opened
    before = events_of(case)
    headers = {"If-Match": if_match} if if_match else {}
    response = api_as(t.mentor).post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    assert response.status_code == status and problem_type(response) == kind
    assert events_of(case) == before


def test_stale_version_changes_nothing(api_as, opened):
    t, case = opened
    api = api_as(t.mentor)
    old = api.get(f"/cases/{case.id}").headers["ETag"]
    note = {"event": "add_note", "note": "Rang home"}
    before = events_of(case)
    noted = api.post(f"/cases/{case.id}/events", json=note, headers={"If-Match": old})
    assert noted.status_code == 200
    response = api.post(f"/cases/{case.id}/events", json=warning(), headers={"If-Match": old})
    assert response.status_code == 412 and problem_type(response) == "stale"
    db.session.refresh(case)
    assert response.json["current_version"] == case.version
    assert case.state == "monitoring" and events_of(case) == before + 1


@pytest.mark.parametrize(
    ("who", "body", "kind", "status"),
    [
        # not allowed from monitoring: the allowed events come back
        ("head", {"event": "withdraw", "note": "n", "data": {"reason": "x"}}, "not-allowed", 409),
        # an administrator makes no case decisions
        ("admin", warning(), "forbidden", 403),
        # 003 refers to fitness to study only with circumstances recorded
        (
            "mentor",
            {"event": "refer_fitness_to_study", "note": "n", "data": {"action_plan": PLAN}},
            "guard-failed",
            409,
        ),
        ("mentor", warning(data={}), "invalid-data", 422),
        ("mentor", {"event": "give_verbal_warning"}, "invalid-data", 422),
        ("mentor", {"note": "no event"}, "invalid-data", 422),
        ("mentor", {"event": "fly_to_the_moon", "note": "n"}, "not-allowed", 409),
    ],
)
def test_each_refusal_is_its_problem_kind_and_changes_nothing(
    api_as, opened, who, body, kind, status
):
    t, case = opened
    before = events_of(case)
    api = api_as(getattr(t, who))
    response = api.post(
        f"/cases/{case.id}/events", json=body, headers={"If-Match": f'"{case.version}"'}
    )
    assert response.status_code == status and problem_type(response) == kind, response.json
    assert response.json["status"] == status and response.json["detail"]
    if kind == "not-allowed":
        assert "give_verbal_warning" in response.json["allowed"]
    if kind == "invalid-data":
        assert response.json["errors"]
    db.session.refresh(case)
    assert case.state == "monitoring" and events_of(case) == before


def test_outsider_cannot_fire_or_learn_the_case_exists(api_as, opened):
    t, case = opened
    response = api_as(t.outsider_head).post(
        f"/cases/{case.id}/events", json=warning(), headers={"If-Match": '"1"'}
    )
    assert response.status_code == 404 and problem_type(response) == "not-found"


def test_retried_post_with_the_same_idempotency_key_acts_once(api_as, opened):
    t, case = opened
    api = api_as(t.mentor)
    before = events_of(case)
    headers = {"If-Match": f'"{case.version}"', "Idempotency-Key": "warn-1"}
    first = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    again = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert events_of(case) == before + 1  # warned once

    other = api.post(f"/cases/{case.id}/events", json=warning(note="Other"), headers=headers)
    assert other.status_code == 422 and problem_type(other) == "idempotency-key-reused"


def test_a_refused_request_is_replayed_as_refused(api_as, opened):
    t, case = opened
    api = api_as(t.mentor)
    headers = {"If-Match": '"99"', "Idempotency-Key": "stale-1"}
    first = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    again = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    assert first.status_code == again.status_code == 412
    assert again.get_data() == first.get_data()


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "two words"])
def test_a_malformed_idempotency_key_is_refused(api_as, opened, key):
    t, case = opened
    before = events_of(case)
    response = api_as(t.mentor).post(
        f"/cases/{case.id}/events",
        json=warning(),
        headers={"If-Match": f'"{case.version}"', "Idempotency-Key": key},
    )
    assert response.status_code == 422 and problem_type(response) == "invalid-data"
    assert events_of(case) == before


def test_opening_a_case_by_hand_follows_the_policy(api_as, team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPPPP")
    clock(day)
    response = api_as(t.mentor).post(
        "/cases", json={"enrolment_id": enrolment.id, "note": "Worried"}
    )
    # 003's staff may not open cases by hand, or attendance is fine: refused either way, and
    # nothing is opened.
    assert response.status_code in (403, 409), response.json
    assert problem_type(response) in ("forbidden", "guard-failed")
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_bad_json_is_a_problem_not_a_page(api_as, opened):
    t, case = opened
    response = api_as(t.mentor).post(
        f"/cases/{case.id}/events",
        data="{not json",
        headers={"If-Match": '"1"', "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"


def test_a_409_offers_exactly_what_the_caller_may_fire(api_as, opened):
    """The allowed list of a refusal is the caller's own events_allowed: at a verbal warning a
    tutor is not offered the written warning (003 gives it to the head alone)."""
    t, case = opened
    warned = api_as(t.mentor).post(
        f"/cases/{case.id}/events", json=warning(), headers={"If-Match": f'"{case.version}"'}
    )
    assert warned.status_code == 200, warned.json
    offered = {}
    for who in ("mentor", "head"):
        api = api_as(getattr(t, who))
        read = api.get(f"/cases/{case.id}")
        may = [e["event"] for e in read.json["events_allowed"]]
        body = {"event": "withdraw", "note": "n", "data": {"reason": "x"}}
        response = api.post(
            f"/cases/{case.id}/events", json=body, headers={"If-Match": read.headers["ETag"]}
        )
        assert response.status_code == 409 and problem_type(response) == "not-allowed"
        assert response.json["allowed"] == may
        offered[who] = set(may)
    assert "issue_written_warning" in offered["head"] - offered["mentor"]
    assert {"refer_fitness_to_study", "close"} <= offered["mentor"]
    head_only = api_as(t.mentor).post(
        f"/cases/{case.id}/events",
        json={"event": "issue_written_warning", "note": "n", "data": {"action_plan": PLAN}},
        headers={"If-Match": f'"{warned.json["version"]}"'},
    )
    assert head_only.status_code == 403 and problem_type(head_only) == "forbidden"


def test_openapi_describes_each_events_data(api_as, opened):
    """One request schema per event and change, selected by the event's name, so a caller can
    see that a verbal warning takes an action plan with targets, support and review dates."""
    t, _case = opened
    document = api_as(t.head).get("/openapi.json").json
    body = document["paths"]["/api/v1/cases/{case_id}/events"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    mapping = schema["discriminator"]["mapping"]
    assert schema["discriminator"]["propertyName"] == "event"
    assert [{"$ref": ref} for ref in mapping.values()] == schema["oneOf"]
    expected = {e.value for e in Event} - {"open"} | {c.value for c in Change} - {
        "record_occurrence"
    }
    assert set(mapping) == expected
    components = document["components"]["schemas"]

    def data_of(event: str) -> dict:
        body_schema = components[mapping[event].rsplit("/", 1)[1]]
        assert body_schema["properties"]["event"]["enum"] == [event]
        return components[body_schema["properties"]["data"]["$ref"].rsplit("/", 1)[1]]

    plan = data_of("give_verbal_warning")["properties"]["action_plan"]
    plan_schema = components[plan["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert set(plan_schema["required"]) == {"targets", "support", "review_dates"}
    assert data_of("convene_panel")["required"] == ["panel"]
    assert set(data_of("record_review")["required"]) == {"reviewed_on", "outcome"}
    assert data_of("complete_due_item")["properties"]["due_item_id"]["maximum"] == 2**31 - 1
    assert data_of("close")["properties"]["reason"]["enum"] == [
        "attendance_restored",
        "no_further_action",
    ]
