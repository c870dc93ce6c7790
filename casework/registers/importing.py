"""Register import: one path behind the CLI, the API and the pages.

``import_register`` takes a CSV file (the CLI), ``import_marks`` the same rows already split into
fields (the API's JSON items); both go through the same lookups, checks and writes. The whole batch
is validated before anything is written, and every bad row is reported with its row number (the
header is row 1) or item index and the reason. A batch with any bad row changes nothing. Marks are
upserted by (enrolment, session): an unchanged mark is left alone, so importing the same file twice
changes nothing; a changed mark is updated and its previous version kept (see migration 0002).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, column, func, literal_column, or_, select, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from casework.extensions import db
from casework.models import (
    AbsenceReason,
    CodeSet,
    Enrolment,
    Learner,
    Mark,
    MarkCategory,
    MarkChange,
    MarkCode,
    Policy,
    Programme,
    RegisterImport,
    Session,
    academic_year_label,
    academic_year_of,
)

LOCAL_ZONE = ZoneInfo("Europe/London")
REQUIRED_COLUMNS = ("learner_id", "session_id", "code")
OPTIONAL_COLUMNS = (
    "minutes_late",
    "absence_reason",
    "evidence_ref",
    "recorded_by",
    "recorded_at",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_LOOKUP_CHUNK = 500
_MAX_MINUTES_LATE = 24 * 60
_REASON_WORDS = ", ".join(r.value for r in AbsenceReason)
# Columns written per mark, in this order, by both write paths (and the benchmark).
MARK_COLUMNS = (
    "enrolment_id",
    "session_id",
    "code_id",
    "minutes_late",
    "absence_reason",
    "evidence_ref",
    "recorded_by",
    "recorded_at",
    "import_id",
)
_CONTENT_COLUMNS = ("code_id", "minutes_late", "absence_reason", "evidence_ref")


@dataclass(frozen=True)
class RowError:
    row: int  # a file's row (1 is the header; 0 is the file as a whole), or an item's index
    message: str
    noun: str = "row"  # "item" for import_marks

    def __str__(self) -> str:
        if self.noun == "row" and not self.row:
            return self.message
        return f"{self.noun} {self.row}: {self.message}"


class ImportRejected(Exception):
    """The file was not imported; nothing changed. ``errors`` lists every problem found."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"register not imported: {len(errors)} problem(s); first: {errors[0]}")


@dataclass(frozen=True)
class ImportResult:
    import_id: int
    rows: int
    created: int
    updated: int
    unchanged: int


@dataclass
class _Lookups:
    learners: dict[str, int] = field(default_factory=dict)  # learner ref -> id
    # session ref -> (session id, programme id, date, academic year)
    sessions: dict[str, tuple[int, int, date, int]] = field(default_factory=dict)
    programme_code_set: dict[int, CodeSet] = field(default_factory=dict)
    programme_codes: dict[int, str] = field(default_factory=dict)
    # (learner id, programme id, academic year) -> (enrolment id, start, end)
    enrolments: dict[tuple[int, int, int], tuple[int, date, date | None]] = field(
        default_factory=dict
    )
    # code set -> code -> (code id, category, needs a reason)
    codes: dict[CodeSet, dict[str, tuple[int, MarkCategory, bool]]] = field(default_factory=dict)


def import_register(
    data: bytes,
    *,
    filename: str,
    imported_by: str,
    programme_ids: Collection[int] | None = None,
) -> ImportResult:
    """Validate and import one register file; raises ImportRejected with every problem found.

    ``programme_ids``, when given, is all the importer may write to: a session of any other
    programme, or a learner enrolled on none of them, is reported exactly as one that does not
    exist.
    """
    with _collector_paused():
        records = _read_records(data)
        sha256 = hashlib.sha256(data).hexdigest()
        return _import(records, filename, sha256, imported_by, programme_ids, "row")


def import_marks(
    items: Sequence[Sequence[str]],
    *,
    source: str,
    imported_by: str,
    programme_ids: Collection[int] | None = None,
) -> ImportResult:
    """``import_register`` for marks already split into fields: each item holds the text of the
    COLUMNS, in order, as a file's row would. Errors name items by index (``RowError.row``)."""
    records = [(index, list(item)) for index, item in enumerate(items)]
    sha256 = hashlib.sha256(json.dumps([fields for _, fields in records]).encode()).hexdigest()
    with _collector_paused():
        return _import(records, source, sha256, imported_by, programme_ids, "item")


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Millions of short-lived row lists would set off the cyclic garbage collector again and
    # again (measured: it more than doubles reading time); none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _import(
    records: list[tuple[int, list[str]]],
    source: str,
    sha256: str,
    imported_by: str,
    programme_ids: Collection[int] | None,
    noun: str,
) -> ImportResult:
    lookups = _load_lookups(records, programme_ids)
    now = datetime.now(UTC)
    sqlite = db.session.connection().dialect.name == "sqlite"
    rows, errors = _validate(
        records, lookups, imported_by, now, _sqlite_datetime if sqlite else _same, noun
    )
    if errors:
        raise ImportRejected(errors)
    try:
        result = _write(rows, source, sha256, imported_by, now)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return result


# --- reading -------------------------------------------------------------------------------------


def _read_records(data: bytes) -> list[tuple[int, list[str]]]:
    """Decode and split the file into (row number, fields); raises for file-level problems."""
    if not data.strip():
        raise ImportRejected([RowError(0, "the file is empty")])
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [
                RowError(
                    0,
                    f"the file is not UTF-8 text (unreadable byte on line {line}); "
                    "save it from your MIS or spreadsheet as CSV UTF-8",
                )
            ]
        ) from exc
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportRejected([RowError(1, f"the header cannot be read: {exc}")]) from exc
    _check_header([h.strip().lower() for h in header])
    records: list[tuple[int, list[str]]] = []
    try:
        for number, fields in enumerate(reader, start=2):
            # Skip blank lines (and a spreadsheet's trailing ",,,,,,," rows).
            if fields and (fields[0].strip() or "".join(fields).strip()):
                records.append((number, fields))
    except csv.Error as exc:
        raise ImportRejected(
            [RowError(len(records) + 2, f"the row cannot be read: {exc}")]
        ) from exc
    if not records:
        raise ImportRejected([RowError(0, "the file has a header but no register rows")])
    return records


def _check_header(header: list[str]) -> None:
    if header != list(COLUMNS):
        expected = ",".join(COLUMNS)
        problems = []
        missing = [c for c in COLUMNS if c not in header]
        unknown = [c for c in header if c not in COLUMNS]
        if missing:
            problems.append("missing " + ", ".join(missing))
        if unknown:
            problems.append("unknown " + ", ".join(repr(c) for c in unknown))
        if not problems:
            problems.append("columns repeated or out of order")
        raise ImportRejected(
            [RowError(1, f"wrong header ({'; '.join(problems)}); expected: {expected}")]
        )


# --- looking up ----------------------------------------------------------------------------------


def _chunks(items: Iterable[Any], size: int = _LOOKUP_CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_lookups(
    records: list[tuple[int, list[str]]], within: Collection[int] | None = None
) -> _Lookups:
    """Fetch only the learners, sessions and enrolments that the file names (and, given
    ``within``, only those of these programmes: the rest then look unknown)."""
    found = _Lookups()
    learner_refs = {f[0].strip() for _, f in records if f}
    session_refs = {f[1].strip() for _, f in records if len(f) > 1}
    learners = select(Learner.learner_ref, Learner.id)
    sessions = select(Session.session_ref, Session.id, Session.programme_id, Session.starts_at)
    if within is not None:
        allowed = list(within)
        learners = learners.where(
            Learner.id.in_(select(Enrolment.learner_id).where(Enrolment.programme_id.in_(allowed)))
        )
        sessions = sessions.where(Session.programme_id.in_(allowed))
    for batch in _chunks(learner_refs):
        found.learners.update(
            db.session.execute(learners.where(Learner.learner_ref.in_(batch))).all()
        )
    for batch in _chunks(session_refs):
        for ref, sid, programme_id, starts_at in db.session.execute(
            sessions.where(Session.session_ref.in_(batch))
        ):
            day = starts_at.date()
            found.sessions[ref] = (sid, programme_id, day, academic_year_of(day))
    programme_ids = {programme_id for _, programme_id, _, _ in found.sessions.values()}
    for pid, code, code_set in db.session.execute(
        select(Programme.id, Programme.code, Policy.code_set)
        .join(Policy)
        .where(Programme.id.in_(programme_ids))
    ):
        found.programme_codes[pid] = code
        found.programme_code_set[pid] = code_set
    for batch in _chunks(found.learners.values()):
        for eid, lid, pid, year, start, end in db.session.execute(
            select(
                Enrolment.id,
                Enrolment.learner_id,
                Enrolment.programme_id,
                Enrolment.academic_year,
                Enrolment.start_date,
                Enrolment.end_date,
            ).where(Enrolment.learner_id.in_(batch), Enrolment.programme_id.in_(programme_ids))
        ):
            found.enrolments[(lid, pid, year)] = (eid, start, end)
    for cid, code_set, code, category, requires_reason in db.session.execute(
        select(
            MarkCode.id,
            MarkCode.code_set,
            MarkCode.code,
            MarkCode.category,
            MarkCode.requires_reason,
        )
    ):
        found.codes.setdefault(code_set, {})[code] = (cid, category, requires_reason)
    return found


# --- validating ----------------------------------------------------------------------------------


class _BadRow(ValueError):
    pass


def _parse_minutes(value: str, category: MarkCategory) -> int:
    if category not in (MarkCategory.LATE, MarkCategory.UNAUTHORISED):
        raise _BadRow(f"minutes_late is only for late arrivals, not a {category.value} mark")
    try:
        minutes = int(value)
    except ValueError:
        raise _BadRow(f"minutes_late '{value}' is not a whole number of minutes") from None
    if not 0 <= minutes <= _MAX_MINUTES_LATE:
        raise _BadRow(f"minutes_late {minutes} must be between 0 and {_MAX_MINUTES_LATE}")
    return minutes


def _parse_reason(value: str, code: str, category: MarkCategory, required: bool) -> str | None:
    if not value:
        if required:
            raise _BadRow(f"code {code} needs an absence_reason (one of: {_REASON_WORDS})")
        return None
    if category not in (MarkCategory.AUTHORISED, MarkCategory.UNAUTHORISED):
        raise _BadRow(f"absence_reason is only for absences, not a {category.value} mark")
    normalised = value.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return AbsenceReason(normalised).value
    except ValueError:
        raise _BadRow(f"unknown absence_reason '{value}' (use one of: {_REASON_WORDS})") from None


def _parse_instant(value: str) -> datetime:
    """An ISO 8601 time as naive UTC; without an offset it is the register's own (UK) clock."""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LOCAL_ZONE)
        # An offset can carry a time at the calendar's ends past them (OverflowError).
        return moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise _BadRow(
            f"bad date or time '{value}' in recorded_at (use ISO 8601, e.g. 2026-10-05T09:12)"
        ) from None


def _validate(
    records: list[tuple[int, list[str]]],
    found: _Lookups,
    imported_by: str,
    now: datetime,
    instant: Callable[[datetime], Any],
    noun: str = "row",
) -> tuple[list[tuple[Any, ...]], list[RowError]]:
    """Check every row; return the rows to write (in MARK_COLUMNS order) and every problem.

    Plain Python rather than a marshmallow schema per row: this runs over millions of rows, and
    the checks are lookups against what the file names. ``instant`` turns a naive UTC datetime
    into the value the database driver is given.
    """
    rows: list[tuple[Any, ...]] = []
    errors: list[RowError] = []
    seen: dict[tuple[int, int], int] = {}
    width = len(COLUMNS)
    default_at = instant(now.astimezone(UTC).replace(tzinfo=None))
    learners, sessions, enrolments = found.learners, found.sessions, found.enrolments
    instants: dict[str, Any] = {}
    for number, raw in records:
        if len(raw) != width:
            errors.append(RowError(number, f"has {len(raw)} fields; the header has {width}", noun))
            continue
        learner_ref, session_ref, code, minutes, reason, evidence, by, at = raw
        try:
            learner_ref, session_ref, code = learner_ref.strip(), session_ref.strip(), code.strip()
            if not learner_ref or not session_ref or not code:
                missing = [c for c, v in zip(REQUIRED_COLUMNS, raw, strict=False) if not v.strip()]
                raise _BadRow(f"{', '.join(missing)} is empty")
            learner_id = learners.get(learner_ref)
            if learner_id is None:
                raise _BadRow(f"unknown learner '{learner_ref}'")
            session = sessions.get(session_ref)
            if session is None:
                raise _BadRow(f"unknown session '{session_ref}'")
            session_id, programme_id, day, year = session
            enrolment = enrolments.get((learner_id, programme_id, year))
            if enrolment is None:
                raise _BadRow(
                    f"learner '{learner_ref}' is not enrolled on "
                    f"{found.programme_codes[programme_id]} in {academic_year_label(year)}"
                )
            enrolment_id, start, end = enrolment
            if day < start or (end is not None and day > end):
                raise _BadRow(
                    f"session '{session_ref}' on {day:%d/%m/%Y} is outside learner "
                    f"'{learner_ref}''s enrolment ({start:%d/%m/%Y} to "
                    f"{'now' if end is None else format(end, '%d/%m/%Y')})"
                )
            code_set = found.programme_code_set[programme_id]
            code = code.upper()
            known = found.codes[code_set].get(code)
            if known is None:
                raise _BadRow(f"unknown code '{code}' in the {code_set.label} code set")
            code_id, category, requires_reason = known
            minutes = minutes.strip()
            minutes_late = _parse_minutes(minutes, category) if minutes else None
            reason = reason.strip()
            absence_reason = (
                _parse_reason(reason, code, category, requires_reason)
                if reason or requires_reason
                else None
            )
            evidence, by, at = evidence.strip(), by.strip(), at.strip()
            if len(evidence) > 120:
                raise _BadRow("evidence_ref is longer than 120 characters")
            if len(by) > 254:
                raise _BadRow("recorded_by is longer than 254 characters")
            if not at:
                recorded_at = default_at
            elif (recorded_at := instants.get(at)) is None:
                # A register's rows share a handful of times: parse each distinct one once.
                recorded_at = instants[at] = instant(_parse_instant(at))
            first = seen.setdefault((enrolment_id, session_id), number)
            if first != number:
                raise _BadRow(f"duplicates {noun} {first} (same learner and session)")
        except _BadRow as problem:
            errors.append(RowError(number, str(problem), noun))
            continue
        rows.append(
            (
                enrolment_id,
                session_id,
                code_id,
                minutes_late,
                absence_reason,
                evidence or None,
                by or imported_by,
                recorded_at,
            )
        )
    return rows, errors


# --- writing -------------------------------------------------------------------------------------


def _write(
    rows: list[tuple[Any, ...]], filename: str, sha256: str, imported_by: str, now: datetime
) -> ImportResult:
    batch = RegisterImport(
        filename=filename[:255],
        sha256=sha256,
        imported_by=imported_by,
        imported_at=now,
        rows=len(rows),
        created=0,
        updated=0,
        unchanged=0,
    )
    db.session.add(batch)
    db.session.flush()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        affected = _upsert_postgresql(connection, rows, batch.id)
    else:
        affected = _upsert_sqlite(connection, rows, batch.id)
    updated = db.session.scalar(
        select(func.count()).select_from(MarkChange).where(MarkChange.import_id == batch.id)
    )
    batch.updated = updated or 0
    batch.created = affected - batch.updated
    batch.unchanged = len(rows) - affected
    return ImportResult(batch.id, batch.rows, batch.created, batch.updated, batch.unchanged)


def _upsert_statement(dialect_insert, source=None):
    statement = dialect_insert(Mark.__table__)
    if source is not None:
        statement = statement.from_select(list(MARK_COLUMNS), source)
    excluded = statement.excluded
    table = Mark.__table__.c
    changed = [table[c].is_distinct_from(excluded[c]) for c in _CONTENT_COLUMNS]
    return statement.on_conflict_do_update(
        index_elements=["enrolment_id", "session_id"],
        set_={
            c: excluded[c] for c in (*_CONTENT_COLUMNS, "recorded_by", "recorded_at", "import_id")
        },
        where=or_(*changed),
    )


def _same(value: datetime) -> datetime:
    return value


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's own SQLite storage format, so the ORM reads these back like its own writes.
    return value.isoformat(" ", "microseconds")


def _upsert_sqlite(connection, rows: list[tuple[Any, ...]], import_id: int) -> int:
    values = {c: bindparam(c) for c in MARK_COLUMNS if c != "import_id"}
    statement = _upsert_statement(sqlite_insert).values(
        import_id=literal_column(str(int(import_id))), **values
    )
    compiled = statement.compile(dialect=connection.dialect)
    # The rows are already in the statement's parameter order: no per-row reshaping.
    if list(compiled.positiontup) != list(values):
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup}")
    cursor = connection.connection.driver_connection.cursor()
    cursor.executemany(str(compiled), rows)
    return cursor.rowcount


def _upsert_postgresql(connection, rows: list[tuple[Any, ...]], import_id: int) -> int:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT from it."""
    connection.execute(
        text(
            "CREATE TEMPORARY TABLE mark_stage (enrolment_id integer, session_id integer,"
            " code_id integer, minutes_late integer, absence_reason varchar(40),"
            " evidence_ref varchar(120), recorded_by varchar(254), recorded_at timestamp,"
            f" import_id integer DEFAULT {int(import_id)}) ON COMMIT DROP"
        )
    )
    raw = connection.connection.driver_connection
    columns = ", ".join(c for c in MARK_COLUMNS if c != "import_id")
    with raw.cursor() as cursor, cursor.copy(f"COPY mark_stage ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    stage = table("mark_stage", *(column(c) for c in MARK_COLUMNS))
    source = select(*(stage.c[c] for c in MARK_COLUMNS))
    upsert = _upsert_statement(pg_insert, source).compile(dialect=connection.dialect)
    with raw.cursor() as cursor:  # the driver's own cursor reports the affected row count
        cursor.execute(str(upsert), upsert.params or None)
        return cursor.rowcount


__all__ = [
    "COLUMNS",
    "MARK_COLUMNS",
    "ImportRejected",
    "ImportResult",
    "RowError",
    "import_marks",
    "import_register",
]
