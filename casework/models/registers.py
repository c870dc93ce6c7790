"""Registers: planned sessions, one mark per enrolment and session, and every change to a mark."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.codes import MarkCode
from casework.models.enrolments import Enrolment
from casework.models.programmes import Programme
from casework.models.types import UTCDateTime, str_enum, utcnow


class SessionKind(enum.StrEnum):
    WORKSHOP = "workshop"
    GROUP_DIRECTED = "group_directed"
    ONE_TO_ONE = "one_to_one"
    COACH_VISIT = "coach_visit"  # includes progress reviews
    REMOTE = "remote"
    WORK_PLACEMENT = "work_placement"
    ENRICHMENT = "enrichment"
    SCHOOL_SESSION = "school_session"  # a statutory morning or afternoon session


class DeliveryMode(enum.StrEnum):
    FACE_TO_FACE = "face_to_face"
    REMOTE = "remote"
    WORKPLACE = "workplace"


class AbsenceReason(enum.StrEnum):
    """The authorised absence reasons the five policies name."""

    ILLNESS = "illness"
    MEDICAL_APPOINTMENT = "medical_appointment"  # medical or dental
    BEREAVEMENT = "bereavement"
    RELIGIOUS_OBSERVANCE = "religious_observance"
    INTERVIEW = "interview"
    EMERGENCY = "emergency"
    JURY_SERVICE = "jury_service"
    ANNUAL_LEAVE = "annual_leave"  # pre-arranged annual leave from work
    WORK_COMMITMENT = "work_commitment"  # urgent work commitment that cannot move
    EXCEPTIONAL_CIRCUMSTANCES = "exceptional_circumstances"


class Session(db.Model):
    """A planned learning or support session. Times are local wall-clock times (UK)."""

    __tablename__ = "session"
    __table_args__ = (Index("ix_session_programme_starts", "programme_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The MIS's own identifier, as it appears in register files.
    session_ref: Mapped[str] = mapped_column(String(60), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    title: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[SessionKind] = mapped_column(str_enum(SessionKind, "session_kind"))
    delivery_mode: Mapped[DeliveryMode] = mapped_column(str_enum(DeliveryMode, "delivery_mode"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Arriving after this is an unauthorised absence, whatever the mark says.
    register_closes_at: Mapped[datetime]

    programme: Mapped[Programme] = relationship(back_populates="sessions")

    def __repr__(self) -> str:
        return f"<Session {self.session_ref} {self.starts_at:%Y-%m-%d %H:%M}>"


class RegisterImport(db.Model):
    """One register file taken in: who brought it, what it held and what it changed."""

    __tablename__ = "register_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    imported_by: Mapped[str] = mapped_column(String(254))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rows: Mapped[int]
    created: Mapped[int]
    updated: Mapped[int]
    unchanged: Mapped[int]


class Mark(db.Model):
    """One learner's attendance at one session."""

    __tablename__ = "mark"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "session_id"),
        Index("ix_mark_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"))
    code_id: Mapped[int] = mapped_column(ForeignKey("mark_code.id"))
    minutes_late: Mapped[int | None]
    absence_reason: Mapped[AbsenceReason | None] = mapped_column(
        str_enum(AbsenceReason, "absence_reason")
    )
    evidence_ref: Mapped[str | None] = mapped_column(String(120))
    recorded_by: Mapped[str] = mapped_column(String(254))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("register_import.id"))

    enrolment: Mapped[Enrolment] = relationship()
    session: Mapped[Session] = relationship()
    code: Mapped[MarkCode] = relationship()


class MarkChange(db.Model):
    """The previous version of a mark, kept whenever a mark is changed: nothing is lost."""

    __tablename__ = "mark_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    mark_id: Mapped[int] = mapped_column(ForeignKey("mark.id"), index=True)
    previous_code_id: Mapped[int] = mapped_column(ForeignKey("mark_code.id"))
    previous_minutes_late: Mapped[int | None]
    previous_absence_reason: Mapped[AbsenceReason | None] = mapped_column(
        str_enum(AbsenceReason, "absence_reason")
    )
    previous_evidence_ref: Mapped[str | None] = mapped_column(String(120))
    previous_recorded_by: Mapped[str] = mapped_column(String(254))
    previous_recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(254))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    import_id: Mapped[int | None] = mapped_column(ForeignKey("register_import.id"), index=True)

    previous_code: Mapped[MarkCode] = relationship()
