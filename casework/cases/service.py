"""The one way to change a case: an actor (a member of staff or the nightly scan) sends an event
or a change with a note and its data.

The service's job is narrow: load the case within the actor's scope and lock it, check the version
the actor saw, send the event to the policy's machine (which alone judges it, moves the stage and
writes its effects and audit event; see ``casework.machines.case``), record the letter jobs it
calls for, and commit once. Any error rolls everything back and surfaces as a ``CaseError`` with a
stable kind. Rendering letters is the caller's business, after the commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from statemachine.exceptions import TransitionNotAllowed

from casework import scope
from casework.cases.letters import record_letter_jobs
from casework.errors import CaseError, Forbidden, InvalidData, NotAllowed, NotFound, Stale
from casework.extensions import db
from casework.machines.case import CaseMachine, Step, machine_class, refusal
from casework.machines.effects import current_plan
from casework.machines.events import Change
from casework.machines.workflow import Event, Stage
from casework.models import Case, CaseEvent, Enrolment, Letter, LetterJob, User
from casework.models.types import utcnow
from casework.policies.rules import rules_of
from casework.registers.figures import AttendanceFigures, figures_for
from casework.registers.thresholds import Judgement, judge, window_start
from casework.scope import SCAN, Actor, ScanActor


@dataclass
class ActionResult:
    case: Case
    event: CaseEvent
    letters: list[LetterJob]

    @property
    def stage(self) -> str:
        return self.case.state or ""


@dataclass
class Request:
    """One step the nightly scan takes in a batch: open a case on an enrolment (``case`` not
    yet flushed) or record an occurrence on an open case, with the figures it already has."""

    case: Case
    event: str
    note: str
    data: dict[str, Any]
    judgement: Judgement
    figures: AttendanceFigures


class Binding:
    """The machine's model: the case it acts on, whose ``state`` column holds the stage.

    A machine is built for one action and never shared between actions. Within one batch of the
    scan's, one machine per policy serves every case of that policy, one after the other, by
    pointing its binding at the next case: python-statemachine resolves every callback name for
    each new machine, which would otherwise cost more than the step itself."""

    __slots__ = ("case",)

    def __init__(self, case: Case) -> None:
        self.case = case

    @property
    def state(self) -> str | None:
        return self.case.state

    @state.setter
    def state(self, value: str | None) -> None:
        self.case.state = value


def machine_for(case: Case) -> CaseMachine:
    """A fresh machine bound to ``case``."""
    policy = case.policy
    cls = machine_class(policy.key, policy.sha256, rules_of(policy).workflow)
    return cls(model=Binding(case), state_field="state")


_asking = threading.local()


def machine_to_ask(case: Case) -> CaseMachine:
    """A machine to ask about ``case`` (the events its stage allows, what a guard says), never
    to send it an event: kept per thread for each policy version and pointed at the case asked
    about, as the scan's batch does (building one costs more than a page's every question)."""
    machines: dict[tuple[str, str], CaseMachine] = _asking.__dict__.setdefault("machines", {})
    key = (case.policy.key, case.policy.sha256)
    machine = machines.get(key)
    if machine is None:
        machine = machines[key] = machine_for(case)
    machine.model.case = case
    return machine


def stage_name(case: Case, stage: str | None) -> str:
    return rules_of(case.policy).workflow.stage_name(stage)


def act(
    *,
    actor: Actor,
    event: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    case_id: int | None = None,
    enrolment_id: int | None = None,
    expected_version: int | None = None,
    today: date | None = None,
    commit: bool = True,
) -> ActionResult:
    """Send ``event`` (or a change) to case ``case_id`` (or open a case on ``enrolment_id``).

    Staff must give a note and, on an existing case, the version of the case they saw.
    """
    if not isinstance(actor, User | ScanActor):
        raise TypeError(f"actor must be a User or SCAN, not {actor!r}")
    today = today or date.today()
    with _transaction(commit):
        if event == Event.OPEN:
            if enrolment_id is None:
                raise InvalidData("Say which enrolment.", errors={"enrolment_id": ["Required."]})
            case = _new_case(actor, enrolment_id, today)
        else:
            if case_id is None:
                raise InvalidData("Say which case.", errors={"case_id": ["Required."]})
            case = _load_case(actor, case_id, expected_version)
        result = _send(_step(case, actor, event, note, data or {}, today))
    return result


@contextmanager
def _transaction(commit: bool = True) -> Iterator[None]:
    """One action's transaction: committed at the end, rolled back on any error (a version
    that moved meanwhile surfaces as ``Stale``). ``commit=False``: the caller owns the
    transaction (a savepoint, a batch) and neither happens here."""
    try:
        yield
        if commit:
            db.session.commit()
    except StaleDataError as exc:
        if commit:
            db.session.rollback()
        raise Stale(
            "Someone else changed this case while you were acting on it; reload it and try again.",
            current_version=-1,
        ) from exc
    except BaseException:
        if commit:
            db.session.rollback()
        raise


def decide_letter(
    *,
    actor: User,
    letter_id: int,
    approve: bool,
    note: str = "",
    expected_version: int | None = None,
    today: date | None = None,
) -> ActionResult:
    """The head of programme approves a stored letter that waits for it (it goes out and the
    learner sees it), or returns it with a note saying what is wrong (it never goes out): an
    audited change of the letter's case. ``expected_version``: the case as the head saw it,
    where they saw it (the letter's own state is checked under the case's lock either way).
    Approving needs no note of the head's: the audit says what was approved."""
    change = Change.APPROVE_LETTER if approve else Change.RETURN_LETTER
    with _transaction():
        letter = db.session.scalars(
            scope.visible_letters(actor).where(Letter.id == letter_id)
        ).one_or_none()
        if letter is None:
            raise NotFound(f"There is no letter {letter_id}.")
        case = _load_case(actor, letter.case_id, expected_version, required=False)
        if approve and not (isinstance(note, str) and note.strip()):
            note = f"Approved letter {letter.reference}."
        data = {"letter_id": letter_id}
        result = _send(_step(case, actor, change.value, note, data, today or date.today()))
    return result


def act_batch(requests: Iterable[Request], today: date) -> list[ActionResult]:
    """The nightly scan's steps, through the same machine as every other action, in one
    transaction the caller commits. Cases being opened are inserted together first, and the
    rows each step writes go out in a few batched statements instead of several per case."""
    requests = list(requests)
    new = [r.case for r in requests if r.case.id is None]
    if new:
        db.session.add_all(new)
        db.session.flush()  # one multi-row INSERT gives every new case its id
    results = []
    machines: dict[int, CaseMachine] = {}  # one per policy for the batch (see Binding)
    # What the open event's guard asks of each case, in one query for the batch.
    opening = {r.case.enrolment_id: r.case.id for r in requests if r.event == Event.OPEN}
    open_cases = (
        {
            enrolment_id: case_id
            for enrolment_id, case_id in db.session.execute(
                select(Case.enrolment_id, Case.id).where(
                    Case.enrolment_id.in_(list(opening)), Case.ended_at.is_(None)
                )
            )
            if case_id != opening[enrolment_id]
        }
        if opening
        else {}
    )
    # No flush per case: the rows each step adds go out together below. The new cases are in
    # the database already, so the guards' queries see them.
    with db.session.no_autoflush:
        for request in requests:
            case = request.case
            machine = machines.get(case.policy_id)
            if machine is None:
                machine = machines[case.policy_id] = machine_for(case)
            machine.model.case = case
            step = _step(case, SCAN, request.event, request.note, request.data, today)
            step.judgement, step.figures = request.judgement, request.figures
            step.open_cases = open_cases
            step.flush = False
            results.append(_send(step, machine))
    db.session.flush()
    return results


def preview(
    *,
    actor: Actor,
    event: str,
    case_id: int,
    note: str,
    data: dict[str, Any],
    expected_version: int,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """The snapshots of the letters ``event`` would send, without issuing anything: the event
    runs exactly as it would for real (so a refusal is the same refusal) inside a savepoint that
    is then rolled back."""
    savepoint = db.session.begin_nested()
    try:
        result = act(
            actor=actor,
            event=event,
            case_id=case_id,
            note=note,
            data=data,
            expected_version=expected_version,
            today=today,
            commit=False,
        )
        return [dict(job.snapshot or {}) for job in result.letters]
    finally:
        if savepoint.is_active:
            savepoint.rollback()


def allowed_events(
    actor: Actor, case: Case, roles: frozenset[str] | None = None
) -> list[tuple[str, str]]:
    """(event, the provider's label) of every event ``actor`` may send ``case`` now: its stage
    allows it and the policy gives the actor's part in the case (``roles``, when the caller has
    it already) that step (guards that depend on the event's data are checked when it is sent)."""
    if not case.is_open:
        return []
    machine = machine_to_ask(case)
    step = _step(case, actor, "", "", {}, date.today(), roles)  # what the conditions look at
    workflow = rules_of(case.policy).workflow
    return [(e.id, workflow.events[Event(e.id)].label) for e in machine.enabled_events(step=step)]


def _step(
    case: Case,
    actor: Actor,
    event: str,
    note: str,
    data: Any,
    today: date,
    roles: frozenset[str] | None = None,
) -> Step:
    step = Step(case, actor, event, note if isinstance(note, str) else "", data, today, utcnow())
    step.roles = scope.case_roles(actor, case.enrolment) if roles is None else roles
    return step


_CHANGES = frozenset(Change)


def _send(step: Step, machine: CaseMachine | None = None) -> ActionResult:
    """Let the policy's machine judge and make the step; the caller commits."""
    case = step.case
    machine = machine or machine_for(case)  # a case being opened starts in the "new" stage
    if step.name in _CHANGES:
        machine.change(step)
        return ActionResult(case, step.audit, [])
    spec = rules_of(case.policy).workflow.event(step.name)
    enabled = [e.id for e in machine.enabled_events(step=step)]  # the machine's own answer
    if spec is None:
        raise NotAllowed(
            f"'{step.name}' is not a step of {case.policy.provider}'s process.", allowed=enabled
        )
    if step.name not in {e.id for e in machine.allowed_events}:
        here = stage_name(case, case.state)
        raise NotAllowed(
            f"'{spec.label}' is not possible while the case is at '{here}'.", allowed=enabled
        )
    if step.name not in enabled:
        raise refusal(spec)  # the stage allows it; the actor's part in the case does not
    if spec.event in (Event.OPEN, Event.CLOSE) and step.judgement is None:
        step.figures, step.judgement = _attendance(case, step.today)
    try:
        machine.send(step.name, step=step)
    except TransitionNotAllowed:  # not expected after the checks above: the same refusal
        raise refusal(spec) from None
    # After the effects, in the same transaction: the letters the step calls for, each with the
    # snapshot of what it will say.
    step.letters = record_letter_jobs(case, step.audit, spec, step.today, figures=step.figures)
    if step.flush:
        db.session.flush()
    return ActionResult(case, step.audit, step.letters)


def _attendance(case: Case, today: date) -> tuple[AttendanceFigures, Judgement]:
    rules = rules_of(case.policy)
    figures = figures_for(case.enrolment.id, today, since=window_start(rules, today))
    return figures, judge(rules, figures)


def _new_case(actor: Actor, enrolment_id: int, today: date) -> Case:
    if isinstance(actor, ScanActor):
        enrolment = db.session.get(Enrolment, enrolment_id)
        if enrolment is None:
            raise NotFound(f"There is no enrolment {enrolment_id}.")
    else:
        enrolment = scope.enrolment_for(actor, enrolment_id)
    return new_case(enrolment, today)


def new_case(enrolment: Enrolment, today: date) -> Case:
    """A case about to be opened on ``enrolment`` (the machine's open event judges it)."""
    return Case(
        enrolment=enrolment,
        policy=enrolment.programme.policy,
        state=Stage.NEW.value,  # where the machine starts; the open event leaves it
        opened_on=today,
        occurrence_count=0,
        event_count=0,
    )


def _load_case(
    actor: Actor, case_id: int, expected_version: int | None, *, required: bool = True
) -> Case:
    if isinstance(actor, ScanActor):
        case = db.session.get(Case, case_id, with_for_update=True, populate_existing=True)
        if case is None:
            raise NotFound(f"There is no case {case_id}.")
    else:
        case = scope.case_for(actor, case_id, for_update=True)
        if expected_version is None and required:
            raise InvalidData(
                "Say which version of the case you are acting on.",
                errors={"expected_version": ["Required."]},
            )
    if expected_version is not None and expected_version != case.version:
        raise Stale(
            f"This case has changed since you loaded it (version {expected_version}; it is now "
            f"version {case.version}). Reload it to see what changed.",
            current_version=case.version,
        )
    return case


__all__ = [
    "SCAN",
    "ActionResult",
    "CaseError",
    "Forbidden",
    "Request",
    "act",
    "act_batch",
    "allowed_events",
    "current_plan",
    "decide_letter",
    "machine_for",
    "machine_to_ask",
    "new_case",
    "preview",
    "stage_name",
]
