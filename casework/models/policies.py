"""Provider attendance policies, as loaded from the data files shipped in casework/policies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db
from casework.models.codes import CodeSet
from casework.models.types import str_enum


class Policy(db.Model):
    __tablename__ = "policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    provider: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    code_set: Mapped[CodeSet] = mapped_column(str_enum(CodeSet, "code_set"))
    # Copied out of the document so set-based SQL (the nightly scan) can join on them.
    threshold_percent: Mapped[float]
    minimum_sessions: Mapped[int]
    # The whole validated document, so later stages read the policy as it was loaded; code reads
    # it as typed rules (casework.policies.rules.rules_of), never by key. Deferred: the rules are
    # built once per process and version (sha256), so a read that loads a policy (every case
    # read) need not fetch and parse its document again.
    document: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<Policy {self.key}>"
