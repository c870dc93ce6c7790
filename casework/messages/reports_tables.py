"""What every report is made of: a table of plain data with its recipients, and the pieces the
reports share (a programme's learners on a day, their figures and flags, the day's marks, the
staff and schools told). The figures are casework.registers.figures'; nothing here counts
attendance another way."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import or_, select

from casework.extensions import db
from casework.fields import UK
from casework.models import (
    Case,
    CodeSet,
    Contact,
    ContactKind,
    Enrolment,
    EnrolmentStatus,
    Learner,
    Mark,
    MarkCategory,
    MarkCode,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Session,
    User,
    academic_year_of,
)
from casework.policies.rules import PolicyRules
from casework.registers.figures import AttendanceFigures, attendance_figures, counted_marks
from casework.registers.thresholds import window_start

C = MarkCategory
# The statutory definitions (DfE): missing 10% or more of possible sessions is persistent
# absence, 50% or more severe absence.
PERSISTENT = Fraction(1, 10)
SEVERE = Fraction(1, 2)
SCHOOL_LEAVING_AGE = 16  # on 31 August before the academic year: past compulsory school age

ATTENDANCE_WORDS = {
    C.PRESENT.value: "present",
    C.LATE.value: "late",
    C.APPROVED_ACTIVITY.value: "approved activity off site",
    C.AUTHORISED.value: "authorised absence",
    C.UNAUTHORISED.value: "unauthorised absence",
    C.NOT_COUNTED.value: "not required",
}
NOT_MARKED = "not yet marked"
PRESENT_CATEGORIES = (C.PRESENT.value, C.LATE.value, C.APPROVED_ACTIVITY.value)
ABSENT_CATEGORIES = (C.AUTHORISED.value, C.UNAUTHORISED.value)


class ReportError(ValueError):
    """A report that cannot be built as asked; the message says why in plain words."""


@dataclass(frozen=True)
class Recipient:
    kind: str  # main_school or staff
    name: str
    address: str | None
    contact_id: int | None = None
    user_id: int | None = None
    learner_id: int | None = None
    missing: str | None = None  # why it cannot be sent, in words staff can act on

    @property
    def suffix(self) -> str:
        if self.user_id is not None:
            return f"staff:{self.user_id}"
        return f"contact:{self.contact_id}" if self.contact_id is not None else "contact:none"


@dataclass(frozen=True)
class Table:
    """One report's content, before it is stored and sent."""

    key: str
    name: str
    day: date
    programme_id: int
    title: str
    author: str
    heading: tuple[str, ...]
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    recipients: tuple[Recipient, ...]
    notes: tuple[str, ...] = ()
    session_id: int | None = None


def table(
    name: str, programme: Programme, rules: PolicyRules, day: date, where: str, **fields: Any
) -> Table:
    """A report's table, keyed by its name, day and ``where`` (its programme or session, and
    for whom): building it again gives the same key."""
    return Table(
        key=f"{name}:{day}:{where}",
        name=name,
        day=day,
        programme_id=programme.id,
        author=rules.provider,
        **fields,
    )


@dataclass
class Learning:
    """A learner on the programme's register for the day, with what the reports say of them."""

    enrolment: Enrolment
    learner: Learner
    figures: AttendanceFigures
    concern: str = ""
    flag: str = ""
    marks: dict[int, Any] = field(default_factory=dict)  # session id -> the day's mark row

    @property
    def percent(self) -> str:
        p = self.figures.attendance_percent
        return "" if p is None else f"{p:.1f}%"


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def local_now(now: datetime) -> datetime:
    """The instant as UK wall-clock time, naive, as sessions are kept."""
    return now.astimezone(UK).replace(tzinfo=None)


def instant(local: datetime) -> datetime:
    """A UK wall-clock time as an aware UTC instant (stored datetimes are UTC)."""
    return local.replace(tzinfo=UK).astimezone(UTC)


def at_clock(day: date, clock: str, minus_minutes: int = 0) -> datetime:
    hours, minutes = (int(x) for x in clock.split(":"))
    return datetime.combine(day, time(hours, minutes)) - timedelta(minutes=minus_minutes)


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sessions_on(programme_id: int, day: date) -> list[Session]:
    start = datetime.combine(day, time.min)
    return list(
        db.session.scalars(
            select(Session)
            .where(
                Session.programme_id == programme_id,
                Session.starts_at >= start,
                Session.starts_at < start + timedelta(days=1),
            )
            .order_by(Session.starts_at, Session.id)
        )
    )


def on_register(programme_id: int, day: date):
    """The enrolments a session of this programme on ``day`` expects a mark for."""
    return select(Enrolment.id).where(
        Enrolment.programme_id == programme_id,
        Enrolment.start_date <= day,
        or_(Enrolment.end_date.is_(None), Enrolment.end_date >= day),
        or_(Enrolment.status == EnrolmentStatus.ACTIVE, Enrolment.end_date.is_not(None)),
    )


def school_age(learner: Learner, rules: PolicyRules, day: date) -> bool:
    """Compulsory school age: the statutory code set's pupils under 16 on the 31 August before
    the academic year (they stay of school age until that year ends)."""
    if rules.code_set is not CodeSet.STATUTORY:
        return False
    return learner.age_on(date(academic_year_of(day), 8, 31)) < SCHOOL_LEAVING_AGE


def absence_flag(figures: AttendanceFigures, rules: PolicyRules) -> str:
    """ "severe absence" (50% or more of possible sessions missed), "persistent absence" (10% or
    more), or nothing; judged once the policy's minimum sessions are reached."""
    if figures.possible < rules.attendance.minimum_sessions or not figures.possible:
        return ""
    missed = Fraction(figures.sessions_missed, figures.possible)
    if missed >= SEVERE:
        return "severe absence"
    return "persistent absence" if missed >= PERSISTENT else ""


def learners_on(programme: Programme, rules: PolicyRules, day: date, as_at: date) -> list[Learning]:
    """Everyone on the programme's register on ``day``, by name, with their figures over the
    policy's window as at the end of ``as_at``, their open case's stage and their flag."""
    rows = db.session.execute(
        select(Enrolment, Learner)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .where(Enrolment.id.in_(on_register(programme.id, day)))
        .order_by(Learner.family_name, Learner.given_name, Learner.learner_ref)
    ).all()
    ids = [e.id for e, _l in rows]
    figures = attendance_figures(as_at, since=window_start(rules, as_at), enrolment_ids=ids)
    stages = dict(
        db.session.execute(
            select(Case.enrolment_id, Case.state).where(
                Case.enrolment_id.in_(ids), Case.ended_at.is_(None)
            )
        ).all()
    )
    out = []
    for enrolment, learner in rows:
        figs = figures[enrolment.id]
        stage = stages.get(enrolment.id)
        out.append(
            Learning(
                enrolment,
                learner,
                figs,
                concern=f"open case: {rules.workflow.stage_name(stage)}" if stage else "",
                flag=absence_flag(figs, rules) if school_age(learner, rules, as_at) else "",
            )
        )
    return out


def day_marks(learners: Sequence[Learning], day: date) -> None:
    """Fill each learner's marks for ``day``: the effective category (a late arrival past the
    register's close is an unauthorised absence), code, minutes late, reason and when recorded."""
    by_enrolment = {x.enrolment.id: x for x in learners}
    if not by_enrolment:
        return
    marks = counted_marks(day, day, list(by_enrolment)).subquery("m")
    rows = db.session.execute(
        select(
            marks.c.enrolment_id,
            marks.c.session_id,
            marks.c.category,
            marks.c.reason,
            MarkCode.code,
            MarkCode.meaning,
            Mark.minutes_late,
            Mark.recorded_at,
        )
        .join(Mark, Mark.id == marks.c.mark_id)
        .join(MarkCode, MarkCode.id == Mark.code_id)
    )
    for row in rows:
        by_enrolment[row.enrolment_id].marks[row.session_id] = row


def mark_cells(row: Any) -> tuple[str, str, Any, str]:
    """Attendance in words, the code and its meaning, minutes late, the absence reason."""
    if row is None:
        return NOT_MARKED, "", "", ""
    reason = (row.reason or "").replace("_", " ")
    return ATTENDANCE_WORDS[row.category], f"{row.code} {row.meaning}", row.minutes_late, reason


def session_label(session: Session) -> str:
    title = session.title or session.kind.value.replace("_", " ").capitalize()
    return f"{title} ({session.starts_at:%H:%M})"


def staff_of(programme_id: int, *roles: ProgrammeRole) -> list[Recipient]:
    users = db.session.scalars(
        select(User)
        .join(ProgrammeStaff, ProgrammeStaff.user_id == User.id)
        .where(
            ProgrammeStaff.programme_id == programme_id,
            ProgrammeStaff.role.in_(roles),
            User.active.is_(True),
        )
        .distinct()
        .order_by(User.id)
    )
    return [Recipient("staff", u.name, u.email, user_id=u.id) for u in users]


@dataclass
class SchoolGroup:
    """The learners one main school is told about (one email address), or the learners whose
    school cannot be told (no address, or no main school at all)."""

    key: str
    name: str
    recipient: Recipient
    learners: list[Learning] = field(default_factory=list)


def schools_of(learners: Iterable[Learning]) -> list[SchoolGroup]:
    """Each learner under each main school contact, grouped by the school's email address, so
    that a school is told of its own pupils only, in one message."""
    learners = list(learners)
    contacts = db.session.scalars(
        select(Contact)
        .where(
            Contact.kind == ContactKind.MAIN_SCHOOL,
            Contact.learner_id.in_([x.learner.id for x in learners]),
        )
        .order_by(Contact.id)
    ).all()
    by_learner: dict[int, list[Contact]] = {}
    for contact in contacts:
        by_learner.setdefault(contact.learner_id, []).append(contact)
    groups: dict[str, SchoolGroup] = {}
    for learning in learners:
        mine = by_learner.get(learning.learner.id)
        if not mine:
            group = groups.get("none")
            if group is None:
                missing = "These learners have no main school contact: add their main school."
                group = groups["none"] = SchoolGroup(
                    "none",
                    "learners with no main school",
                    Recipient("main_school", "No main school", None, missing=missing),
                )
            group.learners.append(learning)
            continue
        for contact in mine:
            email = (contact.email or "").strip()
            key = f"school:{short_hash(email.lower())}" if email else f"contact:{contact.id}"
            group = groups.get(key)
            if group is None:
                missing = (
                    None
                    if email
                    else (
                        f"{contact.name}, main school of {learning.learner.full_name}, has no "
                        "email address: add one so that the school gets its attendance reports."
                    )
                )
                recipient = Recipient(
                    "main_school",
                    contact.name,
                    email or None,
                    contact_id=contact.id,
                    missing=missing,
                )
                group = groups[key] = SchoolGroup(key, contact.name, recipient)
            if not any(x is learning for x in group.learners):
                group.learners.append(learning)
    return list(groups.values())
