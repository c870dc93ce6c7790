"""The reports schools get, and the first-day calling list: the main school's daily report (004:
every student by 9:15), the commissioning school's present-or-absent report per session (002:
within 30 minutes of the start) and the day's calling list (004: absent, nobody in touch by 9:00).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from casework.extensions import db
from casework.messages.reports_tables import (
    ABSENT_CATEGORIES,
    PRESENT_CATEGORIES,
    Learning,
    Table,
    at_clock,
    day_marks,
    instant,
    learners_on,
    long_date,
    mark_cells,
    schools_of,
    session_label,
    sessions_on,
    staff_of,
    table,
)
from casework.models import Contact, ContactKind, Programme, ProgrammeRole, Session
from casework.policies.rules import PolicyRules

DAILY_COLUMNS = (
    "Learner number",
    "Name",
    "Session",
    "Attendance",
    "Mark",
    "Minutes late",
    "Absence reason",
    "Concern",
    "Attendance this year",
    "Absence flag",
)
SESSION_COLUMNS = ("Learner number", "Name", "Present or absent", "Mark", "Minutes late", "Reason")
CALLING_COLUMNS = ("Learner number", "Name", "Session", "Mark", "Parent or carer", "Telephone")
FLAG_NOTE = (
    "Absence flag: for pupils of compulsory school age, persistent absence is missing 10% or "
    "more of possible sessions this year and severe absence 50% or more (the statutory "
    "definitions)."
)


def _heading(programme: Programme, day: date, moment: datetime) -> tuple[str, ...]:
    return (
        f"Programme: {programme.title} ({programme.code})",
        f"Date: {long_date(day)}",
        f"Marks as recorded at {moment:%H:%M} on {moment:%d %B %Y}",
    )


def main_school_daily(
    programme: Programme, rules: PolicyRules, day: date, moment: datetime
) -> list[Table]:
    """Each main school's report of its students' day: one row per student and session (a
    student with no session that day says so), lateness, absences with reasons, concerns."""
    learners = learners_on(programme, rules, day, day)
    sessions = sessions_on(programme.id, day)
    day_marks(learners, day)
    tables = []
    for group in schools_of(learners):
        rows = []
        for x in group.learners:
            for session in sessions or [None]:
                if session is None:
                    cells: tuple = ("no session today", "", "", "")
                    label = ""
                else:
                    cells = mark_cells(x.marks.get(session.id))
                    label = session_label(session)
                rows.append(
                    (
                        x.learner.learner_ref,
                        x.learner.full_name,
                        label,
                        *cells,
                        x.concern,
                        x.percent,
                        x.flag,
                    )
                )
        tables.append(
            table(
                "main_school_daily",
                programme,
                rules,
                day,
                f"programme:{programme.id}:{group.key}",
                title=f"Daily attendance, {long_date(day)}: {group.name}",
                heading=_heading(programme, day, moment),
                columns=DAILY_COLUMNS,
                rows=rows,
                recipients=(group.recipient,),
                notes=(FLAG_NOTE,),
            )
        )
    return tables


def _present_or_absent(x: Learning, session: Session) -> tuple:
    row = x.marks.get(session.id)
    words, mark, late, reason = mark_cells(row)
    if row is None:
        state = words
    elif row.category in PRESENT_CATEGORIES:
        state = "present" if row.category != "late" else "present, late"
    elif row.category in ABSENT_CATEGORIES:
        state = "absent"
    else:
        state = words
    return (x.learner.learner_ref, x.learner.full_name, state, mark, late, reason)


def session_present_absent(
    programme: Programme,
    rules: PolicyRules,
    day: date,
    moment: datetime,
    sessions: list[Session] | None = None,
) -> list[Table]:
    """For each session (every one of the day unless given), each school's pupils on its
    register, present or absent; a pupil with no mark yet is "not yet marked"."""
    learners = learners_on(programme, rules, day, day)
    day_marks(learners, day)
    groups = schools_of(learners)
    tables = []
    for session in sessions if sessions is not None else sessions_on(programme.id, day):
        for group in groups:
            tables.append(
                table(
                    "session_present_absent",
                    programme,
                    rules,
                    day,
                    f"session:{session.id}:{group.key}",
                    session_id=session.id,
                    title=(
                        f"Present or absent: {session_label(session)}, {long_date(day)}: "
                        f"{group.name}"
                    ),
                    heading=_heading(programme, day, moment),
                    columns=SESSION_COLUMNS,
                    rows=[_present_or_absent(x, session) for x in group.learners],
                    recipients=(group.recipient,),
                )
            )
    return tables


def _made_contact(x: Learning, by: datetime) -> bool:
    """A parent or carer (or the school) told us by ``by``: an authorised absence recorded then."""
    return any(row.category == "authorised" and row.recorded_at <= by for row in x.marks.values())


def _first_absence(x: Learning, sessions: list[Session]):
    """The learner's first marked session of the day, if it was an absence."""
    for session in sessions:
        row = x.marks.get(session.id)
        if row is not None:
            return (session, row) if row.category in ABSENT_CATEGORIES else None
    return None


def first_day_calling(
    programme: Programme, rules: PolicyRules, day: date, moment: datetime
) -> list[Table]:
    """Students absent from their first session of the day whose absence nobody reported by
    contacts.parents_report_absence_by: the staff phone home, first day of absence."""
    deadline = rules.contacts.parents_report_absence_by or "09:00"
    by = instant(at_clock(day, deadline))
    learners = learners_on(programme, rules, day, day)
    sessions = sessions_on(programme.id, day)
    day_marks(learners, day)
    calling = []
    for x in learners:
        first = _first_absence(x, sessions)
        if first is not None and not _made_contact(x, by):
            calling.append((x, *first))
    parents = _parents(x.learner.id for x, _s, _r in calling)
    rows = []
    for x, session, row in calling:
        contacts = parents.get(x.learner.id) or [None]
        for contact in contacts:
            rows.append(
                (
                    x.learner.learner_ref,
                    x.learner.full_name,
                    session_label(session),
                    f"{row.code} {row.meaning}",
                    contact.name if contact else "no parent or carer recorded",
                    (contact.phone or "no telephone number") if contact else "",
                )
            )
    return [
        table(
            "first_day_calling",
            programme,
            rules,
            day,
            f"programme:{programme.id}",
            title=f"First-day calling list, {long_date(day)}",
            heading=_heading(programme, day, moment),
            columns=CALLING_COLUMNS,
            rows=rows,
            recipients=tuple(
                staff_of(programme.id, ProgrammeRole.HEAD, ProgrammeRole.ADMINISTRATION)
            ),
            notes=(
                f"Students absent from their first session with no contact from home by "
                f"{deadline}: phone their parent or carer today.",
            ),
        )
    ]


def _parents(learner_ids) -> dict[int, list[Contact]]:
    out: dict[int, list[Contact]] = {}
    for contact in db.session.scalars(
        select(Contact)
        .where(Contact.kind == ContactKind.PARENT_CARER, Contact.learner_id.in_(list(learner_ids)))
        .order_by(Contact.id)
    ):
        out.setdefault(contact.learner_id, []).append(contact)
    return out
