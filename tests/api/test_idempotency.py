"""Idempotency-Key when things go wrong: a worker killed mid-request, the response lost after
the action committed, two copies of one request at once."""

from __future__ import annotations

import json
import os
import select as selectors
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import event, func
from sqlalchemy import select as sql_select

import casework.api.resources.cases as cases_api
from casework.extensions import db
from casework.models import CaseEvent, IdempotentRequest
from tests.api.conftest import ApiClient, problem_type, warning

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60  # seconds: generous, never waited out when all is well
WAIT = 60  # IDEMPOTENCY_RESPONSE_WAIT for these tests


def events_of(case_id: int) -> int:
    return db.session.scalar(sql_select(func.count()).where(CaseEvent.case_id == case_id))


def _kill_mid_request(app, api: ApiClient, case, key: str, stop: str) -> None:
    """Run the request with ``key`` in a worker process, stopped at ``stop``, and SIGKILL it."""
    db.session.commit()  # nothing of the test's own may hold a lock the worker needs
    settings = {
        "database_url": app.config["SQLALCHEMY_DATABASE_URI"],
        "secret": api.secret,
        "case_id": case.id,
        "version": case.version,
        "key": key,
        "body": warning(),
        "now": datetime.now(UTC).isoformat(),
        "stop": stop,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.api.dying_request", json.dumps(settings)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        ready, _, _ = selectors.select([worker.stdout], [], [], DEADLINE)
        assert ready and worker.stdout.readline() == b"stopped\n"
    finally:
        worker.kill()
        worker.wait(DEADLINE)
        worker.stdin.close()
        worker.stdout.close()


def test_a_request_killed_before_its_commit_can_be_retried_and_acts_once(app, api_as, opened):
    """The old claim, committed before the request ran, outlived the killed worker: every retry
    was told "in progress" for ever, though nothing had been done."""
    t, case = opened
    api = api_as(t.mentor)
    before, headers = events_of(case.id), {"If-Match": f'"{case.version}"', "Idempotency-Key": "k1"}
    _kill_mid_request(app, api, case, "k1", "before-commit")
    assert events_of(case.id) == before  # the dead worker's action never happened

    retried = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    assert retried.status_code == 200, retried.json
    assert "Idempotent-Replayed" not in retried.headers
    again = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == retried.get_data()
    assert again.headers["ETag"] == retried.headers["ETag"]
    assert events_of(case.id) == before + 1


def test_a_response_lost_after_the_commit_is_in_progress_then_said_lost(
    app, api_as, opened, monkeypatch
):
    """The action committed, then the worker died before storing the response: retries are
    told to wait for a bounded time, then that it was done (never "in progress" for ever), and
    it is never done again."""
    monkeypatch.setitem(app.config, "IDEMPOTENCY_RESPONSE_WAIT", WAIT)
    t, case = opened
    api = api_as(t.mentor)
    before, headers = events_of(case.id), {"If-Match": f'"{case.version}"', "Idempotency-Key": "k2"}
    _kill_mid_request(app, api, case, "k2", "after-commit")
    assert events_of(case.id) == before + 1  # done, once
    claimed = db.session.scalar(sql_select(IdempotentRequest.created_at))

    answers = {}
    for waited in (WAIT - 1, WAIT + 1, 100 * WAIT):
        with time_machine.travel(claimed + timedelta(seconds=waited), tick=False):
            answers[waited] = api.post(f"/cases/{case.id}/events", json=warning(), headers=headers)
    assert answers[WAIT - 1].status_code == 409
    assert problem_type(answers[WAIT - 1]) == "request-in-progress"
    for waited in (WAIT + 1, 100 * WAIT):
        lost = answers[waited]
        assert lost.status_code == 409 and problem_type(lost) == "response-lost", lost.json
        assert "Do not send it again" in lost.json["detail"]
    assert events_of(case.id) == before + 1  # and never again


@pytest.mark.parametrize("first_dies", [False, True], ids=["first-succeeds", "first-dies"])
def test_two_copies_at_once_act_once_and_the_second_waits_for_the_first(
    app, api_as, opened, monkeypatch, first_dies
):
    """The second copy waits on the first's uncommitted claim, then answers from it; if the first
    dies instead, the second does the action. The old claim answered the second "in progress"
    at once, whether or not the first would ever finish."""
    t, case = opened
    api = api_as(t.mentor)
    assert api.get(f"/cases/{case.id}").status_code == 200  # the token's last use noted now
    before, path = events_of(case.id), f"/cases/{case.id}/events"
    headers = {"If-Match": f'"{case.version}"', "Idempotency-Key": "k3"}
    db.session.commit()
    first_inside, go, second_moved = threading.Event(), threading.Event(), threading.Event()
    answers, claiming = {}, []
    act = cases_api.act

    def acting(**kwargs):
        if threading.current_thread().name == "first":
            first_inside.set()
            assert go.wait(DEADLINE)
            if first_dies:
                act(**kwargs, commit=False)
                raise RuntimeError("the worker dies")
        return act(**kwargs)

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == "second" and statement.startswith(
            "INSERT INTO idempotent_request"
        ):
            claiming.append(True)
            second_moved.set()

    def send(name: str) -> None:
        try:
            client = ApiClient(app.test_client(), api.secret)
            answers[name] = client.post(path, json=warning(), headers=headers)
        finally:
            if name == "second":
                second_moved.set()

    monkeypatch.setattr(cases_api, "act", acting)
    event.listen(db.engine, "before_cursor_execute", before_execute)
    threads = {
        name: threading.Thread(target=send, args=(name,), name=name) for name in ("first", "second")
    }
    try:
        threads["first"].start()
        assert first_inside.wait(DEADLINE)
        threads["second"].start()
        assert second_moved.wait(DEADLINE)
        waited = bool(claiming) and threads["second"].is_alive()
    finally:
        go.set()
        for thread in threads.values():
            thread.join(DEADLINE)
        event.remove(db.engine, "before_cursor_execute", before_execute)
    assert waited, f"the second answered while the first was running: {answers['second'].json}"

    second = answers["second"]
    if first_dies:
        assert answers["first"].status_code == 500
        assert second.status_code == 200 and "Idempotent-Replayed" not in second.headers
        winner = second
    else:
        winner = answers["first"]
        assert winner.status_code == 200, winner.json
        if second.status_code == 409:  # in the moment between the first's commit and its store
            assert problem_type(second) == "request-in-progress"
        else:
            assert second.headers["Idempotent-Replayed"] == "true"
            assert second.get_data() == winner.get_data()
    assert events_of(case.id) == before + 1
    third = api.post(path, json=warning(), headers=headers)
    assert third.headers["Idempotent-Replayed"] == "true"
    assert third.get_data() == winner.get_data()


def test_a_request_that_fails_after_its_commit_is_never_run_again(api_as, opened, monkeypatch):
    """The action committed, then the view failed (500): the old code released the key as if
    nothing had changed, and a retry ran the action again."""
    t, case = opened
    api = api_as(t.mentor)
    before, path = events_of(case.id), f"/cases/{case.id}/events"
    headers = {"If-Match": f'"{case.version}"', "Idempotency-Key": "k4"}

    def fails(result):
        raise RuntimeError("the letters' renderer is down")

    monkeypatch.setattr(cases_api, "_render", fails)
    assert api.post(path, json=warning(), headers=headers).status_code == 500
    monkeypatch.undo()
    retried = api.post(path, json=warning(), headers=headers)
    assert retried.status_code == 409 and problem_type(retried) == "response-lost", retried.json
    assert events_of(case.id) == before + 1


def test_a_refusal_the_view_returns_is_replayed(api_as, opened):
    """A 4xx answered without an error (here no If-Match) commits nothing, the claim with it;
    its answer is still kept, in a claim of its own, and replayed."""
    t, case = opened
    api = api_as(t.mentor)
    path, headers = f"/cases/{case.id}/events", {"Idempotency-Key": "k5"}
    first = api.post(path, json=warning(), headers=headers)
    again = api.post(path, json=warning(), headers=headers)
    assert first.status_code == 428 and problem_type(first) == "precondition-required"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
