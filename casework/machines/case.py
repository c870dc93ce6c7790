"""The case machine: the canonical workflow cut down to one policy's enabled events, with each
event's whole behaviour on it.

Each policy version gets its own machine class, built from its typed rules and cached by the
document's hash; instances are built per action and bound to the case row (``model=case,
state_field="state"``), never shared. ``StateMachine`` (not a permissive ``StateChart``) so that
an event with no transition from the current stage raises instead of being ignored, an exception
in a callback propagates (and the service's transaction rolls back), and the stage is written only
once the whole transition succeeded.

For every transition of event E:
- its condition ``actor_may`` is the policy's ``roles`` for E against the actor's part in the
  case, so ``enabled_events(step=...)`` answers "what may this actor do now";
- its validator ``guards`` runs E's guards (named in ``casework.machines.events.EVENTS``) in
  order, each raising with the reason in staff words (one validator, not one per guard: the
  library resolves every callback name for each new machine, once per action);
- ``on_transition`` and ``on_E`` write its effects; the class-level ``AuditTrail`` listener writes
  its chained audit event first, so effects can refer to it.
Changes that are not transitions (``Change``) go through ``change()``: the same checks of who may,
the same data loading, the same audit listener, their own ``on_<change>`` handler.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marshmallow import Schema
from sqlalchemy import select
from statemachine import State, StateMachine
from statemachine.event import Event as MachineEvent
from statemachine.factory import StateMachineMetaclass

from casework.errors import Forbidden, GuardFailed, InvalidData
from casework.extensions import db
from casework.machines import effects
from casework.machines.audit import AuditTrail
from casework.machines.events import (
    CHANGES,
    EVENTS,
    Change,
    ChangeDefinition,
    Who,
    event_schema,
    load_data,
    note_error,
)
from casework.machines.workflow import FINAL_STAGES, Event, Stage, enabled_transitions
from casework.models import Case, CaseEvent, DueKind, EnrolmentStatus, LetterJob, Role, User
from casework.policies.rules import EventRules, WorkflowRules
from casework.registers.figures import AbsencePeriod, AttendanceFigures
from casework.registers.thresholds import Judgement
from casework.scope import Actor, ScanActor, works_on

ROLE_WORDS = {
    "scan": "the nightly scan",
    "tutor_mentor": "the learner's tutor or mentor",
    "head_of_programme": "the head of programme",
}


# Why a letter decision is refused to anyone but the head (the service and the pages say the same).
HEAD_ONLY = f"Only {Who.HEAD.value} may approve or return its letters."


@dataclass
class Step:
    """One event or change in the making: what the guards judge and the handlers write."""

    case: Case
    actor: Actor
    name: str  # a workflow event or a change
    note: str
    given: Any  # the data as the actor sent it
    today: date  # the as-at date: the scan's day, or today
    now: datetime
    roles: frozenset[str] = frozenset()  # the actor's parts in this case
    judgement: Judgement | None = None  # attendance as at ``today``, where the event needs it
    figures: AttendanceFigures | None = None  # the figures behind ``judgement``
    # Enrolment -> its open case other than ``case``, read once for a whole batch (else None:
    # the guard asks the database itself).
    open_cases: dict[int, int] | None = None
    flush: bool = True  # False: the caller flushes a whole batch at once (the scan)
    data: dict[str, Any] = field(default_factory=dict)  # ``given``, loaded and JSON-safe
    audit: CaseEvent | None = None  # written by the AuditTrail listener
    letters: list[LetterJob] = field(default_factory=list)

    @property
    def is_scan(self) -> bool:
        return isinstance(self.actor, ScanActor)


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _load(step: Step, schema: Schema) -> None:
    """The step's data through its schema, and (from staff) a note saying why; or refused."""
    step.data, errors = load_data(schema, step.given)
    if not step.is_scan and (problem := note_error(step.note)):
        errors = {**(errors or {}), **problem}
    if errors:
        raise InvalidData("Some details are missing or wrong.", errors=errors)


def refusal(spec: EventRules) -> Forbidden:
    """Why an actor with no part the policy names for ``spec`` may not fire it."""
    who = _joined([ROLE_WORDS[r] for r in spec.roles])
    return Forbidden(f"{spec.label}: only {who} may take this step on this case.")


class CaseMachine(StateMachine):
    """What every policy's machine shares; the subclasses only add states and events."""

    policy_key: str = ""
    workflow: WorkflowRules
    listeners = [AuditTrail]  # noqa: RUF012 (python-statemachine's class-level listeners)

    def spec(self, event: str) -> EventRules:
        return self.workflow.events[Event(event)]

    # The condition of every transition -------------------------------------------------------

    def actor_may(self, step: Step, event: MachineEvent) -> bool:
        return bool(step.roles & set(self.spec(event.id).roles))

    # Guards: the event definition names them; the transition's validator runs them in order ---

    def guards(self, step: Step, event: MachineEvent, source: State) -> None:
        for name in EVENTS[Event(event.id)].guards:
            getattr(self, name)(step, event, source)

    def data_valid(self, step: Step, event: MachineEvent, _source: State) -> None:
        spec = self.spec(event.id)
        _load(step, event_schema(spec.event, spec.action_plan))

    def may_open(self, step: Step, _event: MachineEvent, _source: State) -> None:
        case = step.case
        existing = step.open_cases.get(case.enrolment_id) if step.open_cases is not None else None
        if step.open_cases is None:
            query = select(Case.id).where(Case.enrolment_id == case.enrolment.id)
            if case.id is not None:
                query = query.where(Case.id != case.id)
            existing = db.session.scalar(query.where(Case.ended_at.is_(None)))
        if existing is not None:
            raise GuardFailed(f"This learner already has an open case (case {existing}).")
        if case.enrolment.status != EnrolmentStatus.ACTIVE:
            raise GuardFailed("The enrolment is no longer active.")

    def attendance_below(self, step: Step, _event: MachineEvent, _source: State) -> None:
        judgement = step.judgement
        if judgement is None or not judgement.evaluable or judgement.percent is None:
            raise GuardFailed(
                "The learner does not have enough marked sessions yet to judge attendance."
            )
        if not judgement.below:
            raise GuardFailed(
                f"Attendance is {judgement.percent:.1f}%: a concern opens only when it is "
                f"{judgement.words}."
            )

    def occurrence_ready(self, step: Step, event: MachineEvent, _source: State) -> None:
        spec, case = self.spec(event.id), step.case
        if case.occurrence_count < spec.min_occurrence:
            raise GuardFailed(
                f"This step needs occurrence {spec.min_occurrence} of absence below the "
                f"threshold; the case has had {case.occurrence_count}."
            )
        if spec.decides_occurrence and case.decision_due_on is None:
            raise GuardFailed(
                "No new occurrence is waiting for a decision: this step answers a new "
                "occurrence, and the last one has been decided."
            )

    def circumstances_fit(self, step: Step, event: MachineEvent, _source: State) -> None:
        rule = self.spec(event.id).circumstances
        recorded = bool(step.case.circumstances) or bool(step.data.get("circumstances"))
        if rule == "required" and not recorded:
            raise GuardFailed(
                "Record the health or personal circumstances that prevent the learner from "
                "attending before taking this step."
            )
        if rule == "absent" and recorded:
            raise GuardFailed(
                "Health or personal circumstances are recorded as the cause of absence: this "
                "learner's case follows fitness to study, never a warning."
            )

    def plan_breached(self, step: Step, _event: MachineEvent, source: State) -> None:
        if source.value == Stage.FINAL_WRITTEN_WARNING and not effects.plan_breached(step.case):
            raise GuardFailed(
                "Withdrawal after a final written warning needs the action plan to be "
                "breached: record a progress review with the outcome 'not met' first."
            )

    def attendance_restored(self, step: Step, _event: MachineEvent, _source: State) -> None:
        judgement = step.judgement
        if step.data.get("reason") == "attendance_restored" and judgement and judgement.below:
            raise GuardFailed(
                f"Attendance is still {judgement.words} ({judgement.percent:.1f}%): close with "
                "the reason 'no further action' and a note if that is the decision."
            )

    # Effects: what every transition writes, then each event's own ----------------------------

    def on_transition(self, step: Step, event: MachineEvent, target: State) -> None:
        case, audit = step.case, step.audit
        assert audit is not None  # the AuditTrail listener wrote it before the effects
        if event.id != Event.OPEN:
            if audit.id is None:
                db.session.flush()  # the effects below refer to the event by its id
            effects.decide_pending(case, audit, step.now)
        if step.data.get("circumstances"):
            case.circumstances = step.data["circumstances"]
        if "action_plan" in step.data:
            effects.new_plan(case, audit, step.data["action_plan"], step.now)
        if audit.from_state in (Stage.DISCIPLINARY_PANEL, Stage.FITNESS_TO_STUDY_PANEL):
            effects.settle_kind(case, DueKind.PANEL, step.now)
        if target.value in FINAL_STAGES:
            case.ended_at = step.now
            effects.settle_all(case, step.now)

    def on_open(self, step: Step) -> None:
        judgement, figures = step.judgement, step.figures
        percent = judgement.percent if judgement else None
        period = figures.absence_period if figures else None
        effects.record_occurrence(step.case, step.today, percent, period)

    def on_convene_panel(self, step: Step) -> None:
        panel = step.data["panel"]
        effects.add_due(
            step.case,
            DueKind.PANEL,
            f"event:{step.audit.id}",
            date.fromisoformat(panel["date"]),
            f"Panel at {panel['time']}, {panel['place']}",
        )

    def on_withdraw(self, step: Step) -> None:
        step.case.enrolment.status = EnrolmentStatus.WITHDRAWN

    # Changes ----------------------------------------------------------------------------------

    def change(self, step: Step) -> None:
        """Make a change that is not a transition: who may, its data, its audit, its effect."""
        definition = CHANGES[Change(step.name)]
        self._check_who(definition, step)
        _load(step, definition.data())
        if definition.open_only and not step.case.is_open:
            raise GuardFailed("The case has ended; it can no longer change.")
        for listener in self.active_listeners:
            if isinstance(listener, AuditTrail):
                listener.record_change(step)
        getattr(self, f"on_{definition.change.value}")(step)
        if step.flush:
            db.session.flush()

    @staticmethod
    def _check_who(definition: ChangeDefinition, step: Step) -> None:
        if definition.who is Who.SCAN:
            if not step.is_scan:
                raise Forbidden(f"Only {Who.SCAN.value} may {definition.label.lower()}.")
            return
        if step.is_scan:
            raise Forbidden("The scan cannot make this change.")
        actor, case = step.actor, step.case
        if definition.who is Who.ANYONE_WHO_SEES:
            return  # the service only loads cases within the actor's scope
        if definition.who is Who.HEAD:
            if "head_of_programme" not in step.roles:
                raise Forbidden(HEAD_ONLY)
            return
        works = works_on(actor, case, step.roles)
        lead = (
            isinstance(actor, User)
            and actor.has_role(Role.SAFEGUARDING_LEAD)
            and case.safeguarding_flagged_at is not None
        )
        if definition.who is Who.WORKERS_OR_LEAD and not (works or lead):
            raise Forbidden("Only the people working on this case may add notes to it.")
        if definition.who is Who.WORKERS and not works:
            raise Forbidden(f"Only {Who.WORKERS.value} may do this.")

    def on_add_note(self, step: Step) -> None:
        pass  # the audit event is the note

    def on_flag_safeguarding(self, step: Step) -> None:
        step.case.safeguarding_flagged_at = step.case.safeguarding_flagged_at or step.now

    def on_record_circumstances(self, step: Step) -> None:
        step.case.circumstances = step.data["circumstances"]

    def on_record_review(self, step: Step) -> None:
        assert isinstance(step.actor, User)
        effects.record_review(step.case, step.actor, step.audit, step.data, step.now)

    def on_complete_due_item(self, step: Step) -> None:
        effects.complete_due_item(step.case, step.data["due_item_id"], step.now)

    def on_approve_letter(self, step: Step) -> None:
        effects.decide_letter(step.case, step.data["letter_id"], step.audit, approved=True)

    def on_return_letter(self, step: Step) -> None:
        effects.decide_letter(step.case, step.data["letter_id"], step.audit, approved=False)

    def on_record_occurrence(self, step: Step) -> None:
        data = step.data  # what the scan found, as its audit event keeps it
        started = data.get("absence_started_at")
        period = (
            AbsencePeriod(0, data["first_mark_id"], datetime.fromisoformat(started))
            if started and data.get("first_mark_id")
            else None
        )
        effects.record_occurrence(step.case, step.today, data.get("attendance_percent"), period)


_classes: dict[tuple[str, str], type[CaseMachine]] = {}
_lock = threading.Lock()


def machine_class(key: str, sha256: str, workflow: WorkflowRules) -> type[CaseMachine]:
    """The machine class of one version of one policy (built once, then shared read-only)."""
    with _lock:
        cls = _classes.get((key, sha256))
        if cls is None:
            cls = _classes[(key, sha256)] = _build(key, workflow)
        return cls


def _build(key: str, workflow: WorkflowRules) -> type[CaseMachine]:
    transitions = enabled_transitions({e: spec.from_stages for e, spec in workflow.events.items()})
    used = [Stage.NEW, *sorted({t for _e, _s, t in transitions}, key=list(Stage).index)]
    states = {
        stage.value: State(
            name=workflow.stages[stage],
            value=stage.value,
            initial=stage is Stage.NEW,
            final=stage in FINAL_STAGES,
        )
        for stage in used
    }
    events: dict[str, Any] = {}
    for event, source, target in transitions:
        lst = states[source.value].to(states[target.value], cond="actor_may", validators="guards")
        events[event.value] = events[event.value] | lst if event.value in events else lst
    attrs: dict[str, Any] = dict(states)
    for name, lst in events.items():
        attrs[name] = MachineEvent(lst, id=name, name=workflow.events[Event(name)].label)
    attrs["policy_key"] = key
    attrs["workflow"] = workflow
    class_name = "CaseMachine_" + "".join(c if c.isalnum() else "_" for c in key)
    return StateMachineMetaclass(class_name, (CaseMachine,), attrs)  # type: ignore[return-value]
