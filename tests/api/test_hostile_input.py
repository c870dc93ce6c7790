"""Hostile input over every write endpoint of the API: no answer is a server error.

The write operations are read from the app's own OpenAPI at collection, so a new endpoint is
covered without touching this file. Each one gets bodies nested a thousand levels deep, numbers
past any column's range and of the wrong type in every field (every event's data too), text with
NUL bytes and lone surrogates, bytes that are not UTF-8, a body over the size limit, and then
schemathesis' negative data (bodies, headers and queries that break the schema).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from sqlalchemy import select

from casework import create_app
from casework.api.jsonbody import MAX_JSON_DEPTH
from casework.extensions import db
from casework.models import Case, Contact, Mark, Role
from casework.views.registers import MAX_UPLOAD
from tests.api.conftest import FUZZING, problem_type

SPEC = "/api/v1/openapi.json"
WRITES = ("post", "put", "patch", "delete")
HUGE = [2**63, 10**30, -(10**30)]
# Days and times at and past the ends of the calendar casework computes with.
EDGES = ["0001-01-01", "1900-01-01", "2999-12-31", "9999-12-31", "9999-12-31T23:59:59-14:00"]
# Wrong in some way for every field: numbers for text, text for numbers, containers for
# scalars, text no database keeps.
WRONG = [*HUGE, 1.5, "text", True, None, [], {}, "\x00", "a\x00b", "\ud800", "9" * 400, *EDGES]


def _spec_app():
    # The spec does not depend on the database: an app on an unused in-memory one serves it.
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})


def _load_spec() -> dict[str, Any]:
    return _spec_app().test_client().get(SPEC).json


OPENAPI = _load_spec()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in OPENAPI["paths"].items()
    for method in operations
    if method in WRITES
)
LABELS = [f"{method} {path}" for method, path in OPERATIONS]
ID_NAMES = {name for _, path in OPERATIONS for name in re.findall(r"{(\w+)}", path)} | {"case_id"}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema or "allOf" in schema:
        if "$ref" in schema:
            schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        else:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(_resolve(part))
            schema = merged
    return schema


def _bodies(method: str, path: str) -> list[dict[str, Any]]:
    """The operation's body schemas: one, or one per event (the events endpoint's oneOf)."""
    body = OPENAPI["paths"][path][method.lower()].get("requestBody")
    if body is None:
        return []
    schema = _resolve(body["content"]["application/json"]["schema"])
    return [_resolve(variant) for variant in schema.get("oneOf", [schema])]


def _fields(schema: dict[str, Any], prefix: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """(path, schema) of every property at any depth; a list's item is at index 0."""
    schema = _resolve(schema)
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop)
        yield (*prefix, name), prop
        if prop.get("type") == "array":
            item = _resolve(prop.get("items", {}))
            yield (*prefix, name, 0), item
            yield from _fields(item, (*prefix, name, 0))
        else:
            yield from _fields(prop, (*prefix, name))


def _skeleton(schema: dict[str, Any]) -> dict[str, Any]:
    """The least body that names its variant: the properties that have one allowed value."""
    return {
        name: prop["enum"][0]
        for name, prop in _resolve(schema).get("properties", {}).items()
        if len(prop.get("enum", [])) == 1
    }


def _with(body: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    target: Any = body
    for part, following in zip(path, (*path[1:], None), strict=True):
        if following is None:
            break
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            if not target:
                target.append(empty)
            target = target[0]
        else:
            target = target.setdefault(part, empty)
    if isinstance(path[-1], int):
        target[:] = [value]
    else:
        target[path[-1]] = value
    return body


def _is_number(schema: dict[str, Any]) -> bool:
    return schema.get("type") in ("integer", "number")


class World:
    """A caller for each write path and the ids its path names: the head of programme on cases
    (who may act on them), the administrator elsewhere."""

    def __init__(self, head, admin, ids: dict[str, int]) -> None:
        self.head, self.admin, self.ids = head, admin, ids

    def url(self, path: str) -> str:
        return path.removeprefix("/api/v1").format(**self.ids)

    def send(self, method: str, path: str, data: bytes | str, **headers: str):
        api = self.head if path.startswith("/api/v1/cases") else self.admin
        if "If-Match" not in headers:  # the case as it is now: the body is what is judged
            version = db.session.scalar(select(Case.version).where(Case.id == self.ids["case_id"]))
            headers["If-Match"] = f'"{version or 1}"'
        headers.setdefault("Content-Type", "application/json")
        return api.request(method, self.url(path), data=data, headers=headers)

    def send_json(self, method: str, path: str, body: Any):
        return self.send(method, path, json.dumps(body))


@pytest.fixture
def world(opened, api_as) -> World:
    """A case the scan opened, with everything the write paths name."""
    t, case = opened
    enrolment = case.enrolment
    ids = {
        "programme_id": enrolment.programme_id,
        "learner_id": enrolment.learner_id,
        "contact_id": db.session.scalar(
            select(Contact.id).where(Contact.learner_id == enrolment.learner_id).limit(1)
        ),
        "enrolment_id": enrolment.id,
        "session_id": db.session.scalar(
            select(Mark.session_id).where(Mark.enrolment_id == enrolment.id).limit(1)
        ),
        "case_id": case.id,
    }
    return World(api_as(t.head), api_as(t.admin), ids)


@pytest.fixture
def bare(make, api_as) -> World:
    """An administrator on an empty database: for bodies refused before any view reads them."""
    admin = api_as(make.user(Role.ADMINISTRATOR))
    return World(admin, admin, dict.fromkeys(ID_NAMES, 1))


def _nested(depth: int, leaf: str = "1") -> list[str]:
    return [
        "[" * depth + "]" * depth,
        '{"a":' * depth + leaf + "}" * depth,
        '{"data": ' + "[" * depth + "]" * depth + "}",
        '{"note": "x", "items": [' + '{"a":' * depth + leaf + "}" * depth + "]}",
    ]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=LABELS)
def test_deep_nesting_is_invalid_json(bare, method, path):
    for depth in (1000, 100_000, MAX_JSON_DEPTH + 1):
        for body in _nested(depth):
            response = bare.send(method, path, body)
            assert response.status_code == 400, (depth, body[:40], response.status_code)
            assert problem_type(response) == "invalid-json"
            assert "deeper" in response.json["detail"] or "nested" in response.json["detail"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=LABELS)
def test_unreadable_bodies_are_invalid_json(bare, method, path):
    bodies = [
        b'{"note": "\xff\xfe"}',  # not UTF-8
        b'{"note": "x"',  # cut short
        b"\x00",
        '{"a": ' + "1" * 5000 + "}",  # more digits than Python turns into a number
        '{"a": -' + "9" * 5000 + "}",
    ]
    for body in bodies:
        response = bare.send(method, path, body)
        assert response.status_code == 400, (body[:30], response.status_code, response.text)
        assert problem_type(response) == "invalid-json"


def test_numbers_past_any_column_are_invalid_data(world):
    """Every id and number field of every write operation, at any depth (every event's data),
    refuses what no column holds: invalid data naming the field, never an overflow."""
    failures, tried = [], 0
    for method, path in OPERATIONS:
        for variant in _bodies(method, path):
            skeleton = _skeleton(variant)
            for field_path, schema in _fields(variant):
                if not _is_number(schema):
                    continue
                for value in HUGE:
                    response = world.send_json(method, path, _with(skeleton, field_path, value))
                    tried += 1
                    refused = response.status_code == 422 and str(field_path[-1]) in json.dumps(
                        response.json.get("errors")
                    )
                    if not refused:
                        failures.append((method, path, field_path, value, response.status_code))
    assert tried > 20  # ids in paths' bodies, event data, marks' minutes
    assert failures == []


def test_wrong_values_in_every_field_are_never_a_server_error(world):
    """Every field at any depth of every write operation (every event's body too), given a
    value of the wrong type or range, text no database keeps, a day off the calendar, or a
    body that is not an object at all."""
    failures = []
    # Changes that take (a valid end date, say) can hide what a later operation would do with
    # the same records: the PATCHes go last.
    for method, path in sorted(OPERATIONS, key=lambda operation: operation[0] == "PATCH"):
        sent = [json.dumps(value) for value in WRONG]
        tried = set()  # a field every event's body shares (the note) is tried once
        for variant in _bodies(method, path):
            skeleton = _skeleton(variant)
            for field_path, schema in _fields(variant):
                if (key := (field_path, json.dumps(schema, sort_keys=True))) in tried:
                    continue
                tried.add(key)
                sent += [json.dumps(_with(skeleton, field_path, value)) for value in WRONG]
        for body in sent:
            response = world.send(method, path, body)
            if response.status_code >= 500:
                failures.append((method, path, body[:200], response.status_code))
    assert failures == []


def test_every_event_refuses_huge_numbers_in_each_of_its_data_fields(world):
    """The events endpoint, event by event: each field of its data (whatever its type) given
    numbers past any column's range is refused as invalid data or refused before it is read
    (an event the case's stage does not allow), never a server error."""
    path = "/api/v1/cases/{case_id}/events"
    statuses = set()
    for variant in _bodies("POST", path):
        skeleton = {**_skeleton(variant), "note": "Hostile numbers"}
        for field_path, _schema in _fields(variant):
            if field_path[0] != "data":
                continue
            for value in HUGE:
                response = world.send_json("POST", path, _with(skeleton, field_path, value))
                statuses.add(response.status_code)
                assert response.status_code < 500, (field_path, value, response.text)
    assert 422 in statuses


def test_the_scan_at_the_ends_of_the_calendar(world):
    """A day past casework's calendar is invalid data; its last and first days are scanned."""
    for as_at, status in [("9999-12-31", 422), ("0001-01-01", 422), ("2999-12-31", 200)]:
        response = world.send_json("POST", "/api/v1/scan", {"as_at": as_at})
        assert response.status_code == status, (as_at, response.text)


def test_complete_due_item_past_the_integer_range_is_invalid_data(world):
    for due_item_id in (2**31, 2**63, 10**30, -(10**30), 1e300, "2147483648"):
        body = {"event": "complete_due_item", "note": "Done", "data": {"due_item_id": due_item_id}}
        response = world.send_json("POST", "/api/v1/cases/{case_id}/events", body)
        assert response.status_code == 422, (due_item_id, response.text)
        assert "due_item_id" in response.json["errors"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=LABELS)
def test_a_body_over_the_limit_is_too_large(app, bare, monkeypatch, method, path):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    body = json.dumps({"note": "x" * 5000})
    response = bare.send(method, path, body)
    assert response.status_code == 413
    assert problem_type(response) == "too-large"
    assert "4096" in response.json["detail"]


def test_the_default_limit_takes_the_largest_real_bodies(app):
    """The limit is above what casework itself takes: the register upload page's largest file,
    and the largest batch of marks the API takes, every field at its longest."""
    limit = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["MAX_CONTENT_LENGTH"]
    assert limit >= MAX_UPLOAD + 64 * 1024  # the page's own check allows this much form around it
    marks = _resolve(OPENAPI["components"]["schemas"]["MarkBatch"])["properties"]["items"]
    item = {
        "learner_ref": "L" * 40,
        "session_ref": "S" * 60,
        "code": "ABCD",
        "minutes_late": 1440,
        "absence_reason": "exceptional_circumstances",
        "evidence_ref": "E" * 120,
        "recorded_at": "2026-09-08T09:14:00+01:00",
    }
    assert len(json.dumps({"items": [item] * marks["maxItems"]})) < limit


def test_hostile_query_values_are_never_a_server_error(world):
    """Every query parameter of every operation (the reads too), given text no database keeps,
    numbers past any column and days off the calendar."""
    values = ["\x00", "a\x00b", "9" * 30, "-1", "1.5", "0001-01-01", "9999-12-31", "\xff"]
    failures = []
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", *WRITES):
                continue  # the path's own parameters
            for name in [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]:
                for value in values:
                    api = world.head if path.startswith("/api/v1/cases") else world.admin
                    response = api.request(
                        method.upper(), world.url(path), query_string={name: value}
                    )
                    if response.status_code >= 500:
                        failures.append((method, path, name, value, response.status_code))
    assert failures == []


def _never_a_server_error(strategy, auth: str, label: str) -> None:
    @given(case=strategy)
    @FUZZING
    def fuzz(case):
        response = case.call(headers={"Authorization": auth})
        assert response.status_code < 500, (label, case.body, response.text)

    fuzz()


def test_negative_data_from_the_schema_is_never_a_server_error(app, world):
    """Schemathesis' negative mode on every write operation: bodies, queries and headers that
    break the schema, on real records."""
    schema = schemathesis.openapi.from_wsgi(SPEC, app)
    for method, path in OPERATIONS:
        strategy = schema.find_operation_by_label(f"{method} {path}").as_strategy(
            generation_mode=GenerationMode.NEGATIVE,
            path_parameters={k: v for k, v in world.ids.items() if f"{{{k}}}" in path},
        )
        api = world.head if path.startswith("/api/v1/cases") else world.admin
        _never_a_server_error(strategy, api.auth, f"{method} {path}")
