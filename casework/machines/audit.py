"""The audit trail: an append-only chain of events per case, each hashed over its canonical
content and the previous event's hash, so an edited, removed or reordered event shows; each event,
chain head and stored letter sealed by a key kept outside the database (casework.machines.seal),
so a chain recomputed by someone without the key shows too."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import aliased
from statemachine import State

from casework.errors import IntegrityFailed
from casework.extensions import db
from casework.machines.seal import (
    LETTER_SEALED,
    AuditKeyMissing,
    audit_key,
    canonical,
    head_seal,
    learners_of,
    seal_of_event,
    seal_of_letter,
)
from casework.machines.workflow import Stage
from casework.models import Case, CaseEvent, Enrolment, Letter, LetterJob, LetterStatus, User
from casework.models.types import utcnow
from casework.scope import Actor

if TYPE_CHECKING:
    from casework.machines.case import Step


def event_hash(
    *,
    case_id: int,
    seq: int,
    name: str,
    from_state: str | None,
    to_state: str | None,
    actor_id: int | None,
    actor_label: str,
    occurred_at: datetime,
    note: str,
    data: dict[str, Any],
    prev_hash: str | None,
) -> str:
    content = {
        "case_id": case_id,
        "seq": seq,
        "name": name,
        "from": from_state,
        "to": to_state,
        "actor_id": actor_id,
        "actor": actor_label,
        # Microseconds dropped: not every database keeps them.
        "at": occurred_at.replace(microsecond=0).isoformat(),
        "note": note,
        "data": data,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical(content)).hexdigest()


def actor_label(actor: Actor) -> str:
    return f"{actor.name} <{actor.email}>" if isinstance(actor, User) else "scan"


def append_event(
    case: Case,
    name: str,
    *,
    actor: Actor,
    from_state: str | None,
    to_state: str | None,
    note: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    flush: bool = True,
) -> CaseEvent:
    """Add the case's next audit event and move its chain head (the caller commits)."""
    data = data or {}
    occurred_at = (at or utcnow()).replace(microsecond=0)
    seq = case.event_count + 1
    event = CaseEvent(
        case_id=case.id,
        seq=seq,
        name=name,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor.id if isinstance(actor, User) else None,
        actor_label=actor_label(actor),
        occurred_at=occurred_at,
        note=note,
        data=data,
        prev_hash=case.audit_head,
    )
    # The same function verify_chains() checks with, so writing and checking cannot drift.
    event.hash = _row_hash(event)
    db.session.add(event)
    case.event_count = seq
    case.audit_head = event.hash
    case.audit_seal = head_seal(
        audit_key(),
        case_id=case.id,
        enrolment_id=case.enrolment_id,
        event_count=seq,
        audit_head=event.hash,
    )
    # The event's own seal needs its id: it is filled in by the flush (seal._seal_new_rows).
    if flush:
        db.session.flush()
    return event


class AuditTrail:
    """The class-level listener of every case machine: one chained audit event for each
    transition and each change, written before the effects so they can refer to it."""

    def before_transition(self, step: Step, source: State, target: State, event: Any) -> None:
        case = step.case
        if case.id is None:  # a case being opened: its row first, the chain hashes its id
            db.session.add(case)
            db.session.flush()
        step.audit = append_event(
            case,
            str(event.id),
            actor=step.actor,
            from_state=None if source.value == Stage.NEW else source.value,
            to_state=target.value,
            note=step.note,
            data=step.data,
            at=step.now,
            flush=step.flush,
        )

    def record_change(self, step: Step) -> None:
        step.audit = append_event(
            step.case,
            step.name,
            actor=step.actor,
            from_state=step.case.state,
            to_state=step.case.state,
            note=step.note,
            data=step.data,
            at=step.now,
            flush=step.flush,
        )


@dataclass(frozen=True)
class ChainProblem:
    case_id: int
    event_id: int | None
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event {self.event_id} (number {self.seq})" if self.event_id else "its end"
        return f"case {self.case_id}: {where}: {self.problem}"


@dataclass(frozen=True)
class LetterProblem:
    letter_id: int | None  # None: a job's letter that is missing
    reference: str
    problem: str
    job_id: int | None = None

    def __str__(self) -> str:
        if self.letter_id is None:
            return f"letter job {self.job_id}: {self.problem}"
        return f"letter {self.letter_id} ({self.reference}): {self.problem}"


def _row_hash(row: CaseEvent) -> str:
    return event_hash(
        case_id=row.case_id,
        seq=row.seq,
        name=row.name,
        from_state=row.from_state,
        to_state=row.to_state,
        actor_id=row.actor_id,
        actor_label=row.actor_label,
        occurred_at=row.occurred_at,
        note=row.note,
        data=row.data,
        prev_hash=row.prev_hash,
    )


def _checking_key() -> Callable[[], bytes]:
    """The key, read when the first seal is checked (an empty database needs none); raises
    ``AuditKeyMissing`` rather than make a new one."""
    cache: list[bytes] = []

    def key() -> bytes:
        if not cache:
            cache.append(audit_key(create=False))
        return cache[0]

    return key


def _sealed(seal: str | None, expected: Callable[[], str]) -> bool:
    return seal is not None and hmac.compare_digest(seal, expected())


def _event_problem(
    row: CaseEvent, expected_seq: int, prev: str | None, key: Callable[[], bytes]
) -> str | None:
    """What is wrong with the chain's next event, if anything."""
    if row.seq != expected_seq:
        return f"expected event number {expected_seq}: one was removed or reordered"
    if row.prev_hash != prev:
        return "it does not follow the event before it (removed or reordered)"
    if _row_hash(row) != row.hash:
        return "its content was altered"
    if row.seal is None:
        return "it has no seal: casework did not write it"
    if not _sealed(row.seal, lambda: seal_of_event(key(), row)):
        return (
            "its seal does not match: it was forged (its hashes recomputed without the key) "
            "or moved to another id or case"
        )
    return None


def verify_chains(batch: int = 2000) -> Iterator[ChainProblem]:
    """Walk every case's chain in order; yield the first broken event of each broken chain, and
    each chain whose end is not where the case's sealed head says. Raises ``AuditKeyMissing``
    when there are seals to check and no key."""
    key = _checking_key()
    heads: dict[int, tuple[str | None, int, str | None, str | None, int]] = {}
    for case_id, head, count, state, seal, enrolment in db.session.execute(
        select(
            Case.id,
            Case.audit_head,
            Case.event_count,
            Case.state,
            Case.audit_seal,
            Case.enrolment_id,
        )
    ):
        heads[case_id] = (head, count, state, seal, enrolment)
    query = (
        select(CaseEvent)
        .order_by(CaseEvent.case_id, CaseEvent.seq, CaseEvent.id)
        .execution_options(yield_per=batch)
    )
    current: int | None = None
    prev: str | None = None
    last: CaseEvent | None = None
    expected_seq = 1
    broken = False
    seen: set[int] = set()

    def finish(case_id: int) -> ChainProblem | None:
        if broken:
            return None
        head, count, state, seal, enrolment = heads.get(case_id, (None, 0, None, None, 0))
        if prev != head or expected_seq - 1 != count:
            return ChainProblem(
                case_id,
                None,
                None,
                "the chain does not end where the case says: an event "
                "after the last one shown was removed, or the last one was altered",
            )
        last_stage = last.to_state if last else None
        if last_stage != state:
            return ChainProblem(
                case_id,
                None,
                None,
                f"the case's stage '{state}' is not where its events leave it "
                f"('{last_stage}'): the stage was changed outside casework",
            )
        if not _sealed(
            seal,
            lambda: head_seal(
                key(), case_id=case_id, enrolment_id=enrolment, event_count=count, audit_head=head
            ),
        ):
            after = f"event {last.id} (number {last.seq})" if last else "no event"
            return ChainProblem(
                case_id,
                None,
                None,
                f"the seal of where the chain ends ({after}) does not match: events after it "
                "were removed and the case's head rewound, or the case was moved to another "
                "learner's enrolment, outside casework",
            )
        return None

    # Closed however the walk ends (a missing key, a caller that stops early): on PostgreSQL
    # yield_per holds a server-side cursor.
    with db.session.scalars(query) as rows:
        for row in rows:
            if row.case_id != current:
                if current is not None and (p := finish(current)):
                    yield p
                current, prev, last, expected_seq, broken = row.case_id, None, None, 1, False
                seen.add(row.case_id)
            if broken:
                continue
            problem = _event_problem(row, expected_seq, prev, key)
            if problem:
                broken = True
                yield ChainProblem(row.case_id, row.id, row.seq, problem)
            prev, expected_seq, last = row.hash, expected_seq + 1, row
    if current is not None and (p := finish(current)):
        yield p
    # Opening a case writes its first event in the same transaction: a case without any was
    # emptied outside casework, whatever its head now says.
    for case_id in heads.keys() - seen:
        yield ChainProblem(case_id, None, None, "every event is missing")


def _letter_fault(letter: Any, learner_id: int | None, key: Callable[[], bytes]) -> str | None:
    """What is wrong with a stored letter's bytes or seal, if anything."""
    pdf = letter.pdf or b""
    if hashlib.sha256(pdf).hexdigest() != letter.sha256 or len(pdf) != letter.size:
        return "its PDF is not the one stored: the bytes do not match its SHA-256"
    if letter.seal is None:
        return "it has no seal: casework did not store it"
    if not _sealed(letter.seal, lambda: seal_of_letter(key(), letter, learner_id)):
        return (
            "its seal does not match: its PDF and SHA-256 were replaced, or it was moved to "
            "another id, job, event, case or learner"
        )
    return None


def verify_letters(batch: int = 200) -> Iterator[LetterProblem]:
    """Check every stored letter: its bytes against its SHA-256, that it belongs to the event
    its job was for, and its seal. Raises ``AuditKeyMissing`` as ``verify_chains`` does."""
    key = _checking_key()
    event = aliased(CaseEvent)
    query = (
        select(
            *(getattr(Letter, name) for name in LETTER_SEALED),
            Letter.rendered_at,
            Letter.seal,
            Letter.pdf,
            LetterJob.event_id.label("job_event"),
            LetterJob.case_id.label("job_case"),
            event.case_id.label("event_case"),
            Enrolment.learner_id,
        )
        .outerjoin(LetterJob, LetterJob.id == Letter.job_id)
        .outerjoin(event, event.id == Letter.event_id)
        .outerjoin(Case, Case.id == Letter.case_id)
        .outerjoin(Enrolment, Enrolment.id == Case.enrolment_id)
        .order_by(Letter.id)
        .execution_options(yield_per=batch)
    )
    # Rows, not entities: no PDF stays in the session. Closed however the walk ends.
    with db.session.execute(query) as rows:
        for row in rows:
            if row.job_event is None:
                fault: str | None = f"its letter job {row.job_id} is missing"
            elif (row.job_event, row.job_case) != (row.event_id, row.case_id):
                fault = (
                    f"it claims event {row.event_id} of case {row.case_id}, but its job "
                    f"{row.job_id} was for event {row.job_event} of case {row.job_case}"
                )
            elif row.event_case != row.case_id:
                fault = f"its event {row.event_id} is not an event of its case {row.case_id}"
            else:
                fault = _letter_fault(row, row.learner_id, key)
            if fault:
                yield LetterProblem(row.id, row.reference, fault)
    missing = select(LetterJob.id).where(
        LetterJob.status == LetterStatus.RENDERED,
        ~select(Letter.id).where(Letter.job_id == LetterJob.id).exists(),
    )
    for job_id in db.session.scalars(missing.order_by(LetterJob.id)):
        yield LetterProblem(None, "", "it was rendered, but its letter is missing", job_id)


def check_letter(letter: Letter) -> None:
    """Before a download: raise ``IntegrityFailed`` (and log why) unless ``letter``'s bytes
    match its SHA-256 and its seal, so forged bytes are never served."""
    try:
        learner = learners_of(db.session.connection(), {letter.case_id}).get(letter.case_id)
        fault = _letter_fault(letter, learner, _checking_key())
    except AuditKeyMissing as exc:
        fault = str(exc)
    if fault:
        current_app.logger.error(
            "letter %s (%s) failed its integrity check and was not served: %s",
            letter.id,
            letter.reference,
            fault,
        )
        raise IntegrityFailed(
            f"Letter {letter.reference} failed its integrity check, so casework will not show "
            "it. Tell your administrator.",
            letter_id=letter.id,
        )
