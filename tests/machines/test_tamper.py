"""Tampering with the audit trail and the stored letters: every kind of edit, removal, reordering
or forgery is either refused by the database (the append-only triggers of migration 0010) or, done
by someone who can lift those triggers (the database's owner) but has no key, named by
``casework verify-audit``: the event or letter it names is in its output."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import JSON, LargeBinary, bindparam, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from casework import create_app
from casework.cases.scan import run_scan
from casework.config import ConfigError
from casework.extensions import db
from casework.machines.audit import event_hash, verify_chains, verify_letters
from casework.machines.seal import KEY_FILE, AuditKeyMissing, audit_key
from casework.models import Case, CaseEvent, ContactKind, Letter, LetterJob
from casework.models.types import UTCDateTime
from tests.append_only import lifted
from tests.case_fixtures import Team, fire, render_letters

EVENTS, LETTERS = CaseEvent.__table__, Letter.__table__


@dataclass
class World:
    """Case ``a``: three events (opened by the scan, two notes), its two letters rendered (the
    learner's and the parent's). Case ``b``: another learner's, opened by the same scan."""

    team: Team
    a: Case
    b: Case
    events: list[int]  # a's, by number
    letters: list[int]  # a's
    jobs: list[int]  # each letter's job
    spare_enrolment: int  # a third learner's, with no case


@pytest.fixture
def world(team, make, clock) -> World:
    t = team()
    first, second = (t.learner(born=date(2010, 5, 1)) for _ in range(2))
    make.contact(first.learner, ContactKind.PARENT_CARER, name="Pat Parent", address="1 Road")
    spare = t.learner()
    day = t.mark(first, "PPPPPPPPUU")
    t.mark(second, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    a, b = (
        db.session.scalars(select(Case).where(Case.enrolment_id == e.id)).one()
        for e in (first, second)
    )
    fire(t.mentor, a, "add_note", today=day)
    fire(t.mentor, a, "add_note", today=day)
    render_letters(a)
    db.session.commit()
    events = db.session.scalars(
        select(CaseEvent.id).where(CaseEvent.case_id == a.id).order_by(CaseEvent.seq)
    ).all()
    letters = db.session.execute(
        select(Letter.id, Letter.job_id).where(Letter.case_id == a.id).order_by(Letter.id)
    ).all()
    assert len(events) == 3 and len(letters) == 2
    assert list(verify_chains()) == [] and list(verify_letters()) == []
    return World(t, a, b, events, [x.id for x in letters], [x.job_id for x in letters], spare.id)


def forged_value(table, column: str, w: World):
    """A different value of the right type for ``column``, one the other constraints accept."""
    by_name = {
        "id": 999_999,
        "case_id": w.b.id,
        "event_id": w.events[1],
        "job_id": w.jobs[1],
        "actor_id": w.team.head.id,
        "seq": 999,
        "size": 1,
    }
    if column in by_name:
        return by_name[column]
    kind = table.c[column].type
    if isinstance(kind, UTCDateTime):
        return datetime(2020, 1, 1, tzinfo=UTC)
    if isinstance(kind, JSON):
        return {"forged": True}
    if isinstance(kind, LargeBinary):
        return b"%PDF-1.7 forged"
    return "0" * 64 if column in ("hash", "prev_hash", "sha256", "seal") else "forged"


def row_of(table, w: World) -> int:
    # The last event and the first letter: nothing else refers to them.
    return w.events[-1] if table is EVENTS else w.letters[0]


COLUMNS = [(t, c.name) for t in (EVENTS, LETTERS) for c in t.columns]


def _ids(params) -> str:
    return f"{params[0].name}.{params[1]}"


# Refused by the database -----------------------------------------------------------------------


@pytest.mark.parametrize("table, column", COLUMNS, ids=[_ids(p) for p in COLUMNS])
def test_the_database_refuses_to_update_any_column(world, table, column):
    row = row_of(table, world)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(
            update(table)
            .where(table.c.id == row)
            .values({column: forged_value(table, column, world)})
        )


@pytest.mark.parametrize("table", [EVENTS, LETTERS], ids=lambda t: t.name)
def test_the_database_refuses_to_delete_a_row_or_empty_the_table(world, table):
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(delete(table).where(table.c.id == row_of(table, world)))
    db.session.rollback()
    statement = (
        "TRUNCATE {} CASCADE" if db.engine.dialect.name == "postgresql" else "DELETE FROM {}"
    )
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement.format(table.name)))


def test_filling_in_an_empty_seal_is_the_one_update_allowed(world):
    """An event inserted behind casework's back has no seal; filling one in is let through (it
    is how casework seals its own rows), but only with nothing else changed."""
    unsealed = insert(EVENTS).values(
        case_id=world.a.id,
        seq=4,
        name="add_note",
        actor_label="forger",
        occurred_at=datetime(2026, 9, 30, tzinfo=UTC),
        note="",
        data={},
        hash="1" * 64,
    )
    forged = db.session.execute(unsealed).inserted_primary_key[0]
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(
            update(EVENTS).where(EVENTS.c.id == forged).values(seal="2" * 64, note="more")
        )
    db.session.rollback()
    forged = db.session.execute(unsealed).inserted_primary_key[0]
    db.session.execute(update(EVENTS).where(EVENTS.c.id == forged).values(seal="2" * 64))
    db.session.commit()
    # Without the key its seal is no seal: named all the same.
    assert f"event {forged} (number 4)" in " ".join(str(p) for p in verify_chains())


# Named by verify-audit, by someone who lifted the triggers -----------------------------------


def _set(table, row: int, **values) -> None:
    db.session.execute(update(table).where(table.c.id == row).values(**values))


def _event(event_id: int) -> CaseEvent:
    return db.session.get(CaseEvent, event_id)


def _rechain(w: World, from_number: int, note: str) -> None:
    """Rewrite event ``from_number``'s note and recompute every hash after it and the case's
    head: a consistent chain that only lacks the key's seals."""
    prev = _event(w.events[from_number - 2]).hash if from_number > 1 else None
    for number in range(from_number, len(w.events) + 1):
        row = _event(w.events[number - 1])
        fields = {
            "case_id": row.case_id,
            "seq": row.seq,
            "name": row.name,
            "from_state": row.from_state,
            "to_state": row.to_state,
            "actor_id": row.actor_id,
            "actor_label": row.actor_label,
            "occurred_at": row.occurred_at,
            "note": note if number == from_number else row.note,
            "data": row.data,
            "prev_hash": prev,
        }
        prev = event_hash(**fields)
        _set(EVENTS, row.id, note=fields["note"], prev_hash=fields["prev_hash"], hash=prev)
    _set(Case.__table__, w.a.id, audit_head=prev)


def rewrite_note_and_rechain(w: World) -> str:
    _rechain(w, 2, "nothing to see here")
    return f"event {w.events[1]} (number 2): its seal does not match"


def append_forged_event(w: World) -> str:
    """No triggers to lift: an INSERT is allowed, with its hash and the case's head right."""
    last = _event(w.events[-1])
    fields = {
        "case_id": w.a.id,
        "seq": 4,
        "name": "add_note",
        "from_state": last.to_state,
        "to_state": last.to_state,
        "actor_id": w.team.head.id,
        "actor_label": "Hana Head <forged>",
        "occurred_at": datetime(2026, 9, 30, tzinfo=UTC),
        "note": "the learner admitted everything",
        "data": {},
        "prev_hash": last.hash,
    }
    digest = event_hash(**fields)
    forged = db.session.execute(
        insert(EVENTS).values(**fields, hash=digest, seal=os.urandom(32).hex())
    ).inserted_primary_key[0]
    _set(Case.__table__, w.a.id, audit_head=digest, event_count=4)
    return f"event {forged} (number 4): its seal does not match"


def delete_middle_event(w: World) -> str:
    db.session.execute(delete(EVENTS).where(EVENTS.c.id == w.events[1]))
    return f"event {w.events[2]} (number 3): expected event number 2"


def delete_last_event(w: World) -> str:
    db.session.execute(delete(EVENTS).where(EVENTS.c.id == w.events[2]))
    return f"case {w.a.id}: its end: the chain does not end where the case says"


def delete_last_event_and_rewind_the_head(w: World) -> str:
    db.session.execute(delete(EVENTS).where(EVENTS.c.id == w.events[2]))
    _set(Case.__table__, w.a.id, audit_head=_event(w.events[1]).hash, event_count=2)
    return f"case {w.a.id}: its end: the seal of where the chain ends (event {w.events[1]}"


def swap_event_ids(w: World) -> str:
    second, third = w.events[1], w.events[2]
    _set(EVENTS, second, id=-1)
    _set(EVENTS, third, id=second)
    _set(EVENTS, -1, id=third)
    return f"event {third} (number 2): its seal does not match"


def swap_event_numbers(w: World) -> str:
    second, third = w.events[1], w.events[2]
    _set(EVENTS, second, seq=0)
    _set(EVENTS, third, seq=2)
    _set(EVENTS, second, seq=3)
    return f"event {third} (number 2): it does not follow the event before it"


def delete_letter(w: World) -> str:
    db.session.execute(delete(LETTERS).where(LETTERS.c.id == w.letters[0]))
    return f"letter job {w.jobs[0]}: it was rendered, but its letter is missing"


FORGED_PDF = b"%PDF-1.7\n% the learner is expelled\n%%EOF\n"


def forge_pdf_keeping_its_hash(w: World) -> str:
    _set(LETTERS, w.letters[0], pdf=FORGED_PDF)
    return f"letter {w.letters[0]} ("


def forge_pdf_and_its_hash(w: World) -> str:
    digest = hashlib.sha256(FORGED_PDF).hexdigest()
    _set(LETTERS, w.letters[0], pdf=FORGED_PDF, sha256=digest, size=len(FORGED_PDF))
    return f"letter {w.letters[0]} ("


def move_letter_and_its_job_to_another_event(w: World) -> str:
    _set(LETTERS, w.letters[0], event_id=w.events[1])
    _set(LetterJob.__table__, w.jobs[0], event_id=w.events[1])
    return f"letter {w.letters[0]} ("


def move_letter_to_another_learner(w: World) -> str:
    job = db.session.scalars(select(LetterJob).where(LetterJob.case_id == w.b.id)).first()
    _set(LETTERS, w.letters[0], case_id=w.b.id, event_id=job.event_id, job_id=job.id)
    return f"letter {w.letters[0]} ("


def move_case_to_another_learner(w: World) -> str:
    _set(Case.__table__, w.a.id, enrolment_id=w.spare_enrolment)
    return f"letter {w.letters[0]} ("


def move_case_without_letters_to_another_learner(w: World) -> str:
    """Only the case's head seal says whose case it is (``b`` has no stored letter)."""
    _set(Case.__table__, w.b.id, enrolment_id=w.spare_enrolment)
    return f"case {w.b.id}: its end: the seal of where the chain ends"


def empty_a_case_and_clear_its_head(w: World) -> str:
    """Every event of ``b`` gone, with all that refers to them, and its head cleared."""
    for table in reversed(db.metadata.sorted_tables):  # case_event after what refers to it
        if "case_id" in table.c and table is not Case.__table__:
            db.session.execute(delete(table).where(table.c.case_id == w.b.id))
    _set(Case.__table__, w.b.id, audit_head=None, audit_seal=None, event_count=0)
    return f"case {w.b.id}: its end: every event is missing"


def insert_forged_letter(w: World) -> str:
    job = db.session.get(LetterJob, w.jobs[0])
    forged = db.session.execute(
        insert(LETTERS).values(
            job_id=job.id,
            case_id=job.case_id,
            event_id=job.event_id,
            template=job.template,
            template_version="99",
            recipient_kind=job.recipient_kind,
            recipient_key=job.recipient_key,
            recipient_name="Pat Parent",
            reference="FORGED-1",
            sha256=hashlib.sha256(FORGED_PDF).hexdigest(),
            pdf=FORGED_PDF,
            size=len(FORGED_PDF),
            rendered_at=datetime(2026, 9, 30, tzinfo=UTC),
        )
    ).inserted_primary_key[0]
    return f"letter {forged} (FORGED-1): it has no seal"


def _column_edit(table, column: str) -> Callable[[World], str]:
    def edit(w: World) -> str:
        row = row_of(table, w)
        value = forged_value(table, column, w)
        _set(table, row, **{column: value})
        named = value if column == "id" else row
        return f"{'event' if table is EVENTS else 'letter'} {named} ("

    edit.__name__ = f"update_{table.name}_{column}"
    return edit


TAMPERING = [
    *(_column_edit(t, c) for t, c in COLUMNS),
    rewrite_note_and_rechain,
    append_forged_event,
    delete_middle_event,
    delete_last_event,
    delete_last_event_and_rewind_the_head,
    swap_event_ids,
    swap_event_numbers,
    delete_letter,
    forge_pdf_keeping_its_hash,
    forge_pdf_and_its_hash,
    move_letter_and_its_job_to_another_event,
    move_letter_to_another_learner,
    move_case_to_another_learner,
    move_case_without_letters_to_another_learner,
    empty_a_case_and_clear_its_head,
    insert_forged_letter,
]


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__)
def test_verify_audit_names_what_was_tampered_with(world, runner, tamper):
    with lifted(db.session.connection()):
        named = tamper(world)
    db.session.commit()
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1, result.output
    assert named in result.output, result.output


def test_verify_audit_says_all_is_well_and_checks_the_letters(world, runner):
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert "every letter matches its seal" in result.output


# The key ---------------------------------------------------------------------------------------


@pytest.fixture
def key_swapped(app):
    """Restores the app's key after a test that changes it."""
    saved = app.extensions.pop("casework.audit_key", None)
    configured = app.config.get("AUDIT_KEY")
    path = Path(app.instance_path) / KEY_FILE
    kept = path.read_bytes() if path.exists() else None
    yield path
    app.extensions.pop("casework.audit_key", None)
    if saved is not None:
        app.extensions["casework.audit_key"] = saved
    app.config["AUDIT_KEY"] = configured
    if kept is not None:
        path.write_bytes(kept)


def test_a_configured_key_too_short_to_be_secret_is_refused_at_start():
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app(
            {"TESTING": True, "AUDIT_KEY": "password", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
        )


def test_the_command_refuses_a_short_key_in_a_line_without_a_traceback(tmp_path):
    environment = {
        "PATH": os.environ["PATH"],
        "CASEWORK_AUDIT_KEY": "password",
        "CASEWORK_DATABASE_URL": f"sqlite:///{tmp_path / 'casework.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from casework.cli import main; main()", "db", "upgrade"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "\nError: CASEWORK_AUDIT_KEY must be at least 32 characters" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_configured_key_one_is_made_readable_by_its_owner_only(app_context, key_swapped):
    key_swapped.unlink(missing_ok=True)
    key = audit_key()
    assert len(key) == 64
    assert stat.S_IMODE(key_swapped.stat().st_mode) == 0o600
    current_app.extensions.pop("casework.audit_key")
    assert audit_key() == key  # read back, not made again


def test_checking_never_makes_a_key_and_says_it_is_missing(world, runner, key_swapped):
    key_swapped.unlink()
    with pytest.raises(AuditKeyMissing):
        list(verify_chains())
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1 and "the seals cannot be checked" in result.output
    assert not key_swapped.exists()


def test_seals_made_with_another_key_are_named(world, runner, key_swapped):
    current_app.config["AUDIT_KEY"] = "x" * 64
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert f"event {world.events[0]} (number 1): its seal does not match" in result.output
    assert f"letter {world.letters[0]} (" in result.output


# The upgrade -----------------------------------------------------------------------------------


def test_the_upgrade_seals_the_rows_already_there_and_makes_them_append_only(world):
    """0010 down and up again: the rows written before it get their seals at the upgrade, with
    the key configured then, and every check passes."""
    directory = current_app.extensions["migrate"].directory
    db.session.remove()
    try:
        downgrade(directory=directory, revision="0009")
    finally:
        upgrade(directory=directory)
    assert list(verify_chains()) == [] and list(verify_letters()) == []
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(
            update(EVENTS).where(EVENTS.c.id == world.events[0]).values(note="changed")
        )


def test_an_unsealed_event_is_named(world):
    """One written before sealing that the upgrade did not seal, or by someone else."""
    with lifted(db.session.connection()):
        db.session.execute(
            update(EVENTS).where(EVENTS.c.id == bindparam("event")).values(seal=None),
            {"event": world.events[0]},
        )
    db.session.commit()
    problems = [str(p) for p in verify_chains()]
    assert problems == [
        f"case {world.a.id}: event {world.events[0]} (number 1): it has no seal: "
        "casework did not write it"
    ]
