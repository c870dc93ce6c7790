"""The case machine: the canonical workflow cut down to one policy's enabled events.

Each policy gets its own machine class, built from its data file and cached by the file's hash;
instances are built per action and bound to the case row (``model=case, state_field="state"``),
never shared. ``StateMachine`` (not a permissive ``StateChart``) so that an event with no
transition from the current stage raises instead of being ignored, an exception in a callback
propagates (and the service's transaction rolls back) instead of becoming an error event, and
the stage is only written once the whole transition succeeded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from statemachine import State, StateMachine
from statemachine.event import Event as MachineEvent
from statemachine.factory import StateMachineMetaclass

from casework.errors import Forbidden, GuardFailed, InvalidData
from casework.machines.workflow import FINAL_STAGES, Event, Stage, enabled_transitions
from casework.policies.rules import EventRules, WorkflowRules

ROLE_WORDS = {
    "scan": "the nightly scan",
    "tutor_mentor": "the learner's tutor or mentor",
    "head_of_programme": "the head of programme",
}


@dataclass
class Action:
    """Everything the guards need to judge one event, gathered by the service beforehand."""

    event: Event
    spec: EventRules  # the policy's settings for this event
    roles: frozenset[str]  # the actor's parts in this case: scan, tutor_mentor, head_of_programme
    data: dict[str, Any] = field(default_factory=dict)  # the event's data, already validated
    data_errors: dict[str, Any] | None = None  # marshmallow's messages when it was not
    circumstances_recorded: bool = False
    occurrence_count: int = 0
    decision_pending: bool = False
    attendance_percent: float | None = None  # None: too few sessions to judge
    below_threshold: bool = False
    threshold_words: str = "below 90%"
    plan_breached: bool = False

    @property
    def label(self) -> str:
        return self.spec.label


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class CaseMachine(StateMachine):
    """Guards shared by every policy's machine; the subclasses only add states and events."""

    policy_key: str = ""

    def check_action(self, action: Action, source: State, target: State) -> None:
        """Validator of every transition: raises the first reason the event may not happen."""
        allowed = action.spec.roles
        if not action.roles & set(allowed):
            raise Forbidden(
                f"{action.label}: only {_joined([ROLE_WORDS[r] for r in allowed])} "
                "may take this step on this case."
            )
        if action.data_errors:
            raise InvalidData("Some details are missing or wrong.", errors=action.data_errors)
        self._check_occurrence(action)
        self._check_circumstances(action)
        self._check_attendance(action)
        if (
            action.event is Event.WITHDRAW
            and source.value == Stage.FINAL_WRITTEN_WARNING
            and not action.plan_breached
        ):
            raise GuardFailed(
                "Withdrawal after a final written warning needs the action plan to be "
                "breached: record a progress review with the outcome 'not met' first."
            )

    @staticmethod
    def _check_occurrence(action: Action) -> None:
        need = action.spec.min_occurrence
        if action.occurrence_count < need:
            raise GuardFailed(
                f"This step needs occurrence {need} of absence below the threshold; "
                f"the case has had {action.occurrence_count}."
            )
        if action.spec.decides_occurrence and not action.decision_pending:
            raise GuardFailed(
                "No new occurrence is waiting for a decision: this step answers a new "
                "occurrence, and the last one has been decided."
            )

    @staticmethod
    def _check_circumstances(action: Action) -> None:
        rule = action.spec.circumstances
        recorded = action.circumstances_recorded or bool(action.data.get("circumstances"))
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

    @staticmethod
    def _check_attendance(action: Action) -> None:
        if action.event is Event.OPEN:
            if action.attendance_percent is None:
                raise GuardFailed(
                    "The learner does not have enough marked sessions yet to judge attendance."
                )
            if not action.below_threshold:
                raise GuardFailed(
                    f"Attendance is {action.attendance_percent:.1f}%: a concern opens only "
                    f"when it is {action.threshold_words}."
                )
        restored = action.data.get("reason") == "attendance_restored"
        if action.event is Event.CLOSE and restored and action.below_threshold:
            raise GuardFailed(
                f"Attendance is still {action.threshold_words} "
                f"({action.attendance_percent:.1f}%): close with the reason "
                "'no further action' and a note if that is the decision."
            )


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
        lst = states[source.value].to(states[target.value], validators="check_action")
        events[event.value] = events[event.value] | lst if event.value in events else lst
    attrs: dict[str, Any] = dict(states)
    for name, lst in events.items():
        attrs[name] = MachineEvent(lst, id=name, name=workflow.events[Event(name)].label)
    attrs["policy_key"] = key
    class_name = "CaseMachine_" + "".join(c if c.isalnum() else "_" for c in key)
    return StateMachineMetaclass(class_name, (CaseMachine,), attrs)  # type: ignore[return-value]
