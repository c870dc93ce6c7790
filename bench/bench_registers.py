"""Register import and attendance figures at scale, measured against the database driver itself.

Builds a fresh database (schema from the migrations, reference data loaded), adds programmes,
learners, enrolments and sessions by bulk core inserts, generates one register file of
learners x sessions marks in memory, then times:

1. the driver's own bulk insert of the same marks into the empty ``mark`` table, ids resolved
   beforehand (SQLite: sqlite3 ``executemany`` of a plain INSERT; PostgreSQL: psycopg ``COPY``);
2. ``import_register`` of the file into the emptied table (same indexes, triggers and constraints);
3. ``import_register`` of the same file again (nothing changes);
4. ``attendance_figures`` for every enrolment, against one hand-written aggregate query run through
   the driver and fetched in full;
5. the nightly scan (``run_scan``) as at the last session's day, then again for the same day
   (it must change nothing), and ``verify_chains`` over the audit trail the scan wrote.

Usage: python bench/bench_registers.py --database sqlite|postgresql [--learners N --sessions M]
See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import benchkit
from benchkit import PhaseClock, code_version, profiled, record, say, stopwatch
from sqlalchemy import DateTime, func, insert, select, text

from casework import create_app
from casework.cases import scan as scan_module
from casework.cases.scan import ScanReport, run_scan
from casework.database import reset_database
from casework.extensions import db
from casework.machines.audit import verify_chains
from casework.models import (
    CodeSet,
    DeliveryMode,
    DueItem,
    DueKind,
    Enrolment,
    EnrolmentStatus,
    Learner,
    MarkCode,
    Policy,
    Programme,
    RegisterImport,
    Session,
    SessionKind,
    academic_year_of,
)
from casework.registers import figures as figures_module
from casework.registers import importing as importing_module
from casework.registers.figures import attendance_figures
from casework.registers.importing import COLUMNS, MARK_COLUMNS, import_register
from casework.registers.tallies import tallied_figures

POSTGRESQL_ENV = "CASEWORK_BENCH_POSTGRESQL_URL"
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/casework_bench_registers"
LOCAL_ZONE = ZoneInfo("Europe/London")

# Further-education code set (P, L, A, U, N, X, E) under these three policies.
POLICY_KEYS = ("003-green-labyrinth", "001-sts", "000-sek")
ENROLMENT_START = date(2026, 9, 1)
FIRST_TEACHING_DAY = date(2026, 9, 7)
LAST_TEACHING_DAY = date(2027, 7, 23)
CHRISTMAS = (date(2026, 12, 19), date(2027, 1, 3))
AS_AT = date(2027, 7, 31)  # after the last session
REGISTER_OPEN_MINUTES = 30
AIM_IMPORT_SPEED = 0.5  # import marks/s at least half the driver's
AIM_FIGURES_TIME = 2.0  # figures at most twice the raw query's time


# --- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    id: int
    ref: str
    programme_index: int
    position: int  # 0-based within its programme, in time order
    starts_at: datetime
    recorded_at_local: str  # as written in the register file
    recorded_at_utc: datetime  # as the import stores it (naive UTC)
    recorded_by: str


@dataclass
class World:
    programme_ids: list[int]
    learner_refs: list[str]  # index = learner number
    enrolment_ids: list[int]  # index = learner number
    sessions: list[SessionRow]  # time order, every programme
    codes: dict[str, int]  # further-education code -> mark_code.id


@dataclass
class Register:
    data: bytes
    driver_rows: list[tuple[Any, ...]]  # MARK_COLUMNS order but import_id, ids resolved
    code_counts: dict[str, int]


def teaching_slots(count: int) -> list[tuple[date, int]]:
    """(day, slot) for ``count`` sessions: weekdays from FIRST_TEACHING_DAY, two a day."""
    slots: list[tuple[date, int]] = []
    day = FIRST_TEACHING_DAY
    while len(slots) < count:
        if day > LAST_TEACHING_DAY:
            raise SystemExit(f"{count} sessions do not fit in one academic year at two a day")
        if day.weekday() < 5 and not CHRISTMAS[0] <= day <= CHRISTMAS[1]:
            slots.extend((day, slot) for slot in (0, 1))
        day += timedelta(days=1)
    return slots[:count]


def pairs(statement: Any) -> dict[Any, Any]:
    return dict(db.session.execute(statement).all())


def insert_enrolled_learners(
    learners: int, programmes: int, digits: int = 2
) -> tuple[list[int], list[str], list[int]]:
    """Programmes (under POLICY_KEYS in turn), learners, and an active enrolment each (learner n
    on programme n mod programmes) by bulk core inserts: (programme ids, learner refs, enrolment
    ids), the last two indexed by learner number. Both benches start so."""
    policies = pairs(select(Policy.key, Policy.id))
    db.session.execute(
        insert(Programme),
        [
            {
                "code": f"PRG{p + 1:0{digits}d}",
                "title": f"Benchmark programme {p + 1}",
                "policy_id": policies[POLICY_KEYS[p % len(POLICY_KEYS)]],
            }
            for p in range(programmes)
        ],
    )
    programme_ids = list(db.session.scalars(select(Programme.id).order_by(Programme.code)))

    refs = [f"L{n + 1:07d}" for n in range(learners)]
    db.session.execute(
        insert(Learner),
        [
            {
                "learner_ref": ref,
                "given_name": "Sam",
                "family_name": f"Learner{n + 1}",
                "date_of_birth": date(2008, 1, 1) + timedelta(days=n % 1000),
            }
            for n, ref in enumerate(refs)
        ],
    )
    learner_ids = pairs(select(Learner.learner_ref, Learner.id))
    db.session.execute(
        insert(Enrolment),
        [
            {
                "learner_id": learner_ids[ref],
                "programme_id": programme_ids[n % programmes],
                "academic_year": academic_year_of(ENROLMENT_START),
                "start_date": ENROLMENT_START,
                "status": EnrolmentStatus.ACTIVE,
            }
            for n, ref in enumerate(refs)
        ],
    )
    enrolment_of = pairs(select(Enrolment.learner_id, Enrolment.id))
    return programme_ids, refs, [enrolment_of[learner_ids[ref]] for ref in refs]


def build_world(learners: int, sessions: int, programmes: int) -> World:
    """Programmes, learners, enrolments and sessions by bulk core inserts; returns their ids."""
    programme_ids, refs, enrolment_ids = insert_enrolled_learners(learners, programmes)

    session_rows = []
    for p in range(programmes):
        tutor = f"tutor.prg{p + 1:02d}@example.org"
        first_hour = (9, 9, 10)[p % 3]
        for position, (day, slot) in enumerate(teaching_slots(sessions)):
            starts_at = datetime.combine(day, datetime.min.time()).replace(
                hour=first_hour + 4 * slot, minute=(0, 30)[p % 2]
            )
            session_rows.append(
                {
                    "session_ref": f"PRG{p + 1:02d}-{day:%Y%m%d}-{('AM', 'PM')[slot]}",
                    "programme_id": programme_ids[p],
                    "title": f"Workshop {position + 1}",
                    "kind": SessionKind.WORKSHOP,
                    "delivery_mode": DeliveryMode.FACE_TO_FACE,
                    "starts_at": starts_at,
                    "ends_at": starts_at + timedelta(hours=3),
                    "register_closes_at": starts_at + timedelta(minutes=REGISTER_OPEN_MINUTES),
                    "_position": position,
                    "_programme_index": p,
                    "_tutor": tutor,
                }
            )
    db.session.execute(
        insert(Session),
        [{k: v for k, v in row.items() if not k.startswith("_")} for row in session_rows],
    )
    session_ids = pairs(select(Session.session_ref, Session.id))
    codes = pairs(
        select(MarkCode.code, MarkCode.id).where(MarkCode.code_set == CodeSet.FURTHER_EDUCATION)
    )
    db.session.commit()

    world_sessions = []
    for row in sorted(session_rows, key=lambda r: (r["starts_at"], r["_programme_index"])):
        taken = row["starts_at"] + timedelta(minutes=10)  # register taken ten minutes in
        world_sessions.append(
            SessionRow(
                id=session_ids[row["session_ref"]],
                ref=row["session_ref"],
                programme_index=row["_programme_index"],
                position=row["_position"],
                starts_at=row["starts_at"],
                recorded_at_local=f"{taken:%Y-%m-%dT%H:%M}",
                recorded_at_utc=taken.replace(tzinfo=LOCAL_ZONE)
                .astimezone(UTC)
                .replace(tzinfo=None),
                recorded_by=row["_tutor"],
            )
        )
    return World(
        programme_ids=programme_ids,
        learner_refs=refs,
        enrolment_ids=enrolment_ids,
        sessions=world_sessions,
        codes=codes,
    )


@dataclass(frozen=True)
class Habit:
    """How one learner attends: chances per session, and a final run of unauthorised absence."""

    absent: float
    late: float
    final_run: int


def learner_habits(count: int, sessions: int, rng: random.Random) -> list[Habit]:
    habits = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.80:  # attends well
            habits.append(Habit(rng.uniform(0.01, 0.06), rng.uniform(0.01, 0.06), 0))
        elif kind < 0.95:  # patchy
            habits.append(Habit(rng.uniform(0.08, 0.25), rng.uniform(0.04, 0.12), 0))
        else:  # persistently absent, and absent for the last few sessions
            run = min(rng.randint(1, 15), sessions)
            habits.append(Habit(rng.uniform(0.25, 0.50), rng.uniform(0.05, 0.15), run))
    return habits


def draw_mark(
    habit: Habit, remaining: int, rng: random.Random
) -> tuple[str, int | None, str | None, bool]:
    """A learner's mark for a session ``remaining`` sessions from its programme's end, as both
    benches draw them: (code, minutes late, absence reason, whether evidence is recorded)."""
    draw = rng.random()  # drawn even in the final run: the same seed gives the same marks
    if remaining <= habit.final_run:
        return "U", None, None, False
    if draw < habit.absent:
        kind = rng.random()
        if kind < 0.40:
            return "A", None, "illness" if kind < 0.30 else "medical_appointment", kind < 0.20
        return "U" if kind < 0.80 else "N", None, None, False
    if draw < habit.absent + habit.late:
        return "L", min(1 + int(rng.expovariate(1 / 10)), 90), None, False  # some past the close
    if draw < habit.absent + habit.late + 0.02:
        return "X", None, None, False
    if draw < habit.absent + habit.late + 0.03:
        return "E", None, None, False
    return "P", None, None, False


def generate_register(world: World, seed: int) -> Register:
    """The register file (bytes, in session order) and the same marks with ids resolved."""
    rng = random.Random(seed)
    programmes = len(world.programme_ids)
    sessions_per_programme = max(s.position for s in world.sessions) + 1
    habits = learner_habits(len(world.learner_refs), sessions_per_programme, rng)
    members: list[list[int]] = [[] for _ in range(programmes)]
    for n in range(len(world.learner_refs)):
        members[n % programmes].append(n)

    lines = [",".join(COLUMNS)]
    rows: list[tuple[Any, ...]] = []
    counts: dict[str, int] = defaultdict(int)
    codes = world.codes
    for session in world.sessions:
        remaining = sessions_per_programme - session.position
        by, at_local, at_utc = (
            session.recorded_by,
            session.recorded_at_local,
            session.recorded_at_utc,
        )
        for n in members[session.programme_index]:
            code, minutes, reason, evidenced = draw_mark(habits[n], remaining, rng)
            evidence = f"EV-{n + 1:07d}-{session.position + 1:03d}" if evidenced else None
            counts[code] += 1
            late = "" if minutes is None else minutes
            lines.append(
                f"{world.learner_refs[n]},{session.ref},{code},{late},{reason or ''},"
                f"{evidence or ''},{by},{at_local}"
            )
            rows.append(
                (
                    world.enrolment_ids[n],
                    session.id,
                    codes[code],
                    minutes,
                    reason,
                    evidence,
                    by,
                    at_utc,
                )
            )
    lines.append("")
    return Register("\r\n".join(lines).encode(), rows, dict(counts))


# --- measuring -----------------------------------------------------------------------------------


IMPORT_PHASES = {
    "_read_records": "read CSV",
    "_load_lookups": "look up refs",
    "_validate": "validate",
    "_upsert_sqlite": "upsert",
    "_upsert_postgresql": "upsert",
    "_new_or_changed": "compare with stored marks",
    "refresh_tallies_of_import": "tallies",
    "queue_absence_notices": "absence notices",
}
FIGURES_PHASES = {"_absence_periods": "absence periods"}
SCAN_PHASES = {
    "tallied_figures": "tallies",
    "attendance_figures": "figures",
    "_open_cases": "open cases",
    "_occurrences": "occurrences",
    "_approaching": "early warnings",
    "_rebook": "rebook items",
    "_medical": "medical certificate items",
    "_overdue": "overdue",
}


@dataclass
class Timing:
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


def raw_connection() -> Any:
    """The engine's own DBAPI connection (same connect-time settings as the app's)."""
    return db.engine.raw_connection()


def maintain(dialect: str) -> None:
    """Between timed steps, leave no background work behind: checkpoint, and on PostgreSQL vacuum
    and analyse (what autovacuum would otherwise do during the next step)."""
    db.session.remove()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if dialect == "postgresql":
            connection.exec_driver_sql("VACUUM ANALYZE")
            connection.exec_driver_sql("CHECKPOINT")
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def empty_marks(dialect: str) -> None:
    db.session.remove()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if dialect == "postgresql":
            # occurrence and the outbox refer to mark, so PostgreSQL truncates them together;
            # they are empty here (no scan nor import has run yet), which this checks.
            referring = ("occurrence", "delivery_attempt", "outbox_message")
            for name in referring:
                assert connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() == 0
            connection.exec_driver_sql(
                f"TRUNCATE {', '.join(referring)}, mark_change, mark, register_import"
                " RESTART IDENTITY"
            )
        else:
            for name in ("mark_change", "mark", "register_import"):
                connection.exec_driver_sql(f"DELETE FROM {name}")
            connection.exec_driver_sql("VACUUM")  # a compact file, as before the first load
    maintain(dialect)


def mark_indexes(dialect: str) -> list[str]:
    sql = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'mark' ORDER BY 1"
        if dialect == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mark' ORDER BY 1"
    )
    return list(db.session.scalars(text(sql)))


def mark_fingerprint(dialect: str) -> tuple[int, str]:
    """Row count and a hash of every mark's content (ids aside), read through the driver."""
    connection = raw_connection()
    digest = hashlib.sha256()
    count = 0
    try:
        driver = connection.driver_connection
        # A server-side cursor on PostgreSQL, so the rows arrive in batches.
        cursor = driver.cursor(name="fingerprint") if dialect == "postgresql" else driver.cursor()
        cursor.execute(
            "SELECT enrolment_id, session_id, code_id, minutes_late, absence_reason,"
            " evidence_ref, recorded_by, recorded_at, import_id IS NOT NULL"
            " FROM mark ORDER BY enrolment_id, session_id"
        )
        while batch := cursor.fetchmany(50_000):
            count += len(batch)
            digest.update(repr(batch).encode())
        cursor.close()
    finally:
        connection.rollback()
        connection.close()
    return count, digest.hexdigest()


def driver_insert(dialect: str, rows: list[tuple[Any, ...]]) -> float:
    """Time the driver's own bulk insert of ``rows``; the register_import row is made untimed."""
    import_id = db.session.execute(
        insert(RegisterImport).returning(RegisterImport.id),
        {
            "filename": "driver-baseline",
            "sha256": "0" * 64,
            "imported_by": "bench",
            "imported_at": datetime.now(UTC),
            "rows": len(rows),
            "created": len(rows),
            "updated": 0,
            "unchanged": 0,
        },
    ).scalar_one()
    db.session.commit()
    if dialect == "sqlite":
        as_text = DateTime().dialect_impl(db.engine.dialect).bind_processor(db.engine.dialect)
        ready = [(*row[:7], as_text(row[7]), import_id) for row in rows]
    else:
        ready = [(*row, import_id) for row in rows]
    columns = ", ".join(MARK_COLUMNS)
    connection = raw_connection()
    try:
        driver = connection.driver_connection
        started = time.perf_counter()
        if dialect == "sqlite":
            cursor = driver.cursor()
            placeholders = ", ".join("?" * len(MARK_COLUMNS))
            cursor.executemany(f"INSERT INTO mark ({columns}) VALUES ({placeholders})", ready)
            driver.commit()
        else:
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY mark ({columns}) FROM STDIN") as copy,
            ):
                for row in ready:
                    copy.write_row(row)
            driver.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def timed_import(data: bytes, dialect: str, profile: bool) -> tuple[Timing, Any]:
    clock = PhaseClock()
    with (
        clock.watching(importing_module, IMPORT_PHASES),
        profiled(f"import-{dialect}", profile),
    ):
        seconds, result = stopwatch(
            lambda: import_register(data, filename="bench-register.csv", imported_by="bench")
        )
    db.session.remove()
    phases = dict(clock.seconds)
    phases["write register_import, count, commit"] = seconds - sum(phases.values())
    return Timing(seconds, phases), result


def raw_figures_sql(dialect: str) -> str:
    """Six category counts per enrolment and its arrivals after the register closed, by the same
    rules as attendance_figures, written once.

    "Past the register's close" is exact integer arithmetic on both databases: minutes late
    against the whole seconds between the session's start and its register's close.
    """
    if dialect == "postgresql":
        day, until = "s.starts_at::date", "%s"
        past_close = "s.starts_at + m.minutes_late * interval '1 minute' > s.register_closes_at"
    else:
        day, until = "date(s.starts_at)", "?"
        past_close = (
            "m.minutes_late * 60"
            " > strftime('%s', s.register_closes_at) - strftime('%s', s.starts_at)"
        )
    return f"""
        SELECT m.enrolment_id,
               count(*) FILTER (WHERE c.category = 'present'),
               count(*) FILTER (WHERE c.category = 'late' AND NOT coalesce({past_close}, false)),
               count(*) FILTER (WHERE c.category = 'approved_activity'),
               count(*) FILTER (WHERE c.category = 'authorised'),
               count(*) FILTER (WHERE c.category = 'unauthorised'
                                   OR (c.category = 'late' AND {past_close})),
               count(*) FILTER (WHERE c.category = 'not_counted'),
               count(*) FILTER (WHERE (c.category = 'late' AND {past_close})
                                   OR (c.category = 'unauthorised'
                                       AND (m.minutes_late IS NOT NULL
                                            OR (c.code_set = 'statutory' AND c.code = 'U'))))
          FROM mark m
          JOIN session s ON s.id = m.session_id
          JOIN mark_code c ON c.id = m.code_id
          JOIN enrolment e ON e.id = m.enrolment_id
         WHERE s.starts_at < {until}
           AND {day} >= e.start_date
           AND (e.end_date IS NULL OR {day} <= e.end_date)
         GROUP BY m.enrolment_id
    """


def run_raw_figures(dialect: str, as_at: date) -> list[tuple[Any, ...]]:
    until = datetime.combine(as_at + timedelta(days=1), datetime.min.time())
    parameter: Any = until
    if dialect == "sqlite":
        parameter = (
            DateTime().dialect_impl(db.engine.dialect).bind_processor(db.engine.dialect)(until)
        )
    connection = raw_connection()
    try:
        cursor = connection.driver_connection.cursor()
        cursor.execute(raw_figures_sql(dialect), (parameter,))
        rows = cursor.fetchall()
        cursor.close()
        return rows
    finally:
        connection.rollback()
        connection.close()


def run_figures(as_at: date) -> dict[int, Any]:
    try:
        return attendance_figures(as_at)
    finally:
        db.session.remove()


# The tables the scan leaves alone by design (and the biggest): left out of the state checked
# between its two runs. scan_run gains one row a run.
NOT_SCANNED = ("mark", "mark_change", "register_import", "scan_run")


def scan_state() -> tuple[dict[str, int], str]:
    """Rows per table, and a hash of the content of every table the scan may write, so that a
    second run can be shown to change nothing in the database, not only in its report."""
    counts: dict[str, int] = {}
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        counts[table.name] = db.session.scalar(select(func.count()).select_from(table)) or 0
        if table.name in NOT_SCANNED:
            continue
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        digest.update(f"{table.name}:{rows!r}".encode())
    db.session.remove()
    return counts, digest.hexdigest()


def due_items_by_kind() -> dict[str, int]:
    found = db.session.execute(select(DueItem.kind, func.count()).group_by(DueItem.kind)).all()
    db.session.remove()
    by_kind = {kind.value: 0 for kind in DueKind}
    by_kind.update({kind.value: count for kind, count in found})
    return by_kind


def summary(report: ScanReport) -> dict[str, Any]:
    """The report's counts (the id lists as their lengths)."""
    out = asdict(report)
    for name in ("cases_opened", "occurrences_recorded"):
        out[name] = len(out[name])
    return out


def timed_scan(as_at: date, label: str, profile: bool) -> tuple[Timing, ScanReport]:
    clock = PhaseClock()
    with clock.watching(scan_module, SCAN_PHASES), profiled(label, profile):
        seconds, report = stopwatch(lambda: run_scan(as_at))
    db.session.remove()  # a fresh session, as a nightly process would start with
    phases = dict(clock.seconds)
    phases["the rest (enrolments, judge, commit)"] = seconds - sum(phases.values())
    return Timing(seconds, phases), report


def scan_step(dialect: str, as_at: date, profile: bool) -> dict[str, Any]:
    """The nightly scan twice for the same day, then the audit chains it wrote, each timed."""
    before, _ = scan_state()
    assert before["attendance_case"] == before["case_event"] == before["due_item"] == 0, before

    say(f"nightly scan as at {as_at} (the last session's day)")
    first, report = timed_scan(as_at, f"scan-{dialect}", profile)
    say(f"  {first.seconds:.2f} s; " + " ".join(report.lines()))
    say("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in first.phases.items()))
    assert report.changed_anything or report.below_threshold == 0, report
    assert len(report.cases_opened) == report.below_threshold, "no case was open before"
    counts, state = scan_state()
    assert counts["attendance_case"] == len(report.cases_opened), counts
    items = due_items_by_kind()
    say(f"  rows now: {', '.join(f'{k} {v:,}' for k, v in counts.items() if k not in NOT_SCANNED)}")
    maintain(dialect)

    say(f"nightly scan as at {as_at} again (must change nothing)")
    again, second = timed_scan(as_at, "", False)
    say(f"  {again.seconds:.2f} s; " + " ".join(second.lines()))
    say("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in again.phases.items()))
    assert not second.changed_anything, second
    assert not second.cases_opened and not second.occurrences_recorded, second
    assert (second.evaluated, second.below_threshold) == (report.evaluated, report.below_threshold)
    counts_again, state_again = scan_state()
    assert counts_again == {**counts, "scan_run": counts["scan_run"] + 1}, counts_again
    assert state_again == state, "the second scan changed the database"
    say("  nothing changed (report, and every table's rows but its own scan_run row)")
    maintain(dialect)

    say("verify_chains over every case's audit trail")
    verify_seconds, problems = stopwatch(lambda: list(verify_chains()))
    db.session.remove()
    assert problems == [], [str(p) for p in problems[:10]]
    say(
        f"  {verify_seconds:.2f} s; {counts['case_event']:,} events in "
        f"{counts['attendance_case']:,} cases, every chain intact"
    )
    return {
        "scan_as_at": as_at.isoformat(),
        "scan_seconds": first.seconds,
        "scan_phases": first.phases,
        "scan_report": summary(report),
        "rescan_seconds": again.seconds,
        "rescan_phases": again.phases,
        "rescan_report": summary(second),
        "rescan_changed_nothing": True,  # asserted above
        "scan_rows": {k: v for k, v in counts.items() if k not in NOT_SCANNED},
        "scan_due_items": items,
        "verify_audit_seconds": verify_seconds,
    }


# --- the run -------------------------------------------------------------------------------------


def database_url(args: argparse.Namespace, workdir: Path) -> str:
    if args.database == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite'}"
    url = args.postgresql_url or os.environ.get(POSTGRESQL_ENV) or DEFAULT_POSTGRESQL_URL
    benchkit.ensure_postgresql_database(url)
    return url


def server_version(dialect: str) -> str:
    if dialect == "postgresql":
        return db.session.scalar(text("SHOW server_version")) or "?"
    return "SQLite " + (db.session.scalar(text("SELECT sqlite_version()")) or "?")


def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    results: dict[str, Any] = {}
    with app.app_context():
        dialect = db.engine.dialect.name
        say(f"database: {dialect} ({db.engine.url.render_as_string(hide_password=True)})")
        say("building the database (migrations, reference data, programmes, learners, sessions)")
        seconds, _ = stopwatch(reset_database)
        seconds_world, world = stopwatch(
            lambda: build_world(args.learners, args.sessions, args.programmes)
        )
        say(f"  schema {seconds:.1f} s; setup rows {seconds_world:.1f} s")
        seconds, register = stopwatch(lambda: generate_register(world, args.seed))
        marks = len(register.driver_rows)
        say(
            f"  register: {marks:,} marks, {len(register.data) / 1e6:.0f} MB CSV, generated in"
            f" {seconds:.1f} s; codes {dict(sorted(register.code_counts.items()))}"
        )
        maintain(dialect)
        indexes = mark_indexes(dialect)
        results.update(
            database=dialect,
            server=server_version(dialect),
            learners=args.learners,
            sessions=args.sessions,
            programmes=args.programmes,
            marks=marks,
            mark_indexes=indexes,
        )
        db.session.remove()

        say("driver bulk insert (ids resolved beforehand) into the empty mark table")
        driver_seconds = driver_insert(dialect, register.driver_rows)
        say(f"  {driver_seconds:.1f} s = {marks / driver_seconds:,.0f} marks/s")
        driver_state = mark_fingerprint(dialect)
        assert driver_state[0] == marks, driver_state
        del register.driver_rows[:]
        empty_marks(dialect)
        assert mark_indexes(dialect) == indexes

        say("import_register into the emptied mark table")
        first, result = timed_import(register.data, dialect, args.profile)
        say(f"  {first.seconds:.1f} s = {marks / first.seconds:,.0f} marks/s; {result}")
        assert (result.created, result.updated, result.unchanged) == (marks, 0, 0), result
        import_state = mark_fingerprint(dialect)
        assert import_state == driver_state, "import and driver left different marks"
        say("  same marks as the driver's insert (content hash matches)")
        maintain(dialect)

        say("import_register of the same file again")
        again, result = timed_import(register.data, dialect, False)
        say(f"  {again.seconds:.1f} s = {marks / again.seconds:,.0f} marks/s; {result}")
        assert (result.created, result.updated, result.unchanged) == (0, 0, marks), result
        assert mark_fingerprint(dialect) == import_state
        maintain(dialect)

        say(f"figures as at {AS_AT} for every enrolment, best of {args.repeat}")
        enrolments = len(world.enrolment_ids)
        raw_times, figure_times = [], []
        clock = PhaseClock()
        figures: dict[int, Any] = {}
        raw_rows: list[tuple[Any, ...]] = []
        for attempt in range(args.repeat):
            seconds, raw_rows = stopwatch(lambda: run_raw_figures(dialect, AS_AT))
            raw_times.append(seconds)
            with (
                clock.watching(figures_module, FIGURES_PHASES, drain=("_absence_periods",)),
                profiled(f"figures-{dialect}", bool(args.profile) and attempt == 0),
            ):
                seconds, figures = stopwatch(lambda: run_figures(AS_AT))
            figure_times.append(seconds)
            say(f"  raw query {raw_times[-1]:.2f} s, attendance_figures {seconds:.2f} s")
        assert len(raw_rows) == len(figures) == enrolments, (len(raw_rows), len(figures))
        for eid, *counts in raw_rows:
            f = figures[eid]
            mine = [f.present, f.late, f.approved_activity, f.authorised, f.unauthorised]
            assert [*mine, f.not_counted, f.after_close] == counts, (eid, mine, counts)
        periods = sum(1 for f in figures.values() if f.absence_period is not None)
        say(f"  counts agree for all {enrolments:,} enrolments; {periods:,} in an absence period")
        del figures, raw_rows
        scan_day = world.sessions[-1].starts_at.date()
        since = date(academic_year_of(scan_day), 8, 1)
        say(f"the import's tallies against attendance_figures as at {scan_day}")
        seconds, (tallied, missing) = stopwatch(
            lambda: tallied_figures(scan_day, since, world.enrolment_ids)
        )
        recounted = attendance_figures(scan_day, since=since)
        assert not missing, f"{len(missing)} enrolments without a tally answering for the day"
        differ = [e for e in world.enrolment_ids if tallied[e] != recounted[e]]
        assert not differ, f"tallies differ from the recount for {len(differ)} enrolments"
        say(f"  read in {seconds:.2f} s; equal for all {enrolments:,} enrolments")
        del tallied, recounted
        maintain(dialect)

        scan = scan_step(dialect, world.sessions[-1].starts_at.date(), args.profile)

    results.update(
        driver_seconds=driver_seconds,
        import_seconds=first.seconds,
        import_phases=first.phases,
        reimport_seconds=again.seconds,
        reimport_phases=again.phases,
        raw_query_seconds=raw_times,
        figures_seconds=figure_times,
        figures_absence_periods_seconds=clock.seconds.get("absence periods", 0.0) / args.repeat,
        enrolments=enrolments,
        enrolments_in_absence_period=periods,
        **scan,
    )
    return results


def report(r: dict[str, Any]) -> str:
    marks = r["marks"]
    driver_rate = marks / r["driver_seconds"]
    import_rate = marks / r["import_seconds"]
    reimport_rate = marks / r["reimport_seconds"]
    raw_best, figures_best = min(r["raw_query_seconds"]), min(r["figures_seconds"])
    speed, slowdown = import_rate / driver_rate, figures_best / raw_best
    driver_name = "sqlite3 executemany INSERT" if r["database"] == "sqlite" else "psycopg COPY"
    first, rows = r["scan_report"], r["scan_rows"]

    def secs(value: float) -> str:
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**no**"

    lines = [
        f"**{r['database']}** ({r['server']}), {r['learners']:,} learners x {r['sessions']} "
        f"sessions = {marks:,} marks; casework {r['commit']}; {r['machine']}",
        "",
        "| step | seconds | marks/s | against the baseline | aim | met |",
        "|---|---:|---:|---|---|---|",
        f"| driver bulk insert ({driver_name}) | {secs(r['driver_seconds'])} | "
        f"{driver_rate:,.0f} | baseline | | |",
        f"| import_register | {secs(r['import_seconds'])} | {import_rate:,.0f} | "
        f"{speed:.2f}x the driver's speed | >= {AIM_IMPORT_SPEED}x | "
        f"{verdict(speed >= AIM_IMPORT_SPEED)} |",
        f"| import_register again (all unchanged) | {secs(r['reimport_seconds'])} | "
        f"{reimport_rate:,.0f} | {reimport_rate / driver_rate:.2f}x the driver's speed | | |",
        f"| raw aggregate query, {r['enrolments']:,} rows fetched | {secs(raw_best)} | "
        f"{marks / raw_best:,.0f} | baseline | | |",
        f"| attendance_figures, {r['enrolments']:,} enrolments | {secs(figures_best)} | "
        f"{marks / figures_best:,.0f} | {slowdown:.2f}x the raw query's time | "
        f"<= {AIM_FIGURES_TIME}x | {verdict(slowdown <= AIM_FIGURES_TIME)} |",
        f"| nightly scan as at {r['scan_as_at']}, {first['cases_opened']:,} cases opened | "
        f"{secs(r['scan_seconds'])} | {marks / r['scan_seconds']:,.0f} | "
        f"{r['scan_seconds'] / figures_best:.2f}x attendance_figures' time | | |",
        f"| nightly scan again, same day (nothing changed) | {secs(r['rescan_seconds'])} | "
        f"{marks / r['rescan_seconds']:,.0f} | "
        f"{r['rescan_seconds'] / figures_best:.2f}x attendance_figures' time | | |",
        f"| verify_chains, {rows['case_event']:,} events in {rows['attendance_case']:,} cases | "
        f"{secs(r['verify_audit_seconds'])} | | | | |",
        "",
        "Import phases (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["import_phases"].items())
        + ". Again: "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["reimport_phases"].items())
        + ".",
        f"Figures: best of {len(r['figures_seconds'])} (all: "
        + ", ".join(f"{s:.2f}" for s in r["figures_seconds"])
        + f"); absence periods {r['figures_absence_periods_seconds']:.2f} s a run for "
        f"{r['enrolments_in_absence_period']:,} enrolments. Raw query (all: "
        + ", ".join(f"{s:.2f}" for s in r["raw_query_seconds"])
        + f"). Peak memory of the benchmark process {r['peak_memory_mb']:,} MB.",
        f"Scan: {first['evaluated']:,} active enrolments evaluated "
        f"({first['too_few_sessions']:,} with too few sessions), {first['below_threshold']:,} "
        f"below threshold, {first['cases_opened']:,} cases opened, "
        f"{first['occurrences_recorded']:,} occurrences recorded, {first['decisions_due']:,} "
        f"decisions due, {first['approaching_flagged']:,} early warnings flagged, "
        f"{first['rebook_items']:,} 1-2-1 rebook items, {first['medical_certificate_items']:,} "
        f"medical certificate items, {first['items_marked_overdue']:,} items marked overdue. "
        "Phases (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["scan_phases"].items())
        + ". Second run: "
        + ("nothing changed" if r["rescan_changed_nothing"] else "**changed something**")
        + "; phases (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["rescan_phases"].items())
        + ".",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=240, help="sessions per programme")
    parser.add_argument("--programmes", type=int, default=10)
    parser.add_argument(
        "--postgresql-url",
        help=f"a database this may wipe (default ${POSTGRESQL_ENV}, else {DEFAULT_POSTGRESQL_URL})",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=5, help="figures runs (best is reported)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the first import, figures run and scan",
    )
    parser.add_argument("--no-save", action="store_true", help="do not append to bench/results/")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args(argv)
    if min(args.learners, args.sessions, args.programmes, args.repeat) < 1:
        parser.error("counts must be positive")
    if args.learners < args.programmes:
        parser.error("need at least one learner per programme")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    version = code_version()  # before the run: the code imported is the code at this point
    workdir = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    try:
        results = bench(args, database_url(args, workdir))
    finally:
        if args.keep and args.database == "sqlite":
            say(f"SQLite file kept: {workdir / 'bench.sqlite'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    record(
        results,
        "registers",
        save=not args.no_save,
        commit=version,
        seed=args.seed,
        profiled=args.profile,
    )
    print("\n" + report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
