"""A policy's workflow drawn as Mermaid text and SVG (Graphviz), in the provider's stage names,
with only the events the policy enables."""

from __future__ import annotations

import shutil

from casework.machines.case import CaseMachine, machine_class
from casework.models import Policy
from casework.policies.rules import rules_of


class DiagramError(RuntimeError):
    pass


def policy_machine(policy: Policy) -> type[CaseMachine]:
    return machine_class(policy.key, policy.sha256, rules_of(policy).workflow)


def mermaid(policy: Policy) -> str:
    return f"{policy_machine(policy):mermaid}"


def svg(policy: Policy) -> str:
    if shutil.which("dot") is None:
        raise DiagramError(
            "SVG needs Graphviz's 'dot' program (Debian/Ubuntu: apt-get install graphviz)."
        )
    return f"{policy_machine(policy):svg}"
