"""Cases: one attendance concern about one enrolment, its audit trail, occurrences, action plans,
reviews, what is due, and the letters its events call for."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.types import UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from casework.models.enrolments import Enrolment
    from casework.models.policies import Policy
    from casework.models.staff import User


class Case(db.Model):
    __tablename__ = "attendance_case"
    __table_args__ = (
        # One open case per enrolment: the scan relies on it when two runs race.
        Index(
            "uq_attendance_case_open_enrolment",
            "enrolment_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policy.id"))
    # A workflow stage id (casework.machines.workflow.Stage); written only by the machine.
    state: Mapped[str | None] = mapped_column(String(40))
    # Optimistic locking: every UPDATE checks and bumps it; users send the version they saw.
    version: Mapped[int] = mapped_column(default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_on: Mapped[date]  # the as-at date of the finding
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    occurrence_count: Mapped[int] = mapped_column(default=0)
    # Set while an occurrence waits for its decision (option A, B or C, or the next step).
    decision_due_on: Mapped[date | None]
    # Health or personal circumstances behind absence: special-category data.
    circumstances: Mapped[str | None] = mapped_column(Text)
    safeguarding_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Head of the audit chain: its last event's hash and sequence number, so a removed last
    # event is detected too.
    audit_head: Mapped[str | None] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(default=0)
    # HMAC of where the chain ends (casework.machines.seal): keyed outside the database, so the
    # head cannot be rewound by whoever removes the last events.
    audit_seal: Mapped[str | None] = mapped_column(String(64))

    enrolment: Mapped[Enrolment] = relationship()
    policy: Mapped[Policy] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.seq", viewonly=True
    )
    occurrences: Mapped[list[Occurrence]] = relationship(
        back_populates="case", order_by="Occurrence.number", viewonly=True
    )
    plans: Mapped[list[ActionPlan]] = relationship(
        back_populates="case", order_by="ActionPlan.id", viewonly=True
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.state} v{self.version}>"


class CaseEvent(db.Model):
    """One append-only audit event: a transition or any other change to a case. The database
    refuses to UPDATE or DELETE one (migration 0010), except to fill in its empty seal."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("attendance_case.id"))
    seq: Mapped[int]  # 1, 2, 3... within the case
    name: Mapped[str] = mapped_column(String(40))  # a workflow event or a change's name
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    actor_label: Mapped[str] = mapped_column(String(254))  # "scan" or the user's name and email
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC of its id, case, number and hash, set in the flush that inserts it (null only
    # inside that transaction).
    seal: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Occurrence(db.Model):
    """A new unauthorised absence period while below the threshold, counted once the previous
    occurrence was decided."""

    __tablename__ = "occurrence"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("attendance_case.id"))
    number: Mapped[int]
    detected_on: Mapped[date]
    absence_started_at: Mapped[datetime | None]  # first session of the absence period (local)
    first_mark_id: Mapped[int | None] = mapped_column(ForeignKey("mark.id", ondelete="SET NULL"))
    attendance_percent: Mapped[float | None]
    decision_due_on: Mapped[date]
    decided_by_event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="occurrences")


class ActionPlan(db.Model):
    """Targets, support agreed and review dates that came with an event; the newest one counts."""

    __tablename__ = "action_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("attendance_case.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_event.id"))
    targets: Mapped[list[str]] = mapped_column(JSON)
    support: Mapped[list[str]] = mapped_column(JSON)
    review_dates: Mapped[list[str]] = mapped_column(JSON)  # ISO dates
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="plans")
    reviews: Mapped[list[PlanReview]] = relationship(
        back_populates="plan", order_by="PlanReview.id", viewonly=True
    )


class ReviewOutcome(enum.StrEnum):
    MET = "met"
    PARTLY_MET = "partly_met"
    NOT_MET = "not_met"  # the plan is breached

    @property
    def label(self) -> str:
        return {"met": "target met", "partly_met": "partly met", "not_met": "not met"}[self.value]


class PlanReview(db.Model):
    """A mentor's progress review of an action plan."""

    __tablename__ = "plan_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("action_plan.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_event.id"))
    reviewed_on: Mapped[date]
    outcome: Mapped[ReviewOutcome] = mapped_column(str_enum(ReviewOutcome, "review_outcome"))
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))

    plan: Mapped[ActionPlan] = relationship(back_populates="reviews")


class DueKind(enum.StrEnum):
    DECISION = "decision"  # decide on a new occurrence
    PLAN_REVIEW = "plan_review"
    PANEL = "panel"
    REBOOK_ONE_TO_ONE = "rebook_one_to_one"  # a missed 1-2-1 to rebook
    MEDICAL_CERTIFICATE = "medical_certificate"  # illness beyond the policy's days

    @property
    def label(self) -> str:
        return {
            "decision": "Decision on a new occurrence",
            "plan_review": "Action plan review",
            "panel": "Panel",
            "rebook_one_to_one": "Rebook a missed 1-2-1",
            "medical_certificate": "Medical certificate",
        }[self.value]


class DueItem(db.Model):
    """Something due for a learner (and their case, if any) by a date."""

    __tablename__ = "due_item"
    # Each source gives one item however often the scan runs.
    __table_args__ = (UniqueConstraint("enrolment_id", "kind", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("attendance_case.id"), index=True)
    kind: Mapped[DueKind] = mapped_column(str_enum(DueKind, "due_kind"))
    source_key: Mapped[str] = mapped_column(String(80))  # e.g. "occurrence:<case>:<n>", "mark:<id>"
    description: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_since: Mapped[date | None]  # set by the scan


class LetterStatus(enum.StrEnum):
    PENDING = "pending"
    RENDERED = "rendered"
    FAILED = "failed"  # retried by the next run
    REFUSED = "refused"  # can never be sent as it stands (e.g. no one to reply to): not retried


class LetterApproval(enum.StrEnum):
    """Whether a letter waits for the head of programme before it is sent or shown to the
    learner (the policy's ``[letters] approval`` templates do)."""

    NOT_NEEDED = "not_needed"
    AWAITING = "awaiting"
    APPROVED = "approved"
    RETURNED = "returned"  # never sent: the head gave the reason in the note

    @property
    def released(self) -> bool:
        """May go out, and be shown to the learner."""
        return self in (LetterApproval.NOT_NEEDED, LetterApproval.APPROVED)


class LetterJob(db.Model):
    """A letter an event calls for, to one recipient; rendered after the event commits."""

    __tablename__ = "letter_job"
    __table_args__ = (UniqueConstraint("event_id", "template", "recipient_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("attendance_case.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_event.id"))
    template: Mapped[str] = mapped_column(String(40))
    recipient_kind: Mapped[str] = mapped_column(String(30))  # learner, parent_carer, employer...
    recipient_key: Mapped[str] = mapped_column(String(40))  # "learner" or "contact:<id>"
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    # How it reaches them: "post" (a postal address), "email" (none, but an email address:
    # sending is a later issue), "none" (neither: the case shows it so staff can fix it).
    channel: Mapped[str] = mapped_column(String(10), default="post", server_default="post")
    status: Mapped[LetterStatus] = mapped_column(
        str_enum(LetterStatus, "letter_status"), default=LetterStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Everything the letter says, as the event saw it (casework.cases.letter_snapshot): rendering
    # reads only this, so a letter rendered later or for a backdated scan says the same. Null
    # only on jobs recorded before 0007.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Rendered either way (the head reads it), but held back until approved; jobs recorded
    # before 0009 had gone out already.
    approval: Mapped[LetterApproval] = mapped_column(
        str_enum(LetterApproval, "letter_approval"),
        default=LetterApproval.NOT_NEEDED,
        server_default=LetterApproval.NOT_NEEDED.value,
    )
    approval_event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"))
    approval_note: Mapped[str | None] = mapped_column(Text)

    event: Mapped[CaseEvent] = relationship(foreign_keys=[event_id])


class ScanRun(db.Model):
    """One run of the nightly scan: what it found and did. Its row is written first, so two
    runs at once queue behind each other's write lock instead of racing."""

    __tablename__ = "scan_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_at: Mapped[date] = mapped_column(index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Letter(db.Model):
    """A rendered letter, kept for ever: downloading it again returns these exact bytes. Append-
    only like the audit events (migration 0010)."""

    __tablename__ = "letter"
    # One letter per event, template, recipient and template version, however often it runs.
    __table_args__ = (
        UniqueConstraint("event_id", "template", "recipient_key", "template_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("letter_job.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("attendance_case.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_event.id"))
    template: Mapped[str] = mapped_column(String(40))
    template_version: Mapped[str] = mapped_column(String(16))
    recipient_kind: Mapped[str] = mapped_column(String(30))
    recipient_key: Mapped[str] = mapped_column(String(40))
    recipient_name: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int]
    rendered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # HMAC of its id, job, case, event, learner, reference, SHA-256 and size (as for events).
    seal: Mapped[str | None] = mapped_column(String(64))
