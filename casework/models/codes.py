"""Register mark codes and the category each one counts as."""

from __future__ import annotations

import enum

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db
from casework.models.types import str_enum


class MarkCategory(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    APPROVED_ACTIVITY = "approved_activity"
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_COUNTED = "not_counted"

    @property
    def possible(self) -> bool:
        return self is not MarkCategory.NOT_COUNTED

    @property
    def attended(self) -> bool:
        return self in (MarkCategory.PRESENT, MarkCategory.LATE, MarkCategory.APPROVED_ACTIVITY)


class CodeSet(enum.StrEnum):
    STATUTORY = "statutory"  # England's school codes
    FURTHER_EDUCATION = "further_education"

    @property
    def label(self) -> str:
        return {"statutory": "England statutory school", "further_education": "further education"}[
            self.value
        ]


class MarkCode(db.Model):
    __tablename__ = "mark_code"
    __table_args__ = (UniqueConstraint("code_set", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_set: Mapped[CodeSet] = mapped_column(str_enum(CodeSet, "code_set"))
    code: Mapped[str] = mapped_column(String(4))
    meaning: Mapped[str] = mapped_column(String(200))
    category: Mapped[MarkCategory] = mapped_column(str_enum(MarkCategory, "mark_category"))
    requires_reason: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<MarkCode {self.code_set}:{self.code} {self.category}>"
