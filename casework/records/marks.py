"""Registers as the pages keep them: the sessions a user may see, a session's register sheet,
a mark with its history; and the three ways to write marks (a register taken in the page, a
corrected mark, an uploaded file), each through the register import that the CLI and the API use
(casework.registers.importing), so the checks, the figures and the history are the same.

Seen by whoever may see the session's programme (casework.records.sessions.visible_sessions),
each learner only where the reader may see their enrolment; written by administrators and the
programme's administration officers (a Forbidden for anyone else).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import selectinload

from casework import scope
from casework.errors import NotFound
from casework.extensions import db
from casework.models import (
    Enrolment,
    EnrolmentStatus,
    Learner,
    Mark,
    MarkChange,
    MarkCode,
    Programme,
    RegisterImport,
    Role,
    Session,
    User,
    academic_year_of,
)
from casework.policies.rules import rules_of
from casework.records.common import administered_programmes, administers, require_administers
from casework.records.common import require_role as _require_role
from casework.records.sessions import session_for, visible_sessions
from casework.registers.importing import (
    ImportRejected,
    ImportResult,
    RowError,
    import_marks,
    import_register,
)
from casework.sqlfuncs import date_of

CORRECTION = "Correction: "  # a corrected mark's import source, then the reason given


def _expected(session_day, programme_id) -> Select:
    """Enrolments a session's register lists: on its programme, in its academic year, with the
    session inside the enrolment's dates (what the import accepts), not ended without a date."""
    return select(Enrolment.id).where(
        Enrolment.programme_id == programme_id,
        Enrolment.start_date <= session_day,
        or_(Enrolment.end_date.is_(None), Enrolment.end_date >= session_day),
        or_(Enrolment.status == EnrolmentStatus.ACTIVE, Enrolment.end_date.is_not(None)),
    )


@dataclass(frozen=True)
class SessionRow:
    session: Session
    expected: int  # learners on its register (that the reader may see)
    marked: int
    keeps: bool  # the reader may take it

    @property
    def state(self) -> str:
        if self.marked == 0:
            return "not taken"
        return "taken" if self.marked >= self.expected else "part taken"


def _session_rows(user: User, query: Select) -> list[SessionRow]:
    sessions = db.session.scalars(
        query.options(selectinload(Session.programme)).order_by(Session.starts_at, Session.id)
    ).all()
    ids = [s.id for s in sessions]
    if not ids:
        return []
    visible = scope.visible_enrolments(user).with_only_columns(Enrolment.id)
    day = date_of(Session.starts_at)
    expected = dict(
        db.session.execute(
            select(Session.id, func.count(Enrolment.id))
            .join(
                Enrolment,
                and_(
                    Enrolment.programme_id == Session.programme_id,
                    Enrolment.start_date <= day,
                    or_(Enrolment.end_date.is_(None), Enrolment.end_date >= day),
                    or_(
                        Enrolment.status == EnrolmentStatus.ACTIVE,
                        Enrolment.end_date.is_not(None),
                    ),
                ),
            )
            .where(Session.id.in_(ids), Enrolment.id.in_(visible))
            .group_by(Session.id)
        ).all()
    )
    marked = dict(
        db.session.execute(
            select(Mark.session_id, func.count(Mark.id))
            .where(Mark.session_id.in_(ids), Mark.enrolment_id.in_(visible))
            .group_by(Mark.session_id)
        ).all()
    )
    kept = set(keepable_programmes(user, {s.programme_id for s in sessions}))
    return [
        SessionRow(s, expected.get(s.id, 0), marked.get(s.id, 0), s.programme_id in kept)
        for s in sessions
    ]


def keepable_programmes(user: User, programme_ids: set[int]) -> set[int]:
    """Of these programmes, those whose registers ``user`` keeps (one query)."""
    if not user.active:
        return set()
    if user.has_role(Role.ADMINISTRATOR):
        return set(programme_ids)
    if not user.has_role(Role.ADMINISTRATION_OFFICER):
        return set()
    return set(db.session.scalars(administered_programmes(user))) & programme_ids


def keeps_any_register(user: User) -> bool:
    if not user.active:
        return False
    if user.has_role(Role.ADMINISTRATOR):
        return True
    return user.has_role(Role.ADMINISTRATION_OFFICER) and bool(
        db.session.scalar(administered_programmes(user).limit(1))
    )


def sessions_on(user: User, day: date, *, programme_id: int | None = None) -> list[SessionRow]:
    """The sessions on ``day`` that ``user`` may see (of one programme, given), by start."""
    start = datetime.combine(day, time.min)
    query = visible_sessions(user).where(
        Session.starts_at >= start, Session.starts_at < start + timedelta(days=1)
    )
    if programme_id is not None:
        query = query.where(Session.programme_id == programme_id)
    return _session_rows(user, query)


def not_taken_before(user: User, day: date, *, days: int = 14) -> list[SessionRow]:
    """Sessions in the ``days`` before ``day`` whose register ``user`` keeps and has not
    finished, most recent first."""
    start = datetime.combine(day - timedelta(days=days), time.min)
    query = visible_sessions(user).where(
        Session.starts_at >= start, Session.starts_at < datetime.combine(day, time.min)
    )
    rows = [r for r in _session_rows(user, query) if r.keeps and r.state != "taken" and r.expected]
    return rows[::-1]


@dataclass(frozen=True)
class SheetRow:
    enrolment: Enrolment
    learner: Learner
    mark: Mark | None


@dataclass(frozen=True)
class RegisterSheet:
    session: Session
    rows: list[SheetRow]
    codes: list[MarkCode]
    reasons: tuple[str, ...]  # the policy's authorised absence reasons
    keeps: bool


def policy_codes(programme: Programme) -> tuple[list[MarkCode], tuple[str, ...]]:
    rules = rules_of(programme.policy)
    codes = db.session.scalars(
        select(MarkCode).where(MarkCode.code_set == rules.code_set).order_by(MarkCode.id)
    ).all()
    return list(codes), rules.attendance.authorised_reasons


def register_sheet(user: User, session_id: int) -> RegisterSheet:
    """A session's register: every learner on it the reader may see, by name, with their mark."""
    session = session_for(user, session_id)
    day = session.starts_at.date()
    enrolments = db.session.scalars(
        scope.visible_enrolments(user)
        .join(Enrolment.learner)
        .where(Enrolment.id.in_(_expected(day, session.programme_id)))
        .where(Enrolment.academic_year == academic_year_of(day))
        .options(selectinload(Enrolment.learner))
        .order_by(Learner.family_name, Learner.given_name, Learner.id)
    ).all()
    marks = {
        mark.enrolment_id: mark
        for mark in db.session.scalars(
            select(Mark)
            .where(Mark.session_id == session.id, Mark.enrolment_id.in_([e.id for e in enrolments]))
            .options(selectinload(Mark.code))
        )
    }
    codes, reasons = policy_codes(session.programme)
    return RegisterSheet(
        session=session,
        rows=[SheetRow(e, e.learner, marks.get(e.id)) for e in enrolments],
        codes=codes,
        reasons=reasons,
        keeps=administers(user, session.programme_id),
    )


@dataclass(frozen=True)
class Entry:
    """One learner's mark as a form gives it (text, as a register file's row would hold it)."""

    learner_ref: str
    code: str
    minutes_late: str = ""
    absence_reason: str = ""
    evidence_ref: str = ""


def _fields(entry: Entry, session_ref: str) -> list[str]:
    return [
        entry.learner_ref,
        session_ref,
        entry.code,
        entry.minutes_late,
        entry.absence_reason,
        entry.evidence_ref,
        "",  # recorded_by: whoever saves it
        "",  # recorded_at: now
    ]


def _refuse_other_reasons(programme: Programme, entries: list[Entry]) -> None:
    """The pages offer the policy's authorised reasons only; a crafted form with another of the
    reasons the import knows is refused as the import refuses (all or nothing, per entry)."""
    accepted = rules_of(programme.policy).attendance.authorised_reasons
    errors = [
        RowError(
            index,
            f"absence_reason '{entry.absence_reason}' is not one this programme's policy "
            f"accepts (use one of: {', '.join(accepted)})",
            "item",
        )
        for index, entry in enumerate(entries)
        if entry.absence_reason
        and entry.absence_reason.strip().lower().replace(" ", "_") not in accepted
    ]
    if errors:
        raise ImportRejected(errors)


def save_register(user: User, session: Session, entries: list[Entry]) -> ImportResult:
    """Write a session's marks through the register import; raises ImportRejected (nothing
    written) with each bad entry's index."""
    require_administers(user, session.programme_id)
    _refuse_other_reasons(session.programme, entries)
    return import_marks(
        [_fields(entry, session.session_ref) for entry in entries],
        source=f"Register page: {session.session_ref}"[:255],
        imported_by=user.email,
        programme_ids=[session.programme_id],
    )


@dataclass(frozen=True)
class Version:
    """A mark as it was (or is): what it said, who recorded it, when and why."""

    code: MarkCode
    minutes_late: int | None
    absence_reason: str | None
    evidence_ref: str | None
    recorded_by: str
    recorded_at: datetime
    source: str | None  # the import that wrote it: a file's name, or a correction's reason

    @property
    def reason_for_change(self) -> str | None:
        if self.source and self.source.startswith(CORRECTION):
            return self.source[len(CORRECTION) :]
        return None


def mark_for(user: User, mark_id: int) -> Mark:
    visible = scope.visible_enrolments(user).with_only_columns(Enrolment.id)
    mark = db.session.scalars(
        select(Mark)
        .where(Mark.id == mark_id, Mark.enrolment_id.in_(visible))
        .options(
            selectinload(Mark.session).selectinload(Session.programme),
            selectinload(Mark.code),
            selectinload(Mark.enrolment).selectinload(Enrolment.learner),
        )
    ).one_or_none()
    if mark is None:
        raise NotFound(f"There is no mark {mark_id}.")
    return mark


def mark_history(mark: Mark) -> list[Version]:
    """The mark now, then each earlier version, newest first. Each version's ``source`` is the
    import that wrote it (the trigger of migration 0002 keeps a change's import with the
    version it replaced: the next version's source)."""
    changes = db.session.execute(
        select(MarkChange, RegisterImport.filename)
        .outerjoin(RegisterImport, RegisterImport.id == MarkChange.import_id)
        .where(MarkChange.mark_id == mark.id)
        .options(selectinload(MarkChange.previous_code))
        .order_by(MarkChange.id.desc())
    ).all()
    current_source = None
    if mark.import_id is not None:
        current_source = db.session.scalar(
            select(RegisterImport.filename).where(RegisterImport.id == mark.import_id)
        )
    versions = [
        Version(
            mark.code,
            mark.minutes_late,
            mark.absence_reason,
            mark.evidence_ref,
            mark.recorded_by,
            mark.recorded_at,
            current_source,
        )
    ]
    # A change row holds the version before it; the version before that wrote it came from the
    # import of the change before (or is unknown for the first: the row keeps no import of its own).
    for index, (change, _filename) in enumerate(changes):
        earlier = changes[index + 1][1] if index + 1 < len(changes) else None
        versions.append(
            Version(
                change.previous_code,
                change.previous_minutes_late,
                change.previous_absence_reason,
                change.previous_evidence_ref,
                change.previous_recorded_by,
                change.previous_recorded_at,
                earlier,
            )
        )
    return versions


def correct_mark(user: User, mark: Mark, entry: Entry, why: str) -> ImportResult:
    """Change a mark, saying why; its previous version is kept (and shown with the reason)."""
    require_administers(user, mark.session.programme_id)
    _refuse_other_reasons(mark.session.programme, [entry])
    return import_marks(
        [_fields(entry, mark.session.session_ref)],
        source=f"{CORRECTION}{why}"[:255],
        imported_by=user.email,
        programme_ids=[mark.session.programme_id],
    )


def require_register_keeper(user: User) -> None:
    _require_role(user, Role.ADMINISTRATOR, Role.ADMINISTRATION_OFFICER)


def upload_register(user: User, data: bytes, filename: str) -> ImportResult:
    """A register file, as ``casework import-register`` takes it, limited to the programmes
    whose registers ``user`` keeps (any other session reads as unknown)."""
    require_register_keeper(user)
    within = None
    if not user.has_role(Role.ADMINISTRATOR):
        within = list(db.session.scalars(administered_programmes(user)))
    return import_register(data, filename=filename, imported_by=user.email, programme_ids=within)
