"""The audit trail: an append-only chain of events per case, each hashed over its canonical
content and the previous event's hash, so an edited, removed or reordered event shows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from statemachine import State

from casework.extensions import db
from casework.machines.workflow import Stage
from casework.models import Case, CaseEvent, User
from casework.models.types import utcnow
from casework.scope import Actor

if TYPE_CHECKING:
    from casework.machines.case import Step


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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


def verify_chains(batch: int = 2000) -> Iterator[ChainProblem]:
    """Walk every case's chain in order; yield the first broken event of each broken chain."""
    heads: dict[int, str | None] = {}
    counts: dict[int, int] = {}
    states: dict[int, str | None] = {}
    for case_id, head, count, state in db.session.execute(
        select(Case.id, Case.audit_head, Case.event_count, Case.state)
    ):
        heads[case_id], counts[case_id], states[case_id] = head, count, state
    query = (
        select(CaseEvent)
        .order_by(CaseEvent.case_id, CaseEvent.seq, CaseEvent.id)
        .execution_options(yield_per=batch)
    )
    current: int | None = None
    prev: str | None = None
    last_stage: str | None = None
    expected_seq = 1
    broken = False
    seen: set[int] = set()

    def finish(case_id: int) -> ChainProblem | None:
        if broken:
            return None
        if prev != heads.get(case_id) or expected_seq - 1 != counts.get(case_id):
            return ChainProblem(
                case_id,
                None,
                None,
                "the chain does not end where the case says: an event "
                "after the last one shown was removed, or the last one was altered",
            )
        if last_stage != states.get(case_id):
            return ChainProblem(
                case_id,
                None,
                None,
                f"the case's stage '{states.get(case_id)}' is not where its events leave it "
                f"('{last_stage}'): the stage was changed outside casework",
            )
        return None

    for row in db.session.scalars(query):
        if row.case_id != current:
            if current is not None and (p := finish(current)):
                yield p
            current, prev, expected_seq, broken = row.case_id, None, 1, False
            seen.add(row.case_id)
        if broken:
            continue
        problem = None
        if row.seq != expected_seq:
            problem = f"expected event number {expected_seq}: one was removed or reordered"
        elif row.prev_hash != prev:
            problem = "it does not follow the event before it (removed or reordered)"
        elif _row_hash(row) != row.hash:
            problem = "its content was altered"
        if problem:
            broken = True
            yield ChainProblem(row.case_id, row.id, row.seq, problem)
        prev, expected_seq, last_stage = row.hash, expected_seq + 1, row.to_state
    if current is not None and (p := finish(current)):
        yield p
    for case_id, head in heads.items():
        if case_id not in seen and head is not None:
            yield ChainProblem(case_id, None, None, "every event is missing")
