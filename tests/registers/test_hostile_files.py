"""Hostile register files: each is refused with a problem naming its row (or the file) and the
field, on both databases, through the function and the command alike; nothing is written and
nothing crashes. Every file also carries a good change to an existing mark, which must not land."""

from __future__ import annotations

import codecs
import os

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import Mark, MarkChange, RegisterImport
from casework.registers.importing import COLUMNS, ImportRejected, import_register
from tests.registers.conftest import HEADER, count

GOOD_CHANGE = "L100,S0,U,,,,,"  # row 2 of every row-level case: P -> U, if it were let through
NUL = "\x00"


def cell(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def row(**given: str) -> str:
    """A row for learner L100 at session S1 (code P, the rest empty), with ``given`` fields."""
    values = {"learner_id": "L100", "session_id": "S1", "code": "P"} | given
    return ",".join(cell(values.get(name, "")) for name in COLUMNS)


def with_bad_row(bad: str) -> bytes:
    return f"{HEADER}\n{GOOD_CHANGE}\n{bad}\n".encode()


def late(**given: str) -> str:
    return row(code="L", **given)


def unstorable(field: str) -> str:
    return f"row 3: {field} contains characters that cannot be kept (a NUL"


def control(field: str) -> str:
    return f"row 3: {field} contains a line break or another control character"


def too_long(field: str, limit: int) -> str:
    return f"row 3: {field} is longer than {limit} characters"


def formula(field: str) -> str:
    return f"row 3: {field} starts with"


NOT_MINUTES = "row 3: minutes_late"
OUT_OF_YEAR = "row 3: recorded_at"
BAD_DATE = "row 3: bad date or time"
NOT_UTF8 = "the file is not UTF-8 text"

# (case id, the file, how its first problem begins)
ROW_CASES = [
    # A NUL in each field (PostgreSQL refused them with a traceback; SQLite kept some).
    ("nul-learner", row(learner_id="L1" + NUL + "00"), unstorable("learner_id")),
    ("nul-session", row(session_id="S" + NUL + "1"), unstorable("session_id")),
    ("nul-code", row(code="P" + NUL), unstorable("code")),
    ("nul-minutes", late(minutes_late="5" + NUL), unstorable("minutes_late")),
    ("nul-reason", row(code="A", absence_reason="illness" + NUL), unstorable("absence_reason")),
    ("nul-evidence", row(evidence_ref="GP" + NUL + "123"), unstorable("evidence_ref")),
    ("nul-recorded-by", row(recorded_by="tutor" + NUL + "@x.org"), unstorable("recorded_by")),
    ("nul-recorded-at", row(recorded_at="2026-09-08T09:20" + NUL), unstorable("recorded_at")),
    # Line breaks (a quoted newline) and other control characters inside a one-line field.
    ("newline-evidence", row(evidence_ref="GP\n=1+1"), control("evidence_ref")),
    ("cr-recorded-by", row(recorded_by="tutor\r@x.org"), control("recorded_by")),
    ("newline-learner", row(learner_id="L1\n00"), control("learner_id")),
    ("tab-evidence", row(evidence_ref="GP\t123"), control("evidence_ref")),
    ("escape-recorded-by", row(recorded_by="\x1b[31mtutor"), control("recorded_by")),
    ("delete-session", row(session_id="S1\x7f"), control("session_id")),
    # Each field past its column's length.
    ("long-learner", row(learner_id="L" * 41), too_long("learner_id", 40)),
    ("long-session", row(session_id="S" * 61), too_long("session_id", 60)),
    ("long-code", row(code="PPPPP"), too_long("code", 4)),
    ("long-evidence", row(evidence_ref="E" * 121), too_long("evidence_ref", 120)),
    ("long-recorded-by", row(recorded_by="b" * 255), too_long("recorded_by", 254)),
    ("long-reason", row(code="A", absence_reason="i" * 300), "row 3: unknown absence_reason"),
    ("long-minutes", late(minutes_late="9" * 5000), NOT_MINUTES),
    ("long-recorded-at", row(recorded_at="2026-09-08" + "9" * 1000), BAD_DATE),
    ("huge-field", row(evidence_ref="E" * 200_000), "row 3: the row cannot be read"),
    # Spreadsheet formulas in the free text that lands in marks (and in CSV files later).
    ("formula-evidence-equals", row(evidence_ref="=HYPERLINK(1)"), formula("evidence_ref")),
    ("formula-evidence-plus", row(evidence_ref="+1+1"), formula("evidence_ref")),
    ("formula-evidence-minus", row(evidence_ref="-1+1"), formula("evidence_ref")),
    ("formula-evidence-at", row(evidence_ref="@SUM(A1)"), formula("evidence_ref")),
    ("formula-evidence-spaced", row(evidence_ref="  =1+1"), formula("evidence_ref")),
    ("formula-evidence-tab", row(evidence_ref="\t=1+1"), control("evidence_ref")),
    ("formula-by-equals", row(recorded_by="=cmd|' /C calc'!A0"), formula("recorded_by")),
    ("formula-by-plus", row(recorded_by="+tutor@x.org"), formula("recorded_by")),
    ("formula-by-minus", row(recorded_by="-tutor@x.org"), formula("recorded_by")),
    ("formula-by-at", row(recorded_by="@tutor"), formula("recorded_by")),
    ("formula-by-cr", row(recorded_by="\r=1+1"), control("recorded_by")),
    # Minutes late: ASCII digits, 0 to 1440.
    ("minutes-arabic-indic", late(minutes_late="\u0663"), NOT_MINUTES),
    ("minutes-fullwidth", late(minutes_late="\uff11\uff10"), NOT_MINUTES),
    ("minutes-underscore", late(minutes_late="1_0"), NOT_MINUTES),
    ("minutes-plus", late(minutes_late="+5"), NOT_MINUTES),
    ("minutes-negative", late(minutes_late="-5"), NOT_MINUTES),
    ("minutes-huge", late(minutes_late="99999999999999999999"), NOT_MINUTES),
    ("minutes-decimal", late(minutes_late="1.5"), NOT_MINUTES),
    ("minutes-exponent", late(minutes_late="1e3"), NOT_MINUTES),
    ("minutes-inner-space", late(minutes_late="1 0"), NOT_MINUTES),
    # Dates outside the calendar or outside the session's academic year and the next.
    ("date-year-one", row(recorded_at="0001-01-01"), OUT_OF_YEAR),
    ("date-year-one-offset", row(recorded_at="0001-01-01T00:00+14:00"), BAD_DATE),
    ("date-year-9999", row(recorded_at="9999-12-31T23:59"), OUT_OF_YEAR),
    ("date-year-9999-offset", row(recorded_at="9999-12-31T23:59-14:00"), BAD_DATE),
    ("date-february-30", row(recorded_at="2026-02-30"), BAD_DATE),
    ("date-hour-25", row(recorded_at="2026-09-08T25:00"), BAD_DATE),
    ("date-year-before", row(recorded_at="2026-07-31T23:59"), OUT_OF_YEAR),
    ("date-years-after", row(recorded_at="2028-08-01T00:00"), OUT_OF_YEAR),
    # Rows that do not fit.
    ("too-few-fields", "L100,S1,P,,,", "row 3: has 6 fields; the header has 8"),
    ("too-many-fields", "L100,S1,P,,,,,,", "row 3: has 9 fields; the header has 8"),
    ("unterminated-quote", 'L100,S1,P,,,"GP-1,,', "row 3: has 6 fields"),
    ("unknown-code", row(code="Q"), "row 3: unknown code 'Q'"),
    ("unknown-learner", row(learner_id="L999"), "row 3: unknown learner 'L999'"),
    ("unknown-session", row(session_id="S9"), "row 3: unknown session 'S9'"),
    ("not-enrolled", "P200,S1,P,,,,,", "row 3: learner 'P200' is not enrolled"),
    ("duplicate-row", GOOD_CHANGE, "row 3: duplicates row 2"),
    ("empty-learner", row(learner_id=" "), "row 3: learner_id is empty"),
]

UNSEEN_BOM = "row 3: unknown learner '\\ufeffL100'"  # shown, not hidden
ASCII_FILE = f"{HEADER}\r\n{GOOD_CHANGE}\r\n"
FILE_CASES = [
    # Wrong encodings.
    ("utf-16-le-bom", codecs.BOM_UTF16_LE + ASCII_FILE.encode("utf-16-le"), "the file is UTF-16"),
    ("utf-16-be-bom", codecs.BOM_UTF16_BE + ASCII_FILE.encode("utf-16-be"), "the file is UTF-16"),
    ("utf-16-no-bom", ASCII_FILE.encode("utf-16-le"), "row 1: the header contains a NUL"),
    ("utf-32-bom", ASCII_FILE.encode("utf-32"), "the file is UTF-16"),
    ("latin-1-byte", f"{HEADER}\n{GOOD_CHANGE}\nL100,S1,P,,,Réf,,\n".encode("latin-1"), NOT_UTF8),
    (
        "cp1252-quote",
        f"{HEADER}\n{GOOD_CHANGE}\n".encode() + b"L100,S1,P,,,\x93x\x94,,\n",
        NOT_UTF8,
    ),
    ("double-bom", ("\ufeff\ufeff" + ASCII_FILE).encode(), "row 1: wrong header"),
    ("bom-mid-file", f"{HEADER}\n{GOOD_CHANGE}\n\ufeffL100,S1,P,,,,,\n".encode(), "row 3:"),
    # Headers.
    ("header-missing-column", ASCII_FILE.replace(",code,", ",").encode(), "row 1: wrong header"),
    ("header-duplicate", ASCII_FILE.replace("code", "learner_id").encode(), "row 1: wrong header"),
    ("header-extra", ASCII_FILE.replace(HEADER, HEADER + ",notes").encode(), "row 1: wrong header"),
    ("header-reordered", f"{','.join(reversed(COLUMNS))}\n{GOOD_CHANGE}\n".encode(), "row 1:"),
    ("header-blank", f"\n{GOOD_CHANGE}\n".encode(), "row 1: wrong header"),
    ("no-header", f"{GOOD_CHANGE}\n".encode(), "row 1: wrong header"),
    ("header-nul", f"learner_id{NUL},{HEADER}\n{GOOD_CHANGE}\n".encode(), "row 1: the header"),
    ("empty-file", b"", "the file is empty"),
    ("blank-file", b" \r\n\n\t\n", "the file is empty"),
    ("header-only", HEADER.encode(), "the file has a header but no register rows"),
    ("header-and-blank-rows", f"{HEADER}\n,,,,,,,\n\n".encode(), "the file has a header but no"),
    # Not text at all.
    ("png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), NOT_UTF8),
    (
        "xlsx",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4\x00\x00\x00L\x02",
        NOT_UTF8,
    ),
    ("garbage", bytes((i * 37 + 11) % 256 for i in range(4096)), NOT_UTF8),
    ("nul-bytes", b"\x00" * 512, "row 1: the header contains a NUL"),
]


@pytest.fixture
def marked(setting):
    """The setting with one mark (S0: P) that each hostile file's good row would change."""
    import_register(
        f"{HEADER}\nL100,S0,P,,,,,\n".encode(), filename="first.csv", imported_by="officer"
    )
    return setting


def unchanged_since(before) -> bool:
    db.session.expire_all()
    mark = db.session.scalars(select(Mark)).one()
    return (count(Mark), count(MarkChange), count(RegisterImport), mark.code.code) == before


def state() -> tuple[int, int, int, str]:
    return (count(Mark), count(MarkChange), count(RegisterImport), "P")


def refused_everywhere(marked, runner, tmp_path, data: bytes, expected: str) -> None:
    before = state()
    with pytest.raises(ImportRejected) as caught:
        import_register(data, filename="hostile.csv", imported_by="officer@example.org")
    first = str(caught.value.errors[0])
    assert first.startswith(expected), caught.value.errors
    assert NUL not in first and len(first) < 400, first  # readable, whatever the file held
    assert unchanged_since(before)
    path = tmp_path / "hostile.csv"
    path.write_bytes(data)
    result = runner.invoke(args=["import-register", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"hostile.csv: {first}" in result.output
    assert "hostile.csv was not imported" in result.output
    assert "Traceback" not in result.output
    assert unchanged_since(before)


@pytest.mark.parametrize(
    ("bad", "expected"), [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES]
)
def test_a_hostile_row_is_named_and_nothing_changes(marked, runner, tmp_path, bad, expected):
    refused_everywhere(marked, runner, tmp_path, with_bad_row(bad), expected)


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_a_hostile_file_is_refused_and_nothing_changes(marked, runner, tmp_path, data, expected):
    refused_everywhere(marked, runner, tmp_path, data, expected)


def test_there_are_enough_hostile_files():
    assert len(ROW_CASES) + len(FILE_CASES) >= 50
    assert len({c[0] for c in ROW_CASES + FILE_CASES}) == len(ROW_CASES) + len(FILE_CASES)


@pytest.mark.parametrize(
    "line_ends",
    ["\r\n", "\r", ["\n", "\r\n", "\r"]],
    ids=["crlf", "cr", "mixed"],
)
def test_line_endings_of_any_kind_are_read_alike(marked, line_ends):
    rows = [HEADER, GOOD_CHANGE, "L100,S1,L,5,,,,", 'L100,S2,A,,illness,"GP, 7",,']
    ends = line_ends if isinstance(line_ends, list) else [line_ends] * 3
    data = "".join(line + end for line, end in zip(rows, [*ends, ends[0]], strict=True))
    result = import_register(data.encode(), filename="ends.csv", imported_by="officer")
    assert (result.rows, result.created, result.updated) == (3, 2, 1)
    evidence = db.session.scalars(select(Mark.evidence_ref).where(Mark.evidence_ref.is_not(None)))
    assert evidence.one() == "GP, 7"


def test_a_file_of_many_bad_rows_lists_every_one(marked, runner, tmp_path):
    rows = [f"X{n},S1,P,,,,," for n in range(20_000)]
    data = f"{HEADER}\n{GOOD_CHANGE}\n{chr(10).join(rows)}\n".encode()
    before = state()
    with pytest.raises(ImportRejected) as caught:
        import_register(data, filename="many.csv", imported_by="officer")
    assert len(caught.value.errors) == 20_000
    assert str(caught.value.errors[-1]) == "row 20002: unknown learner 'X19999'"
    path = tmp_path / "many.csv"
    path.write_bytes(data)
    result = runner.invoke(args=["import-register", str(path)])
    assert result.exit_code == 1
    assert "... and 19950 more problem(s)" in result.output
    assert unchanged_since(before)


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("b" * 300, "recorded_by is longer than 254 characters"),
        ("officer" + NUL, "recorded_by contains characters that cannot be kept"),
        ("=cmd|' /C calc'!A0", "recorded_by starts with"),
        ("officer\nroot", "recorded_by contains a line break"),
    ],
    ids=["300-characters", "nul", "formula", "newline"],
)
def test_import_register_by_is_checked_as_recorded_by(marked, runner, tmp_path, by, expected):
    before = state()
    path = tmp_path / "week.csv"
    path.write_bytes(f"{HEADER}\n{GOOD_CHANGE}\n".encode())
    result = runner.invoke(args=["import-register", str(path), "--by", by])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--by'" in result.output and expected in result.output
    assert "Traceback" not in result.output
    assert unchanged_since(before)
    with pytest.raises(ImportRejected) as caught:  # the same check behind the pages and the API
        import_register(path.read_bytes(), filename="week.csv", imported_by=by)
    assert str(caught.value.errors[0]).startswith(expected)
    assert unchanged_since(before)


def test_a_file_name_that_is_not_text_is_refused(marked, runner, tmp_path):
    before = state()
    path = tmp_path / os.fsdecode(b"week\xff.csv")  # a name in some other encoding
    path.write_bytes(f"{HEADER}\n{GOOD_CHANGE}\n".encode())
    result = runner.invoke(args=["import-register", str(path)])
    assert result.exit_code == 1, result.output
    assert "the file's name contains characters that cannot be kept" in result.output
    assert "Traceback" not in result.output
    assert unchanged_since(before)
