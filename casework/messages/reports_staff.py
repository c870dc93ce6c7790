"""The reports staff get: the weekly list of learners below or approaching their policy's
threshold (per head of programme, and per tutor/mentor), and the registers not completed in the
policy's time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from casework.extensions import db
from casework.messages.reports_tables import (
    Recipient,
    Table,
    learners_on,
    local_now,
    long_date,
    on_register,
    session_label,
    sessions_on,
    staff_of,
    table,
)
from casework.models import DeliveryMode, Mark, Programme, ProgrammeRole, Session, User
from casework.policies.rules import PolicyRules
from casework.registers.thresholds import judge

WEEKLY_COLUMNS = (
    "Learner number",
    "Name",
    "Tutor or mentor",
    "Attendance",
    "Sessions attended",
    "Status",
    "Absence flag",
    "Concern",
)
REGISTER_COLUMNS = (
    "Session",
    "Mode",
    "Complete by",
    "Expected",
    "Marked",
    "Completed at",
    "Status",
)


def weekly_threshold(
    programme: Programme, rules: PolicyRules, day: date, moment: datetime
) -> list[Table]:
    """Learners below or approaching the threshold (within workflow.early_warning_margin_percent
    above it: the same early warning the scan and dashboards use), or flagged for persistent or
    severe absence, as at the end of the day before ``day``: one report for the heads of
    programme, and one for each tutor or mentor who has such learners."""
    as_at = day - timedelta(days=1)
    learners = learners_on(programme, rules, as_at, as_at)
    mentor_ids = {x.enrolment.mentor_id for x in learners} - {None}
    mentors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(mentor_ids)))}
    found: list[tuple[int | None, tuple]] = []
    for x in learners:
        verdict = judge(rules, x.figures)
        if not (verdict.below or verdict.approaching or x.flag):
            continue
        status = (
            f"{verdict.words} threshold"
            if verdict.below
            else ("approaching the threshold" if verdict.approaching else "")
        )
        mentor = mentors.get(x.enrolment.mentor_id)
        figures = x.figures
        found.append(
            (
                x.enrolment.mentor_id,
                (
                    x.learner.learner_ref,
                    x.learner.full_name,
                    mentor.name if mentor else "",
                    x.percent,
                    f"{figures.attended} of {figures.possible}",
                    status,
                    x.flag,
                    x.concern,
                ),
            )
        )
    heading = (
        f"Programme: {programme.title} ({programme.code})",
        f"Figures up to the end of {long_date(as_at)}",
        f"Threshold: {rules.attendance.threshold_words}; approaching: within "
        f"{rules.workflow.early_warning_margin_percent:g} points above it",
    )

    def weekly(suffix: str, who: str, rows: list[tuple], recipients: list[Recipient]) -> Table:
        return table(
            "weekly_threshold",
            programme,
            rules,
            day,
            f"programme:{programme.id}:{suffix}",
            title=f"Learners below or approaching the threshold, week of {long_date(day)}: {who}",
            heading=heading,
            columns=WEEKLY_COLUMNS,
            rows=rows,
            recipients=tuple(recipients),
        )

    tables = [
        weekly(
            "head",
            programme.title,
            [row for _m, row in found],
            staff_of(programme.id, ProgrammeRole.HEAD),
        )
    ]
    for mentor_id in sorted({m for m, _row in found if m is not None}):
        mentor = mentors[mentor_id]
        if not mentor.active:
            continue
        rows = [row for m, row in found if m == mentor_id]
        recipient = Recipient("staff", mentor.name, mentor.email, user_id=mentor.id)
        tables.append(weekly(f"mentor:{mentor_id}", mentor.name, rows, [recipient]))
    return tables


def register_deadline(session: Session, rules: PolicyRules) -> datetime:
    """When the session's register must be complete: within the policy's minutes of the start
    for a face-to-face session where it says so (001: 30), else by the end of its day."""
    within = rules.reports.face_to_face_registers_within_minutes
    if within is not None and session.delivery_mode is DeliveryMode.FACE_TO_FACE:
        return session.starts_at + timedelta(minutes=within)
    return datetime.combine(session.starts_at.date() + timedelta(days=1), time.min)


def register_state(session: Session) -> tuple[int, int, datetime | None]:
    """Expected marks, marks recorded, and when the register became complete (its last mark,
    UK time) if every learner on it has a mark."""
    expected_ids = on_register(session.programme_id, session.starts_at.date())
    expected = db.session.scalar(select(func.count()).select_from(expected_ids.subquery()))
    marked, last = db.session.execute(
        select(func.count(Mark.id), func.max(Mark.recorded_at)).where(
            Mark.session_id == session.id, Mark.enrolment_id.in_(expected_ids)
        )
    ).one()
    if isinstance(last, str):  # SQLite's max() over a typed column can give text
        last = datetime.fromisoformat(last)
    complete = marked >= expected and last is not None
    when = local_now(last if last.tzinfo else last.replace(tzinfo=UTC)) if complete else None
    return expected, marked, when


def registers_late(
    programme: Programme, rules: PolicyRules, day: date, moment: datetime
) -> list[Table]:
    """The day's sessions whose register was not complete by its deadline (late, or still
    not complete when the report was built)."""
    rows = []
    for session in sessions_on(programme.id, day):
        deadline = register_deadline(session, rules)
        expected, marked, completed = register_state(session)
        if not expected:
            continue
        if completed is not None and completed <= deadline:
            continue
        late = "completed late" if completed is not None else "not complete"
        rows.append(
            (
                session_label(session),
                session.delivery_mode.value.replace("_", " "),
                f"{deadline:%d %b %H:%M}",
                expected,
                marked,
                f"{completed:%d %b %H:%M}" if completed else "",
                late,
            )
        )
    return [
        table(
            "registers_late",
            programme,
            rules,
            day,
            f"programme:{programme.id}",
            title=f"Registers not completed in time, {long_date(day)}",
            heading=(
                f"Programme: {programme.title} ({programme.code})",
                f"Registers as at {moment:%H:%M} on {moment:%d %B %Y}",
                f"The policy: registers are complete {rules.registers.complete_by}",
            ),
            columns=REGISTER_COLUMNS,
            rows=rows,
            recipients=tuple(
                staff_of(programme.id, ProgrammeRole.HEAD, ProgrammeRole.ADMINISTRATION)
            ),
        )
    ]
