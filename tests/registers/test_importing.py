"""Register import: every error reported by row, all-or-nothing, idempotent re-import, history."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import Mark, MarkChange, RegisterImport
from casework.registers.importing import COLUMNS, ImportRejected, import_register
from tests.registers.conftest import HEADER, count, csv_bytes


def run_import(data: bytes, by: str = "officer@example.org"):
    return import_register(data, filename="register.csv", imported_by=by)


def rejected(data: bytes) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        run_import(data)
    return [str(e) for e in caught.value.errors]


def test_imports_marks_with_all_fields(setting):
    result = run_import(
        csv_bytes(
            "L100,S0,P,,,,,",
            "L100,S1,l,12,,,tutor@example.org,2026-09-08T09:20",
            "L100,S2,A,,Medical appointment,GP-123,,",
            "P200,AM1,I,,,,,",
        )
    )
    assert (result.rows, result.created, result.updated, result.unchanged) == (4, 4, 0, 0)
    marks = {m.session.session_ref: m for m in db.session.scalars(select(Mark))}
    assert marks["S1"].code.code == "L" and marks["S1"].minutes_late == 12
    assert marks["S1"].recorded_by == "tutor@example.org"
    # A time without a zone is the register's own (UK) clock: 09:20 BST is 08:20 UTC.
    assert marks["S1"].recorded_at == datetime(2026, 9, 8, 8, 20, tzinfo=UTC)
    assert marks["S2"].absence_reason.value == "medical_appointment"
    assert marks["S2"].evidence_ref == "GP-123"
    assert marks["S0"].recorded_by == "officer@example.org"
    assert marks["AM1"].code.code_set.value == "statutory"
    assert db.session.get(RegisterImport, result.import_id).created == 4


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("L999,S0,P,,,,,", "row 2: unknown learner 'L999'"),
        ("L100,S9,P,,,,,", "row 2: unknown session 'S9'"),
        ("L100,S0,Q,,,,,", "row 2: unknown code 'Q' in the further education code set"),
        ("P200,AM1,A,,,,,", "row 2: unknown code 'A' in the England statutory school code set"),
        ("L100,S0,P,,,,,yesterday", "row 2: bad date or time 'yesterday' in recorded_at"),
        ("L100,S0,P,,,,,2026-13-01", "row 2: bad date or time '2026-13-01'"),
        ("L100,S0,A,,,,,", "row 2: code A needs an absence_reason"),
        ("L100,S0,A,,holiday,,,", "row 2: unknown absence_reason 'holiday'"),
        ("L100,S0,P,,illness,,,", "row 2: absence_reason is only for absences"),
        ("L100,S0,L,soon,,,,", "row 2: minutes_late 'soon' is not a whole number"),
        ("L100,S0,L,-5,,,,", "row 2: minutes_late -5 must be between 0 and 1440"),
        ("L100,S0,P,5,,,,", "row 2: minutes_late is only for late arrivals"),
        ("L100,S0,P,,,", "row 2: has 6 fields; the header has 8"),
        (",S0,P,,,,,", "row 2: learner_id is empty"),
        ("P200,S0,P,,,,,", "row 2: learner 'P200' is not enrolled on HSC3 in 2026/27"),
    ],
)
def test_each_bad_row_is_named(setting, row, message):
    errors = rejected(csv_bytes(row))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_session_outside_the_enrolment(setting, make):
    late_joiner = make.enrolment(
        learner=make.learner(learner_ref="L300"),
        programme=setting.enrolment.programme,
        start_date=date(2026, 9, 8),
    )
    assert late_joiner.start_date == date(2026, 9, 8)
    db.session.commit()
    (error,) = rejected(csv_bytes("L300,S0,P,,,,,"))
    assert error.startswith("row 2: session 'S0' on 07/09/2026 is outside learner 'L300''s")


def test_duplicated_row(setting):
    errors = rejected(csv_bytes("L100,S0,P,,,,,", "L100,S1,P,,,,,", "L100,S0,U,,,,,"))
    assert errors == ["row 4: duplicates row 2 (same learner and session)"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("learner,session_id,code", "row 1: wrong header (missing learner_id,"),
        (HEADER + ",notes", "row 1: wrong header (unknown 'notes')"),
        (",".join(reversed(COLUMNS)), "row 1: wrong header (columns repeated or out of order)"),
    ],
)
def test_wrong_header(setting, header, message):
    (error,) = rejected(csv_bytes("L100,S0,P,,,,,", header=header))
    assert error.startswith(message)


def test_header_may_have_a_byte_order_mark_and_any_case(setting):
    data = "\ufeff" + HEADER.upper() + "\r\nL100,S0,P,,,,,\r\n"
    assert run_import(data.encode()).created == 1


def test_wrong_encoding(setting):
    data = csv_bytes("L100,S0,P,,,,,").replace(b"L100", "Lé100".encode("latin-1"))
    assert rejected(data) == [
        "the file is not UTF-8 text (unreadable byte on line 2); "
        "save it from your MIS or spreadsheet as CSV UTF-8"
    ]


@pytest.mark.parametrize("data", [b"", b"  \n\n"])
def test_empty_file(setting, data):
    assert rejected(data) == ["the file is empty"]


def test_header_only(setting):
    assert rejected(HEADER.encode()) == ["the file has a header but no register rows"]


def test_every_bad_row_is_reported_and_nothing_changes(setting):
    run_import(csv_bytes("L100,S0,P,,,,,"))
    before = (count(Mark), count(MarkChange), count(RegisterImport))
    errors = rejected(
        csv_bytes(
            "L100,S0,U,,,,,",  # a good change that must not land
            "L999,S1,P,,,,,",
            "L100,S2,Z,,,,,",
            "L100,S1,P,,,,,",
        )
    )
    assert [e.split(":")[0] for e in errors] == ["row 3", "row 4"]
    assert (count(Mark), count(MarkChange), count(RegisterImport)) == before
    assert db.session.scalars(select(Mark)).one().code.code == "P"


def test_same_file_twice_changes_nothing(setting):
    data = csv_bytes("L100,S0,P,,,,,", "L100,S1,L,5,,,,", "L100,S2,A,,illness,,,")
    first = run_import(data)
    marks = [(m.id, m.code_id, m.recorded_at) for m in db.session.scalars(select(Mark))]
    db.session.expire_all()
    second = run_import(data, by="someone-else@example.org")
    assert (first.created, second.created, second.updated, second.unchanged) == (3, 0, 0, 3)
    again = [(m.id, m.code_id, m.recorded_at) for m in db.session.scalars(select(Mark))]
    assert again == marks
    assert count(MarkChange) == 0


def test_changed_code_updates_the_mark_and_keeps_the_old_one(setting):
    run_import(csv_bytes("L100,S0,N,,,,,2026-09-07T09:05", "L100,S1,P,,,,,"))
    result = run_import(
        csv_bytes("L100,S0,A,,illness,,admin@example.org,2026-09-09T10:00", "L100,S1,P,,,,,")
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    db.session.expire_all()
    mark = db.session.scalars(select(Mark).where(Mark.session_id == setting.sessions[0].id)).one()
    assert (mark.code.code, mark.absence_reason.value) == ("A", "illness")
    assert mark.recorded_by == "admin@example.org"
    change = db.session.scalars(select(MarkChange)).one()
    assert change.mark_id == mark.id and change.previous_code.code == "N"
    assert change.previous_recorded_at == datetime(2026, 9, 7, 8, 5, tzinfo=UTC)
    assert change.changed_by == "admin@example.org"
    assert change.changed_at == datetime(2026, 9, 9, 9, 0, tzinfo=UTC)
    assert change.import_id == result.import_id


def test_garbage_collection_is_restored_after_an_import(setting):
    import gc

    run_import(csv_bytes("L100,S0,P,,,,,"))
    assert gc.isenabled()
    rejected(csv_bytes("L999,S0,P,,,,,"))
    assert gc.isenabled()
