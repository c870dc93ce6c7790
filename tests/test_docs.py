"""The docs stay true to the policy files and point at nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from casework.machines.workflow import Stage
from casework.policies import load_policies
from casework.policies.rules import PolicyRules

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = (ROOT / "docs" / "workflow.md").read_text(encoding="utf-8")
POLICIES = {p.document["key"]: PolicyRules.from_document(p.document) for p in load_policies()}


def section(key: str) -> str:
    """The workflow doc's section on one policy, up to the next policy's."""
    start = WORKFLOW.index(f"### `{key}`")
    rest = WORKFLOW[start + 1 :]
    following = rest.find("\n### ")
    return rest if following < 0 else rest[:following]


@pytest.mark.parametrize("key", sorted(POLICIES))
def test_each_policy_reads_as_its_file_says(key):
    rules, text = POLICIES[key], section(key)
    attendance = rules.attendance
    assert f"{attendance.threshold_words}**" in re.sub(r"\*\*(below|at or below) ", r"\1 ", text)
    assert f"**{attendance.minimum_sessions}** possible sessions" in text
    assert f"decisions due in **{rules.workflow.decision_due_working_days}** working" in text
    assert f"**{rules.letters.tone}**" in text
    for event, spec in rules.workflow.events.items():
        assert f"`{event.value}`: {spec.label}" in text, event
    for stage, name in rules.workflow.stages.items():
        if stage is not Stage.NEW:  # never stored: the case before it opens
            assert name.lower() in text.lower(), name


# How the docs' tables name each recipient kind of a policy file's `to` lists.
RECIPIENT_WORDS = {
    "learner": "learner",
    "parent_carer": "parent/carer",
    "parent_carer_extended": "parent/carer (under 25)",
    "employer": "employer",
    "main_school": "main school",
}


@pytest.mark.parametrize("key", sorted(POLICIES))
def test_each_events_letters_go_to_whom_the_file_says(key):
    rules, text = POLICIES[key], section(key)
    for event, spec in rules.workflow.events.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{event.value}`:"))
        cell = row.rstrip(" |").rsplit("|", 1)[1].strip()
        documented = {
            letter.split(" → ")[0].strip(): set(letter.split(" → ")[1].split(", "))
            for letter in cell.split("; ")
            if " → " in letter
        }
        wanted = {
            letter.template.replace("_", " "): {RECIPIENT_WORDS[kind] for kind in letter.to}
            for letter in spec.letters
        }
        assert set(map(frozenset, documented.values())) == set(map(frozenset, wanted.values())), (
            event,
            documented,
            wanted,
        )


@pytest.mark.parametrize("name", ["docs/workflow.md", "README.md", "bench/README.md"])
def test_docs_point_at_nothing_outside_the_repository(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    assert "DOMAIN.md" not in text and "shared/" not in text
    assert not re.search(r"(?<![\w.])/(work|home|tmp|root)/", text)
    for link in re.findall(r"\]\(([^)#]+)", text):
        if not link.startswith("http"):
            assert (ROOT / name).parent.joinpath(link).exists(), link
