"""Reports, built once and kept: each as CSV and PDF in a ``Report`` row (its key is unique, so
building twice finds the row), and queued to its recipients in the outbox (kind REPORT; the
sender attaches the two files).

``build_due(now)`` builds every report whose time has come for the policies that call for it
(``casework send-due`` runs it every minute); ``build(name, day)`` builds one on demand
(``casework report``). When each is due:

- main_school_daily: contacts.main_school_told_by less reports.send_ahead_minutes (004: 09:05);
- first_day_calling: the same time (after contacts.parents_report_absence_by), where
  contacts.first_day_calling;
- session_present_absent: contacts.school_told_within_minutes less send_ahead_minutes after the
  session starts (002: start + 20 minutes), or earlier once every pupil on it has a mark;
- weekly_threshold: reports.weekly_on at reports.weekly_at;
- registers_late: reports.registers_at, for the day before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from casework.documents.tables import csv_bytes, report_pdf
from casework.extensions import db
from casework.messages.reports_schools import (
    first_day_calling,
    main_school_daily,
    session_present_absent,
)
from casework.messages.reports_staff import register_state, registers_late, weekly_threshold
from casework.messages.reports_tables import (
    ReportError,
    Table,
    at_clock,
    local_now,
    sessions_on,
)
from casework.models import (
    MessageChannel,
    MessageKind,
    MessageStatus,
    Policy,
    Programme,
    Report,
    Session,
    queue_message,
)
from casework.models.types import utcnow
from casework.policies.rules import PolicyRules, rules_of

__all__ = ["NAMES", "ReportError", "ReportsFailed", "build", "build_due", "called_for"]

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Kind:
    builder: Callable[..., list[Table]]
    # Whether a policy calls for the report (the CLI refuses a programme whose policy does not).
    called_for: Callable[[PolicyRules], bool]
    why_not: str


KINDS: dict[str, Kind] = {
    "main_school_daily": Kind(
        main_school_daily,
        lambda r: r.contacts.main_school_told_by is not None,
        "its policy sets no time for the main school's daily report (contacts.main_school_told_by)",
    ),
    "session_present_absent": Kind(
        session_present_absent,
        lambda r: r.contacts.school_told_within_minutes is not None,
        "its policy does not tell schools of each session (contacts.school_told_within_minutes)",
    ),
    "first_day_calling": Kind(
        first_day_calling,
        lambda r: r.contacts.first_day_calling,
        "its policy has no first-day calling (contacts.first_day_calling)",
    ),
    "weekly_threshold": Kind(
        weekly_threshold,
        lambda r: r.reports.weekly_on is not None,
        "its policy has no weekly threshold report (reports.weekly_on)",
    ),
    "registers_late": Kind(
        registers_late,
        lambda r: r.reports.registers_at is not None,
        "its policy has no registers report (reports.registers_at)",
    ),
}
NAMES = tuple(KINDS)


def called_for(name: str, rules: PolicyRules) -> bool:
    return KINDS[name].called_for(rules)


def _programmes() -> list[tuple[Programme, PolicyRules]]:
    rows = db.session.execute(
        select(Programme, Policy)
        .join(Policy, Policy.id == Programme.policy_id)
        .order_by(Programme.id)
    ).all()
    return [(programme, rules_of(policy)) for programme, policy in rows]


def build(
    name: str,
    day: date,
    programme: Programme | None = None,
    *,
    now: datetime | None = None,
    queue: bool = False,
) -> list[Report]:
    """Build report ``name`` for ``day``: for ``programme``, or for every programme whose policy
    calls for it. A report built before is found, not built again. ``queue`` also queues it to
    its recipients (``build_due`` does; the CLI, writing files on demand, does not). Commits."""
    kind = KINDS.get(name)
    if kind is None:
        raise ReportError(f"There is no report called {name!r}: choose one of {', '.join(NAMES)}.")
    now = now or utcnow()
    if programme is not None:
        rules = rules_of(programme.policy)
        if not kind.called_for(rules):
            raise ReportError(f"Programme {programme.code} has no {name} report: {kind.why_not}.")
        chosen = [(programme, rules)]
    else:
        chosen = [(p, r) for p, r in _programmes() if kind.called_for(r)]
    moment = local_now(now)
    reports = []
    for prog, rules in chosen:
        reports += _keep(kind.builder(prog, rules, day, moment), now, queue)
    db.session.commit()
    return reports


class ReportsFailed(Exception):
    """Some programmes' due reports could not be built: the others were, and are in ``built``."""

    def __init__(self, built: list[Report], failed: list[str]) -> None:
        super().__init__(
            f"the reports due for {', '.join(failed)} could not be built (the log says why); "
            "the next run tries again"
        )
        self.built = built
        self.failed = failed


def build_due(now: datetime | None = None) -> list[Report]:
    """Build (and queue) every report whose time has come today and is not built yet. Safe to
    run every minute, and by two processes at once: a report's key is unique, and the loser of
    a race finds the winner's row. Commits programme by programme: one programme whose reports
    fail (raising ReportsFailed at the end) keeps no other school waiting."""
    now = now or utcnow()
    moment = local_now(now)
    today = moment.date()
    built = _built_since(today - timedelta(days=1))
    reports: list[Report] = []
    failed: list[str] = []
    for programme, rules in _programmes():
        code = programme.code
        try:
            mine = []
            for name, day, sessions in _due(programme, rules, moment, built):
                tables = KINDS[name].builder(programme, rules, day, moment, *sessions)
                mine += _keep(tables, now, True)
            db.session.commit()
        except Exception:  # any fault of one programme's data or rendering
            db.session.rollback()
            log.exception("building the reports due for programme %s failed", code)
            failed.append(code)
        else:
            reports += mine
    if failed:
        raise ReportsFailed(reports, failed)
    return reports


def _built_since(day: date) -> set[tuple]:
    """What is built already: (name, programme, day) and (session,) for session reports."""
    done: set[tuple] = set()
    for name, programme_id, report_day, session_id in db.session.execute(
        select(Report.name, Report.programme_id, Report.report_date, Report.session_id).where(
            Report.report_date >= day
        )
    ):
        done.add((name, programme_id, report_day))
        if session_id is not None:
            done.add(("session", session_id))
    return done


def _due(
    programme: Programme, rules: PolicyRules, moment: datetime, built: set[tuple]
) -> Iterable[tuple[str, date, tuple]]:
    today = moment.date()
    ahead = rules.reports.send_ahead_minutes
    contacts = rules.contacts

    def waiting(name: str, day: date) -> bool:
        return (name, programme.id, day) not in built

    todays: list[Session] | None = None

    def sessions() -> list[Session]:
        nonlocal todays
        if todays is None:
            todays = sessions_on(programme.id, today)
        return todays

    if contacts.main_school_told_by:
        at = at_clock(today, contacts.main_school_told_by, ahead)
        for name in ("main_school_daily", "first_day_calling"):
            if name == "first_day_calling" and not contacts.first_day_calling:
                continue
            if moment >= at and waiting(name, today) and sessions():
                yield name, today, ()
    elif contacts.first_day_calling and contacts.parents_report_absence_by:
        at = at_clock(today, contacts.parents_report_absence_by)
        if moment >= at and waiting("first_day_calling", today) and sessions():
            yield "first_day_calling", today, ()
    if contacts.school_told_within_minutes:
        after = timedelta(minutes=contacts.school_told_within_minutes - ahead)
        due = [
            s
            for s in sessions()
            if s.starts_at <= moment
            and ("session", s.id) not in built
            and (moment >= s.starts_at + after or _register_complete(s))
        ]
        if due:
            yield "session_present_absent", today, (due,)
    reports = rules.reports
    weekly = reports.weekly_on and WEEKDAYS[today.weekday()] == reports.weekly_on
    if (
        weekly
        and moment >= at_clock(today, reports.weekly_at)
        and waiting("weekly_threshold", today)
    ):
        yield "weekly_threshold", today, ()
    if reports.registers_at and moment >= at_clock(today, reports.registers_at):
        yesterday = today - timedelta(days=1)
        if waiting("registers_late", yesterday) and sessions_on(programme.id, yesterday):
            yield "registers_late", yesterday, ()


def _register_complete(session: Session) -> bool:
    expected, marked, _when = register_state(session)
    return bool(expected) and marked >= expected


def _keep(tables: list[Table], now: datetime, queue: bool) -> list[Report]:
    """Store each table as a Report (or find the one stored under its key) and queue it."""
    out = []
    for table in tables:
        report = db.session.scalar(select(Report).where(Report.key == table.key))
        if report is None:
            try:
                with db.session.begin_nested():
                    report = _store(table, now)
                    if queue:
                        _queue(report, table, now)
            except IntegrityError:  # another process built it first
                report = db.session.scalar(select(Report).where(Report.key == table.key))
        elif queue:
            _queue(report, table, now)
        if report is not None:
            out.append(report)
    return out


def _store(table: Table, now: datetime) -> Report:
    report = Report(
        key=table.key,
        name=table.name,
        report_date=table.day,
        programme_id=table.programme_id,
        session_id=table.session_id,
        title=table.title[:200],
        rows=len(table.rows),
        csv=csv_bytes(table.columns, table.rows),
        pdf=report_pdf(
            title=table.title,
            author=table.author,
            day=table.day,
            heading=table.heading,
            columns=table.columns,
            rows=table.rows,
            notes=table.notes,
        ),
        built_at=now,
    )
    db.session.add(report)
    db.session.flush()
    return report


def _body(table: Table) -> str:
    count = len(table.rows)
    held = "Nothing to report." if not count else f"{count} {'line' if count == 1 else 'lines'}."
    return (
        f"{table.title}\n\n{table.author}: {held} The report is attached as a CSV file "
        "(for a spreadsheet) and as a PDF (to read or print)."
    )


def _queue(report: Report, table: Table, now: datetime) -> None:
    for recipient in table.recipients:
        fields = dict(
            key=f"report:{report.key}:{recipient.suffix}",
            kind=MessageKind.REPORT,
            channel=MessageChannel.EMAIL,
            programme_id=table.programme_id,
            learner_id=recipient.learner_id,
            contact_id=recipient.contact_id,
            recipient_kind=recipient.kind,
            recipient_name=recipient.name[:200],
            address=recipient.address,
            subject=table.title[:200],
            body=_body(table),
            report_id=report.id,
            due_at=now,
            next_attempt_at=now,
        )
        if recipient.missing or not recipient.address:
            fields.update(
                status=MessageStatus.NO_ADDRESS,
                reason=recipient.missing or f"{recipient.name} has no email address.",
            )
        queue_message(**fields)
