"""Fifty clients fire the same transition at once against a real ``casework serve`` (gunicorn,
several worker processes) on each database: exactly one wins, the rest are told the case moved
on (409 or 412, never a 500), and the case records the transition and its letters once."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
from collections import Counter

from sqlalchemy import select

from casework.extensions import db
from casework.models import CaseEvent, LetterJob
from casework.tokens import create_token
from tests.api.conftest import warning
from tests.ports import unused_port
from tests.test_serving import STOP_DEADLINE_SECONDS, server_environment, wait_for_health

CLIENTS = 50
WORKERS = 4
REQUEST_TIMEOUT_SECONDS = 60


def serve(database_url: str, port: int, cwd) -> subprocess.Popen:
    command = [sys.executable, "-c", "from casework.cli import main; main()"]
    bind = f"127.0.0.1:{port}"
    return subprocess.Popen(
        [*command, "serve", "--workers", str(WORKERS), "--bind", bind],
        cwd=cwd,
        env=server_environment(database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def fire_together(port: int, path: str, body: bytes, headers: dict[str, str]) -> list:
    """Each client connects first, then all send at once (released by one barrier)."""
    barrier = threading.Barrier(CLIENTS)
    results: list = [None] * CLIENTS

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            connection.connect()
            barrier.wait()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            results[index] = (response.status, response.read().decode())
        except Exception as error:  # reported in the assertion, not lost in a thread
            results[index] = (None, repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifty_simultaneous_transitions_one_wins(database_url, opened, tmp_path):
    t, case = opened
    _, secret = create_token(email=t.mentor.email, name="race")
    version = case.version
    db.session.commit()  # no open transaction of ours in the server's way (SQLite locks)
    port = unused_port()
    server = serve(database_url, port, tmp_path)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", server)
        headers = {
            "Authorization": f"Bearer {secret}",
            "If-Match": f'"{version}"',
            "Content-Type": "application/json",
        }
        body = json.dumps(warning()).encode()
        results = fire_together(port, f"/api/v1/cases/{case.id}/events", body, headers)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=STOP_DEADLINE_SECONDS)

    statuses = Counter(status for status, _ in results)
    won = [text for status, text in results if status is not None and 200 <= status < 300]
    lost = [(s, text) for s, text in results if s not in (409, 412) and not (200 <= (s or 0) < 300)]
    assert len(won) == 1 and not lost, (statuses, lost[:3], stderr[-3000:])

    db.session.expire_all()
    events = db.session.scalars(
        select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.name == "give_verbal_warning"
        )
    ).all()
    assert len(events) == 1, [(e.id, e.seq, e.from_state, e.to_state) for e in events]
    jobs = db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id)).all()
    by_event = Counter(
        (job.event_id, job.template) for job in jobs if job.template != "concern_notice"
    )
    assert by_event == {(events[0].id, "verbal_warning"): 2}, by_event
