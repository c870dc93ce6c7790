"""Absence alerts: the outbox messages a register import's marks cause, written in its transaction.

Each policy's ``[[notices]]`` says which marks, on which occasion, to whom, by which channel and
when. Only fresh marks are alerted: those the import wrote (inserted or changed) for sessions on
the import's own day (UK time), so importing last month's registers texts nobody. Everything is
read in a few set-based queries (the written marks of the programmes whose policy has notices, then
their contacts, then the keys already queued), never a query per mark.

Recipients: ``learner`` is the learner; ``learner_adult`` the learner at or over
``contacts.parent_carer_under_age``; ``parent_carer`` their parents and carers below that age;
``employer`` an apprentice's employers; ``main_school`` a dual-registered pupil's main school.

A contact's preferences (``notify_by_sms``, ``notify_by_email``) choose the channel: neither set
(the default) means no preference, and the policy's channel is used; the policy's channel set, it
is used; only the other set, the message goes by the other (the contact asked for it). The policy
says the message is sent, so a preference never silences it. A recipient without an address for
the channel gets a NO_ADDRESS row saying what to add, and so does a learner under 18 with no parent
or carer (or an apprentice with no employer, a dual-registered pupil with no main school) on record.

A correction written before its message is sent cancels it (CANCELLED, with the reason) when the
corrected mark no longer calls for it; one still calling for it keeps it, with the new code. A
notice held until a clock time (004: parents report by 9:00) is due then: a parent's report
recorded before it (the mark corrected to an authorised code) cancels it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, literal, not_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from casework.extensions import db
from casework.models import (
    CodeSet,
    Contact,
    ContactKind,
    Enrolment,
    Learner,
    Mark,
    MarkCategory,
    MarkChange,
    MarkCode,
    OutboxMessage,
    Policy,
    Programme,
    Session,
)
from casework.models.messages import MessageChannel, MessageKind, MessageStatus
from casework.policies.rules import NoticeRule, PolicyRules, rules_for
from casework.sqlfuncs import minutes_between

LOCAL_ZONE = ZoneInfo("Europe/London")
_CHUNK = 500
_PENDING = (MessageStatus.QUEUED, MessageStatus.NO_ADDRESS)
_ABSENT = (MarkCategory.AUTHORISED.value, MarkCategory.UNAUTHORISED.value)
# Statutory U is an arrival after the register closed: counted as unauthorised, never alerted.
_ARRIVAL_CODE = (CodeSet.STATUTORY.value, "U")
_CONTACT_KIND = {
    "parent_carer": ContactKind.PARENT_CARER,
    "employer": ContactKind.EMPLOYER,
    "main_school": ContactKind.MAIN_SCHOOL,
}
_WHO = {"parent_carer": "parent or carer", "employer": "employer", "main_school": "main school"}


@dataclass(frozen=True)
class NoticeSummary:
    queued: int  # QUEUED rows written
    no_address: int  # NO_ADDRESS rows written
    cancelled: int  # pending rows cancelled by a correction


@dataclass(frozen=True)
class _Absence:
    mark_id: int
    code_id: int
    category: str
    previous: str | None  # the effective category of the learner's previous counted mark
    starts_at: datetime  # local (UK) wall-clock time
    what: str  # the session's title, or its programme's
    programme_id: int
    learner_id: int
    learner_ref: str
    first_name: str
    full_name: str
    email: str | None
    phone: str | None
    age: int
    apprentice: bool
    dual_registered: bool
    rules: PolicyRules


@dataclass(frozen=True)
class _Recipient:
    kind: str  # learner, parent_carer, employer, main_school
    name: str
    contact_id: int | None
    email: str | None
    phone: str | None
    sms: bool = False  # the contact's preferences
    by_email: bool = False


def queue_absence_notices(import_id: int, now: datetime) -> NoticeSummary:
    """Queue the alerts the marks written by import ``import_id`` call for, and cancel pending
    ones their corrections no longer do. Adds to the session; the import commits."""
    today = now.astimezone(LOCAL_ZONE).date()
    absences = list(_fresh_absences(import_id, today, _programme_rules()))
    learners = {a.learner_id for a in absences}
    contacts = _contacts(learners)
    wanted: dict[str, dict[str, Any]] = {}
    for absence in absences:
        for notice in absence.rules.notices:
            if _applies(notice, absence):
                for row in _messages(notice, absence, contacts[absence.learner_id], now):
                    wanted.setdefault(row["key"], row)
    cancelled = _settle_pending(import_id, wanted)
    existing = _existing_keys({a.mark_id for a in absences})
    rows = [row for key, row in wanted.items() if key not in existing]
    if rows:
        # A key another transaction wrote meanwhile (two imports of one register at once) is
        # skipped, as a key already stored is.
        dialect_insert = pg_insert if _dialect() == "postgresql" else sqlite_insert
        db.session.execute(
            dialect_insert(OutboxMessage).on_conflict_do_nothing(index_elements=["key"]), rows
        )
    no_address = sum(1 for r in rows if r["status"] is MessageStatus.NO_ADDRESS)
    return NoticeSummary(len(rows) - no_address, no_address, cancelled)


# --- reading -------------------------------------------------------------------------------------


def _programme_rules() -> dict[int, PolicyRules]:
    """The programmes whose policy has notices, with its rules (a handful of rows)."""
    found = {}
    for pid, sha256, document in db.session.execute(
        select(Programme.id, Policy.sha256, Policy.document).join(Policy)
    ):
        rules = rules_for(sha256, document)
        if rules.notices:
            found[pid] = rules
    return found


def _not_arrival():
    return and_(
        Mark.minutes_late.is_(None),
        not_(and_(MarkCode.code_set == _ARRIVAL_CODE[0], MarkCode.code == _ARRIVAL_CODE[1])),
    )


def _previous_category():
    """The effective category of the enrolment's counted mark before this one's session, as the
    figures count it (late past the register's close is unauthorised)."""
    mark, session, code = aliased(Mark), aliased(Session), aliased(MarkCode)
    past_close = and_(
        code.category == MarkCategory.LATE.value,
        mark.minutes_late > minutes_between(session.starts_at, session.register_closes_at),
    )
    return (
        select(case((past_close, literal(MarkCategory.UNAUTHORISED.value)), else_=code.category))
        .select_from(mark)
        .join(session, session.id == mark.session_id)
        .join(code, code.id == mark.code_id)
        .where(mark.enrolment_id == Mark.enrolment_id)
        # Always true (an enrolment is on one programme): it lets the database walk the
        # programme's sessions back in time by index and stop at the first marked one.
        .where(session.programme_id == Session.programme_id)
        .where(code.category != MarkCategory.NOT_COUNTED.value)
        .where(
            or_(
                session.starts_at < Session.starts_at,
                and_(session.starts_at == Session.starts_at, session.id < Session.id),
            )
        )
        .order_by(session.starts_at.desc(), session.id.desc())
        .limit(1)
        .correlate(Mark, Session)
        .scalar_subquery()
    )


def _fresh_absences(
    import_id: int, today: date, programmes: dict[int, PolicyRules]
) -> Iterator[_Absence]:
    if not programmes:
        return
    start = datetime.combine(today, time.min)
    # The day's sessions first (a handful, by their index): PostgreSQL would otherwise read every
    # mark of a bulk import to find those few sessions' marks by import.
    sessions = list(
        db.session.scalars(
            select(Session.id)
            .where(Session.programme_id.in_(list(programmes)))
            .where(Session.starts_at >= start, Session.starts_at < start + timedelta(days=1))
        )
    )
    if sessions and _dialect() == "postgresql":
        # The planner costs the previous-mark lookup (per row, by index) far above what it takes,
        # and JIT compiling it took 1-2 s where running it takes 0.1 s; for this transaction only.
        db.session.execute(text("SET LOCAL jit = off"))
    for batch in _chunks(sessions):
        yield from _absences_in(import_id, batch, programmes)


def _absences_in(
    import_id: int, session_ids: list[int], programmes: dict[int, PolicyRules]
) -> Iterator[_Absence]:
    # The import's marks of these sessions by their ids first: within the import's transaction
    # PostgreSQL's statistics have none of them yet, and planned the whole query below for one
    # row (a join that read every session once per mark: 6 s at 2.4 million marks). Looked up
    # by primary key in chunks, each chunk is planned for the rows it has.
    mark_ids = db.session.scalars(
        select(Mark.id).where(Mark.session_id.in_(session_ids), Mark.import_id == import_id)
    ).all()
    for chunk in _chunks(mark_ids):
        yield from _absences_of(chunk, programmes)


def _absences_of(mark_ids: list[int], programmes: dict[int, PolicyRules]) -> Iterator[_Absence]:
    query = (
        select(
            Mark.id,
            Mark.code_id,
            MarkCode.category,
            _previous_category(),
            Session.starts_at,
            Session.title,
            Programme.title,
            Session.programme_id,
            Learner.id,
            Learner.learner_ref,
            Learner.given_name,
            Learner.preferred_name,
            Learner.family_name,
            Learner.email,
            Learner.phone,
            Learner.date_of_birth,
            Enrolment.is_apprentice,
            Enrolment.is_dual_registered,
        )
        .join(Session, Session.id == Mark.session_id)
        .join(Programme, Programme.id == Session.programme_id)
        .join(MarkCode, MarkCode.id == Mark.code_id)
        .join(Enrolment, Enrolment.id == Mark.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .where(Mark.id.in_(mark_ids))
        .where(MarkCode.category.in_(_ABSENT))
        .where(_not_arrival())
        .order_by(Mark.id)
    )
    for row in db.session.execute(query):
        (mark_id, code_id, category, previous, starts_at, title, programme_title, pid) = row[:8]
        (lid, ref, given, preferred, family, email, phone, born, apprentice, dual) = row[8:]
        first = preferred or given
        yield _Absence(
            mark_id=mark_id,
            code_id=code_id,
            category=str(category),
            previous=None if previous is None else str(previous),
            starts_at=starts_at,
            what=title or programme_title,
            programme_id=pid,
            learner_id=lid,
            learner_ref=ref,
            first_name=first,
            full_name=f"{first} {family}",
            email=email,
            phone=phone,
            age=_age(born, starts_at.date()),
            apprentice=apprentice,
            dual_registered=dual,
            rules=programmes[pid],
        )


def _dialect() -> str:
    return db.session.connection().dialect.name


def _age(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(items)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _contacts(learner_ids: set[int]) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = defaultdict(list)
    for batch in _chunks(learner_ids):
        for contact in db.session.scalars(
            select(Contact).where(Contact.learner_id.in_(batch)).order_by(Contact.id)
        ):
            found[contact.learner_id].append(contact)
    return found


def _existing_keys(mark_ids: set[int]) -> set[str]:
    keys: set[str] = set()
    for batch in _chunks(mark_ids):
        keys.update(
            db.session.scalars(select(OutboxMessage.key).where(OutboxMessage.mark_id.in_(batch)))
        )
    return keys


# --- deciding ------------------------------------------------------------------------------------


def _applies(notice: NoticeRule, absence: _Absence) -> bool:
    if absence.category not in notice.categories:
        return False
    if notice.occasion == "every":
        return True
    continues = absence.previous in notice.categories
    return continues if notice.occasion == "later_in_period" else not continues


def _recipients(notice: NoticeRule, absence: _Absence, contacts: list[Contact]):
    """(recipient kind, recipients) per kind the notice names and the learner is reached by."""
    adult = absence.age >= absence.rules.contacts.parent_carer_under_age
    learner = _Recipient("learner", absence.full_name, None, absence.email, absence.phone)
    for kind in notice.to:
        if kind == "learner" or (kind == "learner_adult" and adult):
            yield "learner", [learner]
        elif (
            (kind == "parent_carer" and not adult)
            or (kind == "employer" and absence.apprentice)
            or (kind == "main_school" and absence.dual_registered)
        ):
            yield (
                kind,
                [
                    _Recipient(
                        kind, c.name, c.id, c.email, c.phone, c.notify_by_sms, c.notify_by_email
                    )
                    for c in contacts
                    if c.kind == _CONTACT_KIND[kind]
                ],
            )


def _channel(notice: NoticeRule, person: _Recipient) -> MessageChannel:
    """The policy's channel, unless the contact asked for the other one only."""
    chosen = MessageChannel(notice.channel)
    asked = {MessageChannel.SMS: person.sms, MessageChannel.EMAIL: person.by_email}
    if asked[chosen] or not any(asked.values()):
        return chosen
    return next(c for c, wanted in asked.items() if wanted)


def _due(notice: NoticeRule, absence: _Absence, now: datetime) -> datetime:
    if notice.hold_until is None:
        return now
    clock = time.fromisoformat(notice.hold_until)
    held = datetime.combine(absence.starts_at.date(), clock, tzinfo=LOCAL_ZONE).astimezone(UTC)
    return max(held, now)


def _messages(
    notice: NoticeRule, absence: _Absence, contacts: list[Contact], now: datetime
) -> Iterator[dict[str, Any]]:
    due = _due(notice, absence, now)
    base = {
        "kind": MessageKind.ABSENCE,
        "programme_id": absence.programme_id,
        "learner_id": absence.learner_id,
        "mark_id": absence.mark_id,
        "mark_code_id": absence.code_id,
        "due_at": due,
        "next_attempt_at": due,
        "created_at": now,
        "attempts": 0,
    }
    for kind, people in _recipients(notice, absence, contacts):
        if not people:
            channel = MessageChannel(notice.channel)
            yield base | {
                "key": f"absence:mark:{absence.mark_id}:{channel}:{kind}:none",
                "channel": channel,
                "recipient_kind": kind,
                "recipient_name": f"{absence.full_name}'s {_WHO[kind]}",
                "contact_id": None,
                "address": None,
                "status": MessageStatus.NO_ADDRESS,
                "reason": (
                    f"{absence.full_name} ({absence.learner_ref}) has no {_WHO[kind]} on record:"
                    f" add one, with a mobile number or email address, to send absence alerts."
                ),
                **_text(channel, kind, absence),
            }
            continue
        for person in people:
            channel = _channel(notice, person)
            raw = person.phone if channel is MessageChannel.SMS else person.email
            address = (raw or "").strip() or None
            who = "learner" if person.contact_id is None else f"contact:{person.contact_id}"
            yield base | {
                "key": f"absence:mark:{absence.mark_id}:{channel}:{who}",
                "channel": channel,
                "recipient_kind": kind,
                "recipient_name": person.name,
                "contact_id": person.contact_id,
                "address": address,
                "status": MessageStatus.QUEUED if address else MessageStatus.NO_ADDRESS,
                "reason": None if address else _missing(channel, person, absence),
                **_text(channel, kind, absence),
            }


def _missing(channel: MessageChannel, person: _Recipient, absence: _Absence) -> str:
    what = "mobile number" if channel is MessageChannel.SMS else "email address"
    whose = (
        f"{absence.full_name} ({absence.learner_ref})"
        if person.kind == "learner"
        else f"{person.name}, {_WHO[person.kind]} of {absence.full_name} ({absence.learner_ref})"
    )
    return f"No {what} for {whose}: add one to send absence alerts by {channel.value}."


def _text(channel: MessageChannel, kind: str, absence: _Absence) -> dict[str, str]:
    """A short, plain message: who, which session, when; nothing more sensitive than that."""
    rules = absence.rules
    letters = rules.letters
    when = f"{absence.starts_at:%a} {absence.starts_at.day} {absence.starts_at:%b} at " + (
        f"{absence.starts_at:%H:%M}"
    )
    subject = f"{absence.first_name}, you" if kind == "learner" else absence.first_name
    reach = letters.contact_phone or letters.phone or letters.contact_email or letters.email
    please = f"Please contact us{f' on {reach}' if reach else ''} if you know why."
    if channel is MessageChannel.SMS:
        body = f"{rules.provider}: {subject} missed {absence.what} on {when}. {please}"
    else:
        body = f"{subject} missed {absence.what} on {when}.\n\n{please}\n\n{rules.provider}"
    return {
        "subject": f"Absence: {absence.first_name}, {absence.what}, {when}"[:200],
        "body": body,
    }


# --- corrections ---------------------------------------------------------------------------------


def _settle_pending(import_id: int, wanted: dict[str, dict[str, Any]]) -> int:
    """Cancel the pending alerts of this import's changed marks that no longer apply; those that
    do follow the mark's new code (the sender checks it before sending)."""
    pending = db.session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.key,
            OutboxMessage.due_at,
            Mark.code_id,
            Mark.recorded_at,
            MarkCode.code,
            MarkCode.meaning,
        )
        .select_from(MarkChange)
        # Only a changed mark can have messages already: start from this import's changes.
        .join(Mark, Mark.id == MarkChange.mark_id)
        .join(OutboxMessage, OutboxMessage.mark_id == Mark.id)
        .join(MarkCode, MarkCode.id == Mark.code_id)
        .where(MarkChange.import_id == import_id)
        .where(OutboxMessage.kind == MessageKind.ABSENCE)
        .where(OutboxMessage.status.in_(_PENDING))
        .where(OutboxMessage.mark_code_id != Mark.code_id)
    ).all()
    cancelled = 0
    for message_id, key, due_at, code_id, recorded_at, code, meaning in pending:
        changes: dict[str, Any] = {"mark_code_id": code_id}
        if key not in wanted:
            cancelled += 1
            at = _local(recorded_at)
            reason = f"The mark was corrected to {code} ({meaning}) at {at:%H:%M} on {at:%d/%m/%Y}"
            if recorded_at < _utc(due_at):
                reason += f", before this was due at {_local(due_at):%H:%M}"
            changes |= {"status": MessageStatus.CANCELLED, "reason": reason + "."}
        db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(**changes)
        )
    return cancelled


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(moment: datetime) -> datetime:
    return _utc(moment).astimezone(LOCAL_ZONE)


__all__ = ["NoticeSummary", "queue_absence_notices"]
