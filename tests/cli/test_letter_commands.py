"""render-letters run as a user would run it: its worker processes end with it, even when it
is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from casework.cases.scan import run_scan
from casework.documents.jobs import pending_jobs
from casework.extensions import db
from casework.models import ContactKind

PROC = Path("/proc")
DEADLINE = 120  # seconds: generous, never waited out when all is well
WORKERS = 3
POLL = 0.05


def _children(parent: int) -> dict[int, str]:
    """The live child processes of ``parent`` (pid: command line), from /proc."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == parent and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def _until(condition, what: str) -> None:
    """Poll ``condition`` until it holds; fail after DEADLINE seconds."""
    waiting = threading.Event()  # never set: a pause between looks
    for _ in range(int(DEADLINE / POLL)):
        if condition():
            return
        waiting.wait(POLL)
    pytest.fail(f"after {DEADLINE} s: {what}")


@contextmanager
def _letters_held() -> Iterator[None]:
    """Hold back every letter's commit from another connection, so the workers stay busy."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("LOCK TABLE letter IN EXCLUSIVE MODE"))  # reads still go
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's write lock
        try:
            yield
        finally:
            connection.rollback()


@pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="reads processes from /proc")
def test_render_letters_workers_end_when_the_command_is_killed(app, team, make, clock):
    t = team("003-green-labyrinth")
    for _ in range(WORKERS * 13):  # two letters a case: 78 jobs, 4 chunks of 25 or fewer
        enrolment = t.learner(born=date(2010, 5, 1))
        make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent")
        day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    assert len(pending_jobs()) > 25 * (WORKERS - 1)  # enough chunks for every worker
    db.session.commit()
    command = Path(sys.executable).with_name("casework")
    env = {**os.environ, "CASEWORK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}
    with _letters_held():
        parent = subprocess.Popen(
            [str(command), "render-letters", "--workers", str(WORKERS)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers: dict[int, str] = {}
        try:

            def started() -> bool:
                workers.update(_children(parent.pid))
                return sum("spawn_main" in cmd for cmd in workers.values()) >= WORKERS

            _until(started, f"{WORKERS} workers of render-letters: {workers}")
            assert parent.poll() is None  # still rendering: the letters are held back
            parent.send_signal(signal.SIGKILL)
            parent.wait(DEADLINE)
            _until(
                lambda: not any(_alive(pid) for pid in workers),
                f"workers still running after their parent was killed: {workers}",
            )
        finally:
            parent.kill()
            for pid in workers:  # on failure: leave nothing running behind the test
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
