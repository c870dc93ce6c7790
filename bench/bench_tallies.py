"""The nightly scan at college scale: 50,000 learners x 480 sessions = 24 million marks.

Builds a fresh database (schema from the migrations, reference data), programmes, learners,
enrolments and sessions (three a teaching day) by bulk core inserts, then the marks straight
through the driver, one programme at a time (sqlite3 ``executemany``; psycopg ``COPY``: a
register file of 24 million rows would not fit in memory, and bench_registers measures the
import), then times:

1. one raw aggregate query over every mark (the recount the tallies replace);
2. ``casework tallies repair`` (``repair_tallies``): every enrolment's tally from its marks;
3. ``tally_differences`` (what ``casework tallies check`` runs): must find none;
4. the nightly scan as at the last session's day, then again (must change nothing: the nightly
   cost).

Usage: python bench/bench_tallies.py --database sqlite|postgresql [--learners N --sessions M]
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import date, datetime, timedelta
from typing import Any

import benchkit
from bench_registers import (
    FIRST_TEACHING_DAY,
    REGISTER_OPEN_MINUTES,
    draw_mark,
    insert_enrolled_learners,
    learner_habits,
    maintain,
    pairs,
    raw_connection,
    run_raw_figures,
    summary,
    timed_scan,
)
from benchkit import code_version, record, say, stopwatch
from sqlalchemy import DateTime, insert, select

from casework import create_app
from casework.database import reset_database
from casework.extensions import db
from casework.models import (
    CodeSet,
    DeliveryMode,
    MarkCode,
    RegisterImport,
    Session,
    SessionKind,
    academic_year_of,
)
from casework.registers.tallies import repair_tallies, tally_differences

POSTGRESQL_ENV = "CASEWORK_BENCH_POSTGRESQL_URL"
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/casework_bench_tallies"
SLOTS = 3  # sessions a teaching day: 480 fit in the year
AIM_RESCAN_SECONDS = 20.0


def teaching_days(count: int) -> list[tuple[date, int]]:
    slots: list[tuple[date, int]] = []
    day = FIRST_TEACHING_DAY
    while len(slots) < count:
        if day.weekday() < 5:
            slots.extend((day, slot) for slot in range(SLOTS))
        day += timedelta(days=1)
    if academic_year_of(slots[count - 1][0]) != academic_year_of(FIRST_TEACHING_DAY):
        raise SystemExit(f"{count} sessions do not fit in one academic year")
    return slots[:count]


def build(learners: int, sessions: int, programmes: int) -> tuple[list[list[int]], list, dict]:
    """Programmes, learners, enrolments, sessions; returns each programme's enrolment ids, its
    sessions [(id, starts_at)] in time order, and the further-education codes' ids."""
    programme_ids, _refs, enrolment_ids = insert_enrolled_learners(learners, programmes, digits=3)
    members = [sorted(enrolment_ids[p::programmes]) for p in range(programmes)]
    rows = []
    for p, pid in enumerate(programme_ids):
        for day, slot in teaching_days(sessions):
            starts_at = datetime.combine(day, datetime.min.time()).replace(hour=9 + 3 * slot)
            rows.append(
                {
                    "session_ref": f"PRG{p + 1:03d}-{day:%Y%m%d}-{slot}",
                    "programme_id": pid,
                    "kind": SessionKind.WORKSHOP,
                    "delivery_mode": DeliveryMode.FACE_TO_FACE,
                    "starts_at": starts_at,
                    "ends_at": starts_at + timedelta(hours=2),
                    "register_closes_at": starts_at + timedelta(minutes=REGISTER_OPEN_MINUTES),
                }
            )
    db.session.execute(insert(Session), rows)
    timetable: list[list[tuple[int, datetime]]] = [[] for _ in range(programmes)]
    for sid, pid, starts_at in db.session.execute(
        select(Session.id, Session.programme_id, Session.starts_at).order_by(Session.starts_at)
    ):
        timetable[programme_ids.index(pid)].append((sid, starts_at))
    codes = pairs(
        select(MarkCode.code, MarkCode.id).where(MarkCode.code_set == CodeSet.FURTHER_EDUCATION)
    )
    db.session.commit()
    return members, timetable, codes


def marks_of(members, timetable, codes, habits, rng, import_id) -> Any:
    """One programme's marks, as bench_registers draws them, in the mark table's columns."""
    count = len(timetable)
    for position, (sid, starts_at) in enumerate(timetable):
        at = starts_at + timedelta(minutes=10)
        for eid in members:
            code, minutes, reason, evidenced = draw_mark(
                habits[eid % len(habits)], count - position, rng
            )
            evidence = f"EV-{eid}-{position}" if evidenced else None
            yield (eid, sid, codes[code], minutes, reason, evidence, "bench", at, import_id)


def bulk_insert(dialect: str, members, timetable, codes, seed: int) -> int:
    import_id = db.session.execute(
        insert(RegisterImport).returning(RegisterImport.id),
        {
            "filename": "driver-bulk",
            "sha256": "0" * 64,
            "imported_by": "bench",
            "imported_at": datetime.now().astimezone(),
            "rows": 0,
            "created": 0,
            "updated": 0,
            "unchanged": 0,
        },
    ).scalar_one()
    db.session.commit()
    rng = random.Random(seed)
    habits = learner_habits(10_007, len(timetable[0]), rng)
    as_text = DateTime().dialect_impl(db.engine.dialect).bind_processor(db.engine.dialect)
    columns = (
        "enrolment_id, session_id, code_id, minutes_late, absence_reason, evidence_ref,"
        " recorded_by, recorded_at, import_id"
    )
    total = 0
    connection = raw_connection()
    try:
        driver = connection.driver_connection
        for p, (enrolments, sessions) in enumerate(zip(members, timetable, strict=True)):
            rows = marks_of(enrolments, sessions, codes, habits, rng, import_id)
            if dialect == "sqlite":
                ready = [(*r[:7], as_text(r[7]), r[8]) for r in rows]
                driver.cursor().executemany(
                    f"INSERT INTO mark ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ready
                )
            else:
                ready = list(rows)
                with (
                    driver.cursor() as cursor,
                    cursor.copy(f"COPY mark ({columns}) FROM STDIN") as copy,
                ):
                    for row in ready:
                        copy.write_row(row)
            driver.commit()
            total += len(ready)
            if p % 10 == 9:
                say(f"  {p + 1} programmes, {total:,} marks")
    finally:
        connection.close()
    return total


def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        dialect = db.engine.dialect.name
        say(f"database: {dialect}; building {args.learners:,} learners x {args.sessions}")
        reset_database()
        members, timetable, codes = build(args.learners, args.sessions, args.programmes)
        seconds, marks = stopwatch(
            lambda: bulk_insert(dialect, members, timetable, codes, args.seed)
        )
        say(f"  {marks:,} marks by the driver in {seconds:.0f} s")
        maintain(dialect)
        as_at = max(s[-1][1] for s in timetable).date()

        say("one raw aggregate query over every mark")
        raw_seconds, raw_rows = stopwatch(lambda: run_raw_figures(dialect, as_at))
        say(f"  {raw_seconds:.1f} s, {len(raw_rows):,} rows")
        del raw_rows
        maintain(dialect)

        say("tallies repair")
        repair_seconds, stored = stopwatch(repair_tallies)
        db.session.remove()
        say(f"  {repair_seconds:.1f} s, {stored:,} tallies")
        maintain(dialect)

        say("tallies check")
        check_seconds, differences = stopwatch(lambda: list(tally_differences()))
        db.session.remove()
        assert differences == [], differences[:5]
        say(f"  {check_seconds:.1f} s, no differences")

        say(f"nightly scan as at {as_at}")
        first, report = timed_scan(as_at, "", False)
        say(f"  {first.seconds:.1f} s; " + " ".join(report.lines()))
        maintain(dialect)
        say("nightly scan again, same day")
        again, second = timed_scan(as_at, "", False)
        say(f"  {again.seconds:.1f} s; " + " ".join(second.lines()))
        say("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in again.phases.items()))
        assert not second.changed_anything, second
    return {
        "database": dialect,
        "learners": args.learners,
        "sessions": args.sessions,
        "marks": marks,
        "bulk_insert_seconds": seconds,
        "raw_query_seconds": raw_seconds,
        "repair_seconds": repair_seconds,
        "check_seconds": check_seconds,
        "scan_seconds": first.seconds,
        "scan_report": summary(report),
        "rescan_seconds": again.seconds,
        "rescan_phases": again.phases,
    }


def report(r: dict[str, Any]) -> str:
    raw = r["raw_query_seconds"]
    return "\n".join(
        [
            f"**{r['database']}**, {r['learners']:,} learners x {r['sessions']} sessions = "
            f"{r['marks']:,} marks; casework {r['commit']}",
            "",
            "| step | seconds | against the raw query |",
            "|---|---:|---|",
            f"| driver bulk insert | {r['bulk_insert_seconds']:.0f} | |",
            f"| raw aggregate query, every enrolment | {raw:.1f} | baseline |",
            f"| tallies repair | {r['repair_seconds']:.1f} | {r['repair_seconds'] / raw:.2f}x |",
            f"| tallies check | {r['check_seconds']:.1f} | {r['check_seconds'] / raw:.2f}x |",
            f"| scan, first run ({r['scan_report']['cases_opened']:,} cases opened) | "
            f"{r['scan_seconds']:.1f} | {r['scan_seconds'] / raw:.2f}x |",
            f"| scan again, same day (aim < {AIM_RESCAN_SECONDS:.0f} s) | "
            f"{r['rescan_seconds']:.1f} | {r['rescan_seconds'] / raw:.2f}x |",
            "",
            "Second run's phases (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["rescan_phases"].items()),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchkit.add_run_options(parser, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL, "tallies")
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--sessions", type=int, default=480, help="sessions per programme")
    parser.add_argument("--programmes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    version = code_version()
    with benchkit.work_directory("casework-bench-tallies-", args.keep) as workdir:
        url = benchkit.database_url(args, workdir, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL)
        results = bench(args, url)
    record(results, "tallies", save=not args.no_save, commit=version, seed=args.seed)
    print("\n" + report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
