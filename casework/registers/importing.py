"""Register import: one path behind the CLI, the API and the pages.

``import_register`` takes a CSV file (the CLI), ``import_marks`` the same rows already split into
fields (the API's JSON items); both go through the same lookups, checks and writes. The whole batch
is validated before anything is written, and every bad row is reported with its row number (the
header is row 1) or item index and the reason. A batch with any bad row changes nothing. Marks are
upserted by (enrolment, session): an unchanged mark is left alone, so importing the same file twice
changes nothing; a changed mark is updated and its previous version kept (see migration 0002).

What a field may hold is checked here, once, for every way in, so both databases get the same
text: no NUL, unpaired surrogate or other control character (a line break included) in any field;
refs, codes and free text within their columns' lengths; no free text (evidence_ref, recorded_by,
who is importing) that a spreadsheet would run as a formula; minutes in ASCII digits; and a given
recorded_at within the session's academic year or the next (a register is taken in its year,
and corrected in it or the year after).
"""

from __future__ import annotations

import codecs
import csv
import gc
import hashlib
import io
import json
import re
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
from casework.fields import FORMULA_STARTS, UNSTORABLE, starts_a_formula, storable_text
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
from casework.registers.marks_lock import lock_marks_for_import
from casework.registers.notices import queue_absence_notices
from casework.registers.tallies import refresh_tallies_of_import

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
_COMPARE_ROWS = 50_000  # a batch's rows compared with the stored marks at a time
_PROGRESS_EVERY = 10_000  # rows checked between progress reports: cheap, yet a smooth bar
_MAX_MINUTES_LATE = 24 * 60
_REASON_WORDS = ", ".join(r.value for r in AbsenceReason)
# The columns' own lengths: a longer ref cannot name a row, longer text cannot be kept.
_LEARNER_REF_LENGTH = Learner.__table__.c.learner_ref.type.length
_SESSION_REF_LENGTH = Session.__table__.c.session_ref.type.length
_CODE_LENGTH = MarkCode.__table__.c.code.type.length
_EVIDENCE_LENGTH = Mark.__table__.c.evidence_ref.type.length
_RECORDED_BY_LENGTH = Mark.__table__.c.recorded_by.type.length
# Characters no field may hold: NUL (PostgreSQL refuses it, SQLite keeps it), unpaired surrogates
# (no encoding keeps them), and the other controls and line breaks (every field is one line).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_WHOLE_NUMBER = re.compile("-?[0-9]+")  # [0-9], not \d: int() also takes other scripts' digits
_FORMULA_WORDS = ", ".join(repr(c) for c in FORMULA_STARTS if c.isprintable())
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
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Validate and import one register file; raises ImportRejected with every problem found.

    ``programme_ids``, when given, is all the importer may write to: a session of any other
    programme, or a learner enrolled on none of them, is reported exactly as one that does not
    exist. ``on_progress(rows checked, rows)`` is called as the rows are checked, and with
    (rows, rows) once they are written.
    """
    _check_batch(filename, "the file's name", imported_by)
    with _collector_paused():
        records = _read_records(data)
        sha256 = hashlib.sha256(data).hexdigest()
        return _import(records, filename, sha256, imported_by, programme_ids, "row", on_progress)


def import_marks(
    items: Sequence[Sequence[str]],
    *,
    source: str,
    imported_by: str,
    programme_ids: Collection[int] | None = None,
) -> ImportResult:
    """``import_register`` for marks already split into fields: each item holds the text of the
    COLUMNS, in order, as a file's row would. Errors name items by index (``RowError.row``)."""
    _check_batch(source, "the source", imported_by)
    records = [(index, list(item)) for index, item in enumerate(items)]
    sha256 = hashlib.sha256(json.dumps([fields for _, fields in records]).encode()).hexdigest()
    with _collector_paused():
        return _import(records, source, sha256, imported_by, programme_ids, "item")


def importer_problem(imported_by: str) -> str | None:
    """Why ``imported_by`` cannot be recorded as who took the marks that name nobody (None if it
    can): it is kept as their recorded_by, so it is checked as that column is."""
    if not imported_by.strip():
        return "recorded_by is empty: say who is importing"
    return _unsafe_problem("recorded_by", imported_by) or _free_text_problem(
        "recorded_by", imported_by, _RECORDED_BY_LENGTH
    )


def _check_batch(source: str, source_words: str, imported_by: str) -> None:
    # The source may be a correction's reason, several lines long: only what no database keeps.
    problem = importer_problem(imported_by) or (
        None if storable_text(source) else _unstorable(source_words)
    )
    if problem:
        raise ImportRejected([RowError(0, problem)])


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
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    lookups = _load_lookups(records, programme_ids)
    now = datetime.now(UTC)
    sqlite = db.session.connection().dialect.name == "sqlite"
    instant = _sqlite_datetime if sqlite else _same
    rows, errors = _validate(records, lookups, imported_by, now, instant, noun, on_progress)
    if errors:
        raise ImportRejected(errors)
    try:
        lock_marks_for_import()  # no scan reads between this import's writes and its commit
        result = _write(rows, source, sha256, imported_by, now)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    if on_progress:
        on_progress(len(records), len(records))
    return result


# --- reading -------------------------------------------------------------------------------------


_SAVE_AS = "save it from your MIS or spreadsheet as CSV UTF-8"
_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)  # UTF-32 LE: as 16


def _read_records(data: bytes) -> list[tuple[int, list[str]]]:
    """Decode and split the file into (row number, fields); raises for file-level problems."""
    if not data.strip():
        raise ImportRejected([RowError(0, "the file is empty")])
    if data.startswith(_WIDE_BOMS):
        raise ImportRejected([RowError(0, f"the file is UTF-16 or UTF-32 text; {_SAVE_AS}")])
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [
                RowError(
                    0,
                    f"the file is not UTF-8 text (unreadable byte on line {line}); {_SAVE_AS}",
                )
            ]
        ) from exc
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportRejected([RowError(1, f"the header cannot be read: {exc}")]) from exc
    if "\x00" in "".join(header):
        # UTF-16 without a byte order mark reads as UTF-8 with a NUL after every letter.
        raise ImportRejected(
            [RowError(1, f"the header contains a NUL byte (is the file UTF-16?); {_SAVE_AS}")]
        )
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
    # A ref with a character no field may hold names nothing (and PostgreSQL would refuse a NUL
    # even in a query): _validate reports it.
    learner_refs = {r for r in {f[0].strip() for _, f in records if f} if not _UNSAFE.search(r)}
    session_refs = {
        r for r in {f[1].strip() for _, f in records if len(f) > 1} if not _UNSAFE.search(r)
    }
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


def _shown(value: str, limit: int = 40) -> str:
    """A value as a message quotes it: short, with characters one cannot see spelled out."""
    if not value.isprintable():
        value = value.encode("unicode_escape").decode("ascii")
    return value if len(value) <= limit else value[:limit] + "..."


def _unstorable(name: str) -> str:
    return f"{name} {UNSTORABLE[0].lower()}{UNSTORABLE[1:].rstrip('.')}"


def _unsafe_problem(name: str, value: str) -> str | None:
    if not _UNSAFE.search(value):
        return None
    if not storable_text(value):
        return _unstorable(name)
    return f"{name} contains a line break or another control character"


def _row_unsafe_problem(raw: list[str]) -> str:
    """The first field's problem, of a row some field of which _UNSAFE matches."""
    return next(p for name, v in zip(COLUMNS, raw, strict=True) if (p := _unsafe_problem(name, v)))


def _too_long(name: str, value: str, limit: int) -> str | None:
    return f"{name} is longer than {limit} characters" if len(value) > limit else None


def _free_text_problem(name: str, value: str, limit: int) -> str | None:
    """Free text is kept within its column and never starts a spreadsheet formula."""
    if problem := _too_long(name, value, limit):
        return problem
    if starts_a_formula(value):
        return (
            f"{name} starts with {value[0]!r}, which a spreadsheet would run as a formula "
            f"(no free text may start with {_FORMULA_WORDS})"
        )
    return None


def _parse_minutes(value: str, category: MarkCategory) -> int:
    if category not in (MarkCategory.LATE, MarkCategory.UNAUTHORISED):
        raise _BadRow(f"minutes_late is only for late arrivals, not a {category.value} mark")
    if not _WHOLE_NUMBER.fullmatch(value):
        raise _BadRow(
            f"minutes_late '{_shown(value)}' is not a whole number of minutes (digits 0-9)"
        )
    minutes = int(value) if len(value) < 10 else None  # no int() of a thousand digits
    if minutes is None or not 0 <= minutes <= _MAX_MINUTES_LATE:
        raise _BadRow(f"minutes_late {_shown(value)} must be between 0 and {_MAX_MINUTES_LATE}")
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
        raise _BadRow(
            f"unknown absence_reason '{_shown(value)}' (use one of: {_REASON_WORDS})"
        ) from None


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
            f"bad date or time '{_shown(value)}' in recorded_at "
            "(use ISO 8601, e.g. 2026-10-05T09:12)"
        ) from None


def _academic_year_at(moment: datetime) -> int | None:
    """The academic year of a naive UTC time, by the register's own (UK) calendar; None within
    a day of the calendar's ends, where no session can be."""
    try:
        return academic_year_of(moment.replace(tzinfo=UTC).astimezone(LOCAL_ZONE).date())
    except OverflowError:
        return None


def _validate(
    records: list[tuple[int, list[str]]],
    found: _Lookups,
    imported_by: str,
    now: datetime,
    instant: Callable[[datetime], Any],
    noun: str = "row",
    on_progress: Callable[[int, int], None] | None = None,
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
    # A register's rows share a handful of times: each distinct one is parsed once, kept as
    # (the driver's value, its academic year).
    instants: dict[str, tuple[Any, int | None]] = {}
    total = len(records)
    for checked, (number, raw) in enumerate(records):
        if on_progress and not checked % _PROGRESS_EVERY:
            on_progress(checked, total)
        if len(raw) != width:
            errors.append(RowError(number, f"has {len(raw)} fields; the header has {width}", noun))
            continue
        learner_ref, session_ref, code, minutes, reason, evidence, by, at = raw
        try:
            # One test per row, not per field; printable text (nearly every row) needs no search.
            joined = "".join(raw)
            if not joined.isprintable() and _UNSAFE.search(joined):
                raise _BadRow(_row_unsafe_problem(raw))
            learner_ref, session_ref, code = learner_ref.strip(), session_ref.strip(), code.strip()
            if not learner_ref or not session_ref or not code:
                missing = [c for c, v in zip(REQUIRED_COLUMNS, raw, strict=False) if not v.strip()]
                raise _BadRow(f"{', '.join(missing)} is empty")
            # A known ref is within its column; only an unknown one may be too long to be one.
            learner_id = learners.get(learner_ref)
            if learner_id is None:
                raise _BadRow(
                    _too_long("learner_id", learner_ref, _LEARNER_REF_LENGTH)
                    or f"unknown learner '{_shown(learner_ref)}'"
                )
            session = sessions.get(session_ref)
            if session is None:
                raise _BadRow(
                    _too_long("session_id", session_ref, _SESSION_REF_LENGTH)
                    or f"unknown session '{_shown(session_ref)}'"
                )
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
                raise _BadRow(
                    _too_long("code", code, _CODE_LENGTH)
                    or f"unknown code '{_shown(code)}' in the {code_set.label} code set"
                )
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
            # The cheap tests inline (this runs per row); _free_text_problem words the refusal.
            if evidence and (
                len(evidence) > _EVIDENCE_LENGTH or evidence.startswith(FORMULA_STARTS)
            ):
                raise _BadRow(_free_text_problem("evidence_ref", evidence, _EVIDENCE_LENGTH))
            if by and (len(by) > _RECORDED_BY_LENGTH or by.startswith(FORMULA_STARTS)):
                raise _BadRow(_free_text_problem("recorded_by", by, _RECORDED_BY_LENGTH))
            if not at:
                recorded_at = default_at
            else:
                if (parsed := instants.get(at)) is None:
                    moment = _parse_instant(at)
                    parsed = instants[at] = (instant(moment), _academic_year_at(moment))
                recorded_at, taken_in = parsed
                if taken_in is None or not 0 <= taken_in - year <= 1:
                    raise _BadRow(
                        f"recorded_at {_shown(at)} is outside session '{session_ref}''s "
                        f"academic year {academic_year_label(year)} and the year after "
                        f"(01/08/{year} to 31/07/{year + 2}): a register is taken in its "
                        "year and corrected in it or the next"
                    )
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
    written = _new_or_changed(connection, rows)
    affected = 0
    if written and connection.dialect.name == "postgresql":
        affected = _upsert_postgresql(connection, written, batch.id)
    elif written:
        affected = _upsert_sqlite(connection, written, batch.id)
    # The tallies of the enrolments whose marks changed, in this transaction: recounted, or
    # carried on where the marks are a plain append.
    refresh_tallies_of_import(batch.id, {row[0] for row in written}, {row[1] for row in written})
    updated = db.session.scalar(
        select(func.count()).select_from(MarkChange).where(MarkChange.import_id == batch.id)
    )
    batch.updated = updated or 0
    batch.created = affected - batch.updated
    batch.unchanged = len(rows) - affected
    # Absence alerts for the marks just written, in the same transaction (policy [[notices]]).
    queue_absence_notices(batch.id, now)
    return ImportResult(batch.id, batch.rows, batch.created, batch.updated, batch.unchanged)


def _new_or_changed(connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows with no stored mark or one whose content differs: the stored marks are read a
    few sessions at a time, so an unchanged file rewrites nothing (the upsert would compare
    every row again in the database, at a tenth of the speed)."""
    by_session: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        by_session.setdefault(row[1], []).append(index)
    unchanged: set[int] = set()
    cursor = connection.connection.driver_connection.cursor()
    for sessions in _session_batches(by_session):
        # Ids are integers from the lookups, so they can be written into the statement.
        cursor.execute(
            "SELECT enrolment_id, session_id, code_id, minutes_late, absence_reason,"
            " evidence_ref FROM mark WHERE session_id IN"
            f" ({', '.join(str(int(s)) for s in sessions)})"
        )
        stored = {(e, s): content for e, s, *content in cursor.fetchall()}
        for session_id in sessions:
            for index in by_session[session_id]:
                row = rows[index]
                if stored.get((row[0], row[1])) == [row[2], row[3], row[4], row[5]]:
                    unchanged.add(index)
    cursor.close()
    if not unchanged:
        return rows
    return [row for index, row in enumerate(rows) if index not in unchanged]


def _session_batches(by_session: dict[int, list[int]]) -> Iterator[list[int]]:
    """Sessions in groups of about _COMPARE_ROWS of the batch's rows (memory stays bounded)."""
    batch: list[int] = []
    size = 0
    for session_id, indices in by_session.items():
        batch.append(session_id)
        size += len(indices)
        if size >= _COMPARE_ROWS or len(batch) == _LOOKUP_CHUNK:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


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
    "importer_problem",
]
