"""Staff users and their roles."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.types import PasswordMixin, UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from casework.models.enrolments import Enrolment
    from casework.models.programmes import ProgrammeStaff


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    HEAD_OF_PROGRAMME = "head_of_programme"
    TUTOR_MENTOR = "tutor_mentor"
    ADMINISTRATION_OFFICER = "administration_officer"
    SAFEGUARDING_LEAD = "safeguarding_lead"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").replace("tutor mentor", "tutor / mentor").capitalize()


class User(PasswordMixin, db.Model):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    programme_links: Mapped[list[ProgrammeStaff]] = relationship(back_populates="user")
    mentored_enrolments: Mapped[list[Enrolment]] = relationship(back_populates="mentor")

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.role_rows)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class UserRole(db.Model):
    __tablename__ = "staff_user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(str_enum(Role, "staff_role"), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")
