"""Enrolments: one learner on one programme for one academic year."""

from __future__ import annotations

import enum
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.types import str_enum

if TYPE_CHECKING:
    from casework.models.learners import Learner
    from casework.models.programmes import Programme
    from casework.models.staff import User


def academic_year_of(day: date) -> int:
    """English academic years run 1 August to 31 July; 2026 means 2026/27."""
    return day.year if day.month >= 8 else day.year - 1


def academic_year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class Enrolment(db.Model):
    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("learner_id", "programme_id", "academic_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    academic_year: Mapped[int]
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    status: Mapped[EnrolmentStatus] = mapped_column(
        str_enum(EnrolmentStatus, "enrolment_status"), default=EnrolmentStatus.ACTIVE
    )
    is_apprentice: Mapped[bool] = mapped_column(default=False)
    # On roll at a main school and attending here part of the week (supplementary provision).
    is_dual_registered: Mapped[bool] = mapped_column(default=False)
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    # Set by the scan while attendance is within the policy's early-warning margin.
    approaching_threshold_since: Mapped[date | None]

    learner: Mapped[Learner] = relationship(back_populates="enrolments")
    programme: Mapped[Programme] = relationship(back_populates="enrolments")
    mentor: Mapped[User | None] = relationship(back_populates="mentored_enrolments")

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)

    def __repr__(self) -> str:
        return f"<Enrolment {self.id} learner={self.learner_id} programme={self.programme_id}>"
