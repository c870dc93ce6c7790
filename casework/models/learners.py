"""Learners, their contacts (parents and carers, employers, main schools) and learner accounts."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.types import PasswordMixin, UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from casework.models.enrolments import Enrolment


def full_name(preferred_name: str | None, given_name: str, family_name: str) -> str:
    """What a learner is called: the name they prefer, else their given name, and their family
    name (``Learner.full_name``, for a row of those columns too)."""
    return f"{preferred_name or given_name} {family_name}"


class Learner(db.Model):
    __tablename__ = "learner"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The learner ID used by the provider's MIS and on every letter and register row.
    learner_ref: Mapped[str] = mapped_column(String(40), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    preferred_name: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[date]
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)  # postal address, one line per line
    postcode: Mapped[str | None] = mapped_column(String(10))

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="learner", cascade="all, delete-orphan", order_by="Contact.id"
    )
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="learner")
    account: Mapped[LearnerAccount | None] = relationship(back_populates="learner")

    @property
    def full_name(self) -> str:
        return full_name(self.preferred_name, self.given_name, self.family_name)

    def age_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day)
        return day.year - self.date_of_birth.year - before_birthday

    def __repr__(self) -> str:
        return f"<Learner {self.learner_ref}>"


class ContactKind(enum.StrEnum):
    PARENT_CARER = "parent_carer"
    EMPLOYER = "employer"
    # The learner's own school: the main school of a dual-registered student (004), the school
    # or partnership that commissions an alternative provision place (002).
    MAIN_SCHOOL = "main_school"


class Contact(db.Model):
    """Someone told about a learner's attendance; a recipient of letters, never a user."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learner.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind, "contact_kind"))
    name: Mapped[str] = mapped_column(String(200))
    relationship_to_learner: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10))
    receives_letters: Mapped[bool] = mapped_column(default=True)
    notify_by_sms: Mapped[bool] = mapped_column(default=False)
    notify_by_email: Mapped[bool] = mapped_column(default=False)

    learner: Mapped[Learner] = relationship(back_populates="contacts")

    def __repr__(self) -> str:
        return f"<Contact {self.kind} {self.name}>"


class LearnerAccount(PasswordMixin, db.Model):
    """A learner's own sign-in: they read their letters and action plan, nothing more."""

    __tablename__ = "learner_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learner.id", ondelete="CASCADE"), unique=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    learner: Mapped[Learner] = relationship(back_populates="account")
