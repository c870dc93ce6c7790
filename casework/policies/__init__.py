"""Provider policies as data: one TOML file per provider, shipped beside this module."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from casework.policies.rules import PolicyRules, rules_for
from casework.policies.schema import PolicySchema

POLICY_DIR = Path(__file__).resolve().parent


class PolicyFileError(ValueError):
    """A policy file that cannot be used; the message names the file and every bad field."""


@dataclass(frozen=True)
class LoadedPolicy:
    path: Path
    document: dict[str, Any]  # validated, JSON-safe
    sha256: str

    @property
    def rules(self) -> PolicyRules:
        return rules_for(self.sha256, self.document)


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            out += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {' '.join(messages)}"]
    return [f"{prefix}: {messages}"]


def load_policy_file(path: Path) -> LoadedPolicy:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyFileError(f"{path.name}: cannot read the file: {exc}") from exc
    schema = PolicySchema()
    try:
        loaded = schema.load(raw)
    except ValidationError as exc:
        problems = "; ".join(_flatten(exc.messages))
        raise PolicyFileError(f"{path.name}: {problems}") from exc
    document = schema.dump(loaded)
    return LoadedPolicy(path, document, document_sha256(document))


def document_sha256(document: dict[str, Any]) -> str:
    """A validated document's hash: its version, for the machine and rules caches."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def validated(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` checked and normalised as a policy file's would be."""
    schema = PolicySchema()
    try:
        return schema.dump(schema.load(document))
    except ValidationError as exc:
        raise PolicyFileError("; ".join(_flatten(exc.messages))) from exc


def load_policies(directory: Path = POLICY_DIR) -> list[LoadedPolicy]:
    """Every policy file in ``directory``, validated; duplicate keys are an error."""
    policies = [load_policy_file(p) for p in sorted(directory.glob("*.toml"))]
    seen: dict[str, Path] = {}
    for policy in policies:
        key = policy.document["key"]
        if key in seen:
            raise PolicyFileError(
                f"{policy.path.name}: key: '{key}' is already used by {seen[key].name}"
            )
        seen[key] = policy.path
    return policies
