"""The policy's workflow drawn for the case page: python-statemachine's Graphviz drawing of the
policy's machine (casework.machines.diagram), the case's stage filled in, made fit for a page
under the content security policy (presentation attributes only, no ``style``), with a title and
description for assistive technology. Cached per policy version and stage: ``dot`` takes tens of
milliseconds, the page must not."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from statemachine.contrib.diagram import DotGraphMachine

from casework.machines.diagram import DiagramError, policy_machine
from casework.models import Policy
from casework.policies.rules import rules_of

CURRENT_FILL = "#1d70b8"  # the design system's blue; white text on it is 5.2:1
CURRENT_TEXT = "#ffffff"
FONT = "Arial"


@dataclass(frozen=True)
class Transition:
    source: str  # the provider's stage names
    label: str
    target: str


@dataclass(frozen=True)
class Diagram:
    svg: Markup | None  # None where Graphviz is not installed: the words stand alone
    stage: str
    transitions: tuple[Transition, ...]  # the text alternative: every step, from where to where


class _At:
    """A model standing at ``state``: draws the machine with that state active."""

    def __init__(self, state: str) -> None:
        self.state = state


# (policy key, its version's hash, stage) -> its drawing: a handful per policy version.
_drawn: dict[tuple[str, str, str], Diagram] = {}


def workflow_diagram(policy: Policy, stage: str) -> Diagram:
    """The policy's workflow with ``stage`` filled in, drawn once per policy version and stage."""
    key = (policy.key, policy.sha256, stage)
    diagram = _drawn.get(key)
    if diagram is None:
        diagram = _drawn[key] = _draw(policy, stage)
    return diagram


def _draw(policy: Policy, stage: str) -> Diagram:
    cls = policy_machine(policy)
    names = {state.value: state.name for state in cls.states}
    workflow = rules_of(policy).workflow
    labels = {event.value: spec.label for event, spec in workflow.events.items()}
    transitions = tuple(
        Transition(names[t.source.value], labels[event.id], names[t.target.value])
        for state in cls.states
        for t in state.transitions
        for event in t.events
        if t.source.value != "new"  # the scan's opening: before the case exists
    )
    try:
        svg = _svg(cls, stage, names.get(stage, stage))
    except (DiagramError, OSError):
        svg = None
    return Diagram(svg, names.get(stage, stage), transitions)


def _svg(cls: Any, stage: str, stage_name: str) -> Markup:
    if shutil.which("dot") is None:  # Graphviz: the page then has the steps in words alone
        raise DiagramError("Drawing the workflow needs Graphviz's 'dot' program.")
    machine = cls(model=_At(stage), state_field="state")
    graph = DotGraphMachine(machine).get_graph()
    graph.set("label", '""')  # the machine's class name
    graph.set("fontname", FONT)
    for sub in [graph, *graph.get_subgraphs()]:
        for node in sub.get_nodes():
            name = node.get_name().strip('"')
            if name.startswith("__") or name in ("node", "edge", "graph"):
                continue
            node.set("fontname", FONT)
            if name == stage:
                node.set("fillcolor", CURRENT_FILL)
                node.set("fontcolor", CURRENT_TEXT)
                node.set("penwidth", "3")
            else:
                node.set("fillcolor", "white")
    for edge in graph.get_edges():
        label = edge.get("label") or ""
        edge.set("label", label.replace("<br/>[actor_may]", ""))  # the condition's name
        edge.set("fontname", FONT)
    raw = graph.create_svg().decode()
    return Markup(_for_the_page(raw, stage_name))


def _for_the_page(raw: str, stage_name: str) -> str:
    svg = raw[raw.index("<svg") :]
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<title>.*?</title>\s*", "", svg, flags=re.DOTALL)  # ids, as tooltips
    svg = re.sub(r'\sstyle="[^"]*"', "", svg)  # the CSP allows presentation attributes only
    title = "The stages of this case's process"
    desc = (
        f"A diagram of the stages and the steps between them; the case is at "
        f"'{stage_name}', shown filled in blue. The steps are listed in words below it."
    )
    return svg.replace(
        "<svg ",
        '<svg role="img" aria-labelledby="workflow-title workflow-desc" focusable="false" ',
        1,
    ).replace(
        ">",
        f'><title id="workflow-title">{escape(title)}</title>'
        f'<desc id="workflow-desc">{escape(desc)}</desc>',
        1,
    )
