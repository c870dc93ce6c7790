"""Programmes of study, each under one policy, and the staff attached to them."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.policies import Policy
from casework.models.types import str_enum

if TYPE_CHECKING:
    from casework.models.enrolments import Enrolment
    from casework.models.registers import Session
    from casework.models.staff import User


class Programme(db.Model):
    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    policy_id: Mapped[int] = mapped_column(ForeignKey("policy.id"), index=True)

    policy: Mapped[Policy] = relationship()
    staff_links: Mapped[list[ProgrammeStaff]] = relationship(
        back_populates="programme", cascade="all, delete-orphan"
    )
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="programme")
    sessions: Mapped[list[Session]] = relationship(back_populates="programme")

    def __repr__(self) -> str:
        return f"<Programme {self.code}>"


class ProgrammeRole(enum.StrEnum):
    HEAD = "head"  # head of programme: owns the programme's cases
    ADMINISTRATION = "administration"  # administration officer: keeps its registers


class ProgrammeStaff(db.Model):
    """A member of staff's part in a programme (programmes led, registers kept)."""

    __tablename__ = "programme_staff"

    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[ProgrammeRole] = mapped_column(
        str_enum(ProgrammeRole, "programme_role"), primary_key=True
    )

    programme: Mapped[Programme] = relationship(back_populates="staff_links")
    user: Mapped[User] = relationship(back_populates="programme_links")
