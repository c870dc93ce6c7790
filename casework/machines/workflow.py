"""The canonical attendance-concern workflow (docs/workflow.md): every state and transition.

A policy switches events on, names the stages in its own words and sets who may fire what; it
cannot invent transitions. Guards that need code (circumstances, panel data, the threshold) live
on the machine (`casework.machines.case`); their parameters live in the policy file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Stage(StrEnum):
    NEW = "new"  # in memory only: the case before its `open` event
    MONITORING = "monitoring"
    VERBAL_WARNING = "verbal_warning"
    FITNESS_TO_STUDY = "fitness_to_study"
    WRITTEN_WARNING = "written_warning"
    DISCIPLINARY_PANEL = "disciplinary_panel"
    FITNESS_TO_STUDY_PANEL = "fitness_to_study_panel"
    FINAL_WRITTEN_WARNING = "final_written_warning"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


FINAL_STAGES = frozenset({Stage.WITHDRAWN, Stage.CLOSED})
OPEN_STAGES = tuple(s for s in Stage if s is not Stage.NEW and s not in FINAL_STAGES)


class Event(StrEnum):
    OPEN = "open"
    NO_ACTION = "no_action"
    GIVE_VERBAL_WARNING = "give_verbal_warning"
    REFER_FITNESS_TO_STUDY = "refer_fitness_to_study"
    ISSUE_WRITTEN_WARNING = "issue_written_warning"
    REVIEW_FITNESS_TO_STUDY = "review_fitness_to_study"
    CONVENE_PANEL = "convene_panel"
    ISSUE_FINAL_WRITTEN_WARNING = "issue_final_written_warning"
    CONFIRM_FIT_TO_STUDY = "confirm_fit_to_study"
    WITHDRAW = "withdraw"
    CLOSE = "close"


S = Stage
# event -> [(source, target)], in the order the diagram should draw them.
TRANSITIONS: dict[Event, list[tuple[Stage, Stage]]] = {
    Event.OPEN: [(S.NEW, S.MONITORING)],
    Event.NO_ACTION: [(S.MONITORING, S.MONITORING)],
    Event.GIVE_VERBAL_WARNING: [(S.MONITORING, S.VERBAL_WARNING)],
    Event.REFER_FITNESS_TO_STUDY: [
        (S.MONITORING, S.FITNESS_TO_STUDY),
        (S.VERBAL_WARNING, S.FITNESS_TO_STUDY),
        (S.WRITTEN_WARNING, S.FITNESS_TO_STUDY),
    ],
    Event.ISSUE_WRITTEN_WARNING: [(S.VERBAL_WARNING, S.WRITTEN_WARNING)],
    Event.REVIEW_FITNESS_TO_STUDY: [(S.FITNESS_TO_STUDY, S.FITNESS_TO_STUDY)],
    Event.CONVENE_PANEL: [
        (S.WRITTEN_WARNING, S.DISCIPLINARY_PANEL),
        (S.FITNESS_TO_STUDY, S.FITNESS_TO_STUDY_PANEL),
    ],
    Event.ISSUE_FINAL_WRITTEN_WARNING: [(S.DISCIPLINARY_PANEL, S.FINAL_WRITTEN_WARNING)],
    Event.CONFIRM_FIT_TO_STUDY: [(S.FITNESS_TO_STUDY_PANEL, S.FITNESS_TO_STUDY)],
    Event.WITHDRAW: [
        (S.DISCIPLINARY_PANEL, S.WITHDRAWN),
        (S.FINAL_WRITTEN_WARNING, S.WITHDRAWN),
        (S.FITNESS_TO_STUDY_PANEL, S.WITHDRAWN),
    ],
    Event.CLOSE: [(stage, S.CLOSED) for stage in OPEN_STAGES],
}

# Events every policy must enable: a case has to be able to start and to end.
REQUIRED_EVENTS = frozenset({Event.OPEN, Event.CLOSE})


def enabled_transitions(
    events: Mapping[Event, Iterable[Stage] | None],
) -> list[tuple[Event, Stage, Stage]]:
    """The transitions a policy's enabled events give, keeping only those a case can reach.

    ``events`` maps each enabled event to the canonical sources it is narrowed to (None: all).
    """
    wanted = []
    for event, sources in events.items():
        for source, target in TRANSITIONS[event]:
            if not sources or source in sources:
                wanted.append((event, source, target))
    reached, frontier = {Stage.NEW}, [Stage.NEW]
    while frontier:
        stage = frontier.pop()
        for _event, source, target in wanted:
            if source == stage and target not in reached:
                reached.add(target)
                frontier.append(target)
    return [t for t in wanted if t[1] in reached]
