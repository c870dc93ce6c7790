"""Each enrolment's attendance tallies over a window, kept up to date as its marks are written,
so the nightly scan reads one row per enrolment instead of recounting the year's marks."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db


class EnrolmentTally(db.Model):
    """The counts ``AttendanceFigures`` holds for every mark of an enrolment from
    ``window_start`` on (no end: ``last_session_at`` says up to when they reach)."""

    __tablename__ = "enrolment_tally"

    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), primary_key=True)
    window_start: Mapped[date] = mapped_column(primary_key=True)
    present: Mapped[int]
    late: Mapped[int]
    approved_activity: Mapped[int]
    authorised: Mapped[int]
    unauthorised: Mapped[int]
    not_counted: Mapped[int]
    after_close: Mapped[int]
    authorised_without_reason: Mapped[int]
    # Unevidenced illness absences following another (counted marks in order): the scan looks
    # for illness runs needing a medical certificate only where there is one.
    illness_pairs: Mapped[int]
    # Whether the last counted mark (not-counted ones aside) is an unevidenced illness absence:
    # what carries illness_pairs on when marks are appended. None (a tally from before the
    # column) is not known: the next write recounts, and ``casework tallies repair`` fills it.
    ends_ill: Mapped[bool | None]
    # The current absence period, if the last counted marks are one.
    period_sessions: Mapped[int | None]
    period_first_mark_id: Mapped[int | None]
    period_started_at: Mapped[datetime | None]
    # The start of the latest marked session counted (local time): the tallies answer for any
    # day on or after it; None when no mark counts.
    last_session_at: Mapped[datetime | None]
