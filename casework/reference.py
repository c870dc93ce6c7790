"""Reference data shipped with the package: mark codes and provider policies, kept in step."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from casework.extensions import db
from casework.models import CodeSet, MarkCategory, MarkCode, Policy
from casework.policies import load_policies

CODES_FILE = Path(__file__).resolve().parent / "data" / "mark_codes.toml"


@dataclass(frozen=True)
class SyncReport:
    codes_added: int
    policies_added: int
    policies_updated: int


def load_mark_codes() -> list[MarkCode]:
    data = tomllib.loads(CODES_FILE.read_text(encoding="utf-8"))
    return [
        MarkCode(
            code_set=CodeSet(code_set),
            code=row["code"],
            meaning=row["meaning"],
            category=MarkCategory(row["category"]),
            requires_reason=row.get("requires_reason", False),
        )
        for code_set, rows in data.items()
        for row in rows
    ]


def sync_reference_data() -> SyncReport:
    """Insert new codes and policies and refresh changed policies; one commit."""
    existing_codes = {(c.code_set, c.code): c for c in db.session.scalars(select(MarkCode))}
    codes_added = 0
    for code in load_mark_codes():
        current = existing_codes.get((code.code_set, code.code))
        if current is None:
            db.session.add(code)
            codes_added += 1
        else:
            current.meaning, current.category = code.meaning, code.category
            current.requires_reason = code.requires_reason

    existing = {p.key: p for p in db.session.scalars(select(Policy))}
    added = updated = 0
    for loaded in load_policies():
        rules = loaded.rules
        values = dict(
            provider=rules.provider,
            title=rules.title,
            code_set=rules.code_set,
            threshold_percent=rules.attendance.threshold_percent,
            minimum_sessions=rules.attendance.minimum_sessions,
            document=loaded.document,
            sha256=loaded.sha256,
        )
        row = existing.get(rules.key)
        if row is None:
            db.session.add(Policy(key=rules.key, **values))
            added += 1
        elif row.sha256 != loaded.sha256:
            for name, value in values.items():
                setattr(row, name, value)
            updated += 1
    db.session.commit()
    return SyncReport(codes_added, added, updated)
