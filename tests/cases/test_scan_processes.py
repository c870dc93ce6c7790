"""Real ``casework scan`` and ``casework import-register`` processes at once, on each database:
scans released together open each case once and record each occurrence once, and a scan beside
a register import sees all of the import's marks or none (casework.registers.marks_lock on
PostgreSQL, the one writer at a time on SQLite)."""

from __future__ import annotations

import os
import select as selectors
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, text

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import (
    Case,
    CaseEvent,
    DueItem,
    DueKind,
    LetterJob,
    Occurrence,
    ScanRun,
    SessionKind,
)
from casework.registers.importing import COLUMNS
from casework.registers.marks_lock import lock_marks_for_scan
from tests.case_fixtures import TERM_START
from tests.cases.conftest import fire
from tests.test_serving import server_environment

SCANS = 3
BELOW = 30  # learners below the threshold before any scan
DEADLINE_SECONDS = 300  # for a command to load, run or wait: generous on a loaded 2-core machine

# Each command loads its modules, says it is ready, then waits for the test to close its end of
# the start pipe (EOF reaches every waiting command at once) before it runs.
_HELD = """\
import os, sys
from casework.cli import main
import casework.cases.scan, casework.registers.importing
start, ready = int(sys.argv[1]), int(sys.argv[2])
os.write(ready, b"r")
os.close(ready)
os.read(start, 1)
sys.argv = ["casework", *sys.argv[3:]]
main()
"""


class Held:
    """A casework command started now and held, loaded, until ``release``."""

    def __init__(self, database_url: str, cwd, *args: str, name: str) -> None:
        if database_url.startswith("postgresql"):  # pg_stat_activity names it (lock waits)
            database_url += f"?application_name={name}"
        start_read, self._start = os.pipe()
        self._ready, ready_write = os.pipe()
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HELD, str(start_read), str(ready_write), *args],
            pass_fds=(start_read, ready_write),
            cwd=cwd,
            env=server_environment(database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(start_read)
        os.close(ready_write)

    def wait_ready(self) -> None:
        readable, _, _ = selectors.select([self._ready], [], [], DEADLINE_SECONDS)
        said = os.read(self._ready, 1) if readable else b""
        os.close(self._ready)
        if said != b"r":
            self.process.kill()
            _, stderr = self.process.communicate()
            pytest.fail(f"{self.name} did not get ready:\n{stderr[-3000:]}")

    def release(self) -> None:
        os.close(self._start)

    def finish(self) -> str:
        """Its standard output, once it has exited well."""
        try:
            stdout, stderr = self.process.communicate(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
        assert self.process.returncode == 0, f"{self.name}: {stderr[-3000:]}"
        return stdout


def release_together(commands: list[Held]) -> None:
    for command in commands:
        command.wait_ready()
    for command in commands:
        command.release()


def scan(database_url: str, cwd, day, name: str = "casework-scan") -> Held:
    return Held(database_url, cwd, "scan", "--date", day.isoformat(), name=name)


def test_scans_at_once_open_each_case_and_record_each_occurrence_once(
    database_url, team, clock, tmp_path
):
    t = team()
    # Cases already decided whose learners began a new absence period: each is one occurrence.
    again = [t.learner() for _ in range(3)]
    for enrolment in again:
        day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    cases = db.session.scalars(select(Case)).all()
    for case in cases:
        fire(t.mentor, case, "no_action", today=day)
    for enrolment in again:
        day = t.mark(enrolment, "PU")
    below = [t.learner() for _ in range(BELOW)]
    for enrolment in below:
        t.mark(enrolment, "PPPPPPPUUU")
    t.mark(t.learner(), "PPPPPPPPPP")
    events_before = set(db.session.scalars(select(CaseEvent.id)))
    db.session.commit()  # nothing of ours open in the scans' way (SQLite's lock)

    scans = [scan(database_url, tmp_path, day, name=f"scan-{n}") for n in range(SCANS)]
    release_together(scans)
    outputs = [s.finish() for s in scans]

    assert sum("Nothing changed." not in out for out in outputs) == 1, outputs
    db.session.expire_all()
    reports = [r.report for r in db.session.scalars(select(ScanRun).where(ScanRun.as_at == day))]
    assert sorted((len(r["cases_opened"]), len(r["occurrences_recorded"])) for r in reports) == [
        (0, 0)
    ] * (SCANS - 1) + [(BELOW, 3)]
    # One open case per enrolment, and the database's own rule says so too.
    open_cases = Counter(
        db.session.scalars(select(Case.enrolment_id).where(Case.ended_at.is_(None)))
    )
    assert open_cases == Counter({e.id: 1 for e in [*again, *below]})
    [rule] = [
        i
        for i in inspect(db.engine).get_indexes("attendance_case")
        if i["name"] == "uq_attendance_case_open_enrolment"
    ]
    assert rule["unique"] and rule["column_names"] == ["enrolment_id"]
    for case in cases:
        numbers = db.session.scalars(select(Occurrence.number).where(Occurrence.case_id == case.id))
        assert sorted(numbers) == [1, 2]
        assert db.session.get(Case, case.id).occurrence_count == 2
    # One audit event for each case opened and each occurrence, each with one set of letters.
    new = [e for e in db.session.scalars(select(CaseEvent)) if e.id not in events_before]
    assert Counter(e.name for e in new) == {"open": BELOW, "record_occurrence": 3}
    assert len({e.case_id for e in new}) == BELOW + 3
    jobs = db.session.scalars(
        select(LetterJob).where(LetterJob.event_id.in_([e.id for e in new]))
    ).all()
    per_event = Counter(job.event_id for job in jobs)
    opened = [e.id for e in new if e.name == "open"]
    assert len({per_event[e] for e in opened}) == 1 and per_event[opened[0]] > 0, per_event


IMPORTED = 40  # learners whose last three marks (one a missed 1-2-1) come in the import


@pytest.mark.parametrize("first", ["import", "scan"])
def test_a_scan_beside_an_import_sees_all_of_its_marks_or_none(
    first, database_url, team, make, tmp_path
):
    """Below the threshold: BELOW learners before the import, IMPORTED more after it (7
    sessions, too few to judge, then three absences), each missing a 1-2-1 that is to be
    rebooked. A scan that saw half the import would open BELOW cases yet ask for rebookings."""
    t = team("001-sts")  # 1-2-1s missed are to be rebooked; 100%, so 7 sessions are not below
    for enrolment in [t.learner() for _ in range(BELOW)]:
        t.mark(enrolment, "PPPPPPPUUU")
    late = [t.learner() for _ in range(IMPORTED)]
    for enrolment in late:
        t.mark(enrolment, "PPPPPPP")
    sessions = [
        make.session(
            t.programme,
            TERM_START + timedelta(days=7 + i),
            kind=SessionKind.ONE_TO_ONE if i == 0 else SessionKind.WORKSHOP,
        )
        for i in range(3)
    ]
    day = (TERM_START + timedelta(days=9)).date()
    rows = [f"{e.learner.learner_ref},{s.session_ref},U,,,,," for e in late for s in sessions]
    register = tmp_path / "register.csv"
    register.write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")
    db.session.commit()
    postgresql = db.engine.dialect.name == "postgresql"
    before, after = (BELOW, 0), (BELOW + IMPORTED, IMPORTED)

    importing = Held(
        database_url, tmp_path, "import-register", str(register), name="casework-import"
    )
    scanning = scan(database_url, tmp_path, day)
    order = [importing, scanning] if first == "import" else [scanning, importing]
    if postgresql:
        # Each queues, in this order, on the lock this test holds; PostgreSQL grants it so.
        lock_marks_for_scan()
        for command in order:
            release_together([command])
            wait_for_lock(command)
        db.session.rollback()  # lets them go
    else:
        release_together(order)  # whichever takes the write lock first
    importing.finish()
    scanning.finish()

    db.session.expire_all()
    [run] = db.session.scalars(select(ScanRun)).all()
    seen = (len(run.report["cases_opened"]), run.report["rebook_items"])
    assert seen in (before, after)
    if postgresql:
        assert seen == (after if first == "import" else before)
    run_scan(day)  # what it did not see, the next scan does: the import is whole
    assert db.session.scalar(select(func.count()).select_from(Case)) == BELOW + IMPORTED
    rebook = (
        select(func.count()).select_from(DueItem).where(DueItem.kind == DueKind.REBOOK_ONE_TO_ONE)
    )
    assert db.session.scalar(rebook) == IMPORTED


def wait_for_lock(command: Held) -> None:
    """Until ``command`` waits for an advisory lock (it has reached its lock and is held)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    waiting = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = :name"
    )
    while True:
        # A transaction of its own each time: one keeps its first view of pg_stat_activity.
        with db.engine.connect() as watcher:
            if watcher.scalar(waiting, {"name": command.name}):
                return
        if command.process.poll() is not None or time.monotonic() > deadline:
            command.process.kill()
            _, stderr = command.process.communicate()
            pytest.fail(f"{command.name} did not wait for the marks' lock: {stderr[-3000:]}")
        time.sleep(0.05)  # poll: the condition itself is observed, no time is assumed
