"""Planned sessions of a programme, as the MIS names them (``session_ref``, the register files'
session_id). Times are UK wall-clock times, as Session keeps them.

Read by whoever may see the programme (casework.records.programmes.visible_programmes); written
by administrators and the programme's administration officers.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import selectinload

from casework.errors import NotFound
from casework.extensions import db
from casework.models import Mark, Programme, Session, User, academic_year_of
from casework.policies.rules import rules_of
from casework.records.common import (
    FieldErrors,
    apply,
    commit,
    require_administers,
)
from casework.records.programmes import programme_to_administer, visible_programmes
from casework.registers.tallies import refresh_tallies_of_sessions

CHANGEABLE = (
    "session_ref",
    "title",
    "kind",
    "delivery_mode",
    "starts_at",
    "ends_at",
    "register_closes_at",
)


def visible_sessions(user: User) -> Select[tuple[Session]]:
    programmes = visible_programmes(user).with_only_columns(Programme.id)
    return select(Session).where(Session.programme_id.in_(programmes))


def list_sessions(
    user: User,
    *,
    programme_id: int | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
) -> Select[tuple[Session]]:
    """Sessions ``user`` may see, by start; ``from_date`` and ``to_date`` are inclusive days."""
    query = (
        visible_sessions(user)
        .options(selectinload(Session.programme))
        .order_by(Session.starts_at, Session.id)
    )
    if programme_id is not None:
        query = query.where(Session.programme_id == programme_id)
    if from_date is not None:
        query = query.where(Session.starts_at >= datetime.combine(from_date, time.min))
    if to_date is not None:
        next_day = datetime.combine(to_date + timedelta(days=1), time.min)
        query = query.where(Session.starts_at < next_day)
    return query


def session_for(user: User, session_id: int) -> Session:
    session = db.session.scalars(
        visible_sessions(user).where(Session.id == session_id)
    ).one_or_none()
    if session is None:
        raise NotFound(f"There is no session {session_id}.")
    return session


def _ref_taken(session_ref: str, session_id: int | None = None) -> str | None:
    query = select(Session.id).where(Session.session_ref == session_ref)
    if session_id is not None:
        query = query.where(Session.id != session_id)
    if db.session.scalar(query) is not None:
        return f"There is already a session {session_ref}."
    return None


def _default_close(programme: Programme, starts_at: datetime, ends_at: datetime) -> datetime:
    """When the policy says the register closes (minutes after the start), else at the end."""
    minutes = rules_of(programme.policy).registers.closes_after_minutes
    if minutes is None:
        return ends_at
    return min(starts_at + timedelta(minutes=minutes), ends_at)


def _check_times(errors: FieldErrors, starts: datetime, ends: datetime, closes: datetime) -> None:
    if ends <= starts:
        errors.add("ends_at", "Must be after the start.")
    elif not starts <= closes <= ends:
        # Arriving after the close is an unauthorised absence (Session.register_closes_at).
        errors.add("register_closes_at", "Must be between the start and the end.")


def create_session(actor: User, values: dict[str, Any]) -> Session:
    """A new session. Without ``register_closes_at`` the register closes the policy's minutes
    after the start (registers.closes_after_minutes), or at the end where it names none."""
    programme = programme_to_administer(actor, values["programme_id"])
    errors = FieldErrors()
    if taken := _ref_taken(values["session_ref"]):
        errors.add("session_ref", taken)
    starts, ends = values["starts_at"], values["ends_at"]
    closes = values.get("register_closes_at") or _default_close(programme, starts, ends)
    _check_times(errors, starts, ends, closes)
    errors.raise_any()
    session = Session(programme=programme, register_closes_at=closes)
    apply(session, values, [name for name in CHANGEABLE if name != "register_closes_at"])
    db.session.add(session)
    commit("session_ref", f"There is already a session {values['session_ref']}.")
    return session


def update_session(actor: User, session_id: int, changes: dict[str, Any]) -> Session:
    """Change a session (not its programme). One with marks keeps its academic year: its marks
    belong to enrolments of that year."""
    session = session_for(actor, session_id)
    require_administers(actor, session.programme_id)
    errors = FieldErrors()
    ref = changes.get("session_ref")
    if ref is not None and (taken := _ref_taken(ref, session.id)):
        errors.add("session_ref", taken)
    starts = changes.get("starts_at", session.starts_at)
    ends = changes.get("ends_at", session.ends_at)
    closes = changes.get("register_closes_at", session.register_closes_at)
    _check_times(errors, starts, ends, closes)
    if academic_year_of(starts.date()) != academic_year_of(session.starts_at.date()):
        marked = db.session.scalar(select(exists().where(Mark.session_id == session.id)))
        if marked:
            errors.add("starts_at", "The session has marks: it must stay in its academic year.")
    errors.raise_any()
    moved = (starts, closes) != (session.starts_at, session.register_closes_at)
    apply(session, changes, CHANGEABLE)
    if moved:  # its marks count (and order) by these times
        db.session.flush()
        refresh_tallies_of_sessions([session.id])
    commit("session_ref", f"There is already a session {session.session_ref}.")
    return session
