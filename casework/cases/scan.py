"""The nightly scan: every active enrolment judged against its policy as at a date.

Set-based: attendance figures come from the enrolments' tallies (one row each, kept as marks
are written) where they answer for the day, else from one aggregate query per policy window; new
absence periods and illness runs (only where the tallies show two unevidenced illness absences in
a row) from window-function queries; only what changes is written. Idempotent (a second run for
the same date finds nothing new) and serialised: the run's own row is written first, which takes
the database's write lock (SQLite) and, on PostgreSQL, the marks' advisory lock
(casework.registers.marks_lock), so two runs at once cannot both open the same case, and no
register import commits between the scan's reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from casework.cases import service
from casework.extensions import db
from casework.machines.events import Change
from casework.machines.workflow import Event
from casework.models import (
    Case,
    DueItem,
    DueKind,
    Enrolment,
    EnrolmentStatus,
    Learner,
    Mark,
    MarkCategory,
    Occurrence,
    Policy,
    Programme,
    ProgrammeStaff,
    ScanRun,
    Session,
    SessionKind,
)
from casework.models.types import utcnow
from casework.policies.rules import rules_of
from casework.registers.figures import (
    AttendanceFigures,
    attendance_figures,
    illness_absence,
    in_session_order,
)
from casework.registers.figures import counted_marks as _marks
from casework.registers.marks_lock import lock_marks_for_scan
from casework.registers.tallies import may_need_certificates, tallied_figures
from casework.registers.thresholds import Judgement, judge, window_start
from casework.sqlfuncs import date_of
from casework.workdays import add_working_days

LOCAL = ZoneInfo("Europe/London")  # sessions are kept in local time
_CHUNK = 500
_CANDIDATES = 5_000  # enrolments per illness-run query (bound parameters stay well in limits)
_UNAUTHORISED = MarkCategory.UNAUTHORISED.value


@dataclass
class ScanReport:
    as_at: str
    evaluated: int = 0
    too_few_sessions: int = 0
    below_threshold: int = 0
    cases_opened: list[int] = field(default_factory=list)
    occurrences_recorded: list[int] = field(default_factory=list)
    decisions_due: int = 0
    items_marked_overdue: int = 0
    approaching_flagged: int = 0
    approaching_cleared: int = 0
    rebook_items: int = 0
    medical_certificate_items: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.cases_opened
            or self.occurrences_recorded
            or self.items_marked_overdue
            or self.approaching_flagged
            or self.approaching_cleared
            or self.rebook_items
            or self.medical_certificate_items
        )

    def lines(self) -> list[str]:
        return [
            f"Scan as at {self.as_at}: {self.evaluated} active enrolments evaluated "
            f"({self.too_few_sessions} with too few sessions to judge).",
            f"Below threshold: {self.below_threshold}; cases opened: {len(self.cases_opened)}; "
            f"new occurrences: {len(self.occurrences_recorded)}.",
            f"Decisions waiting: {self.decisions_due}; items newly overdue: "
            f"{self.items_marked_overdue}.",
            f"Approaching the threshold: {self.approaching_flagged} newly flagged, "
            f"{self.approaching_cleared} cleared.",
            f"Missed 1-2-1s to rebook: {self.rebook_items}; medical certificates needed: "
            f"{self.medical_certificate_items}.",
        ]


def run_scan(as_at: date, on_progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan every active enrolment as at the end of ``as_at``; commits once.
    ``on_progress(steps done, steps)`` is called after each of the scan's steps."""
    report = ScanReport(as_at=as_at.isoformat())
    try:
        _lock()
        run = ScanRun(as_at=as_at)
        db.session.add(run)
        db.session.flush()  # the write that queues a second SQLite scan behind this one
        _scan(as_at, report, on_progress or (lambda _done, _total: None))
        run.finished_at = utcnow()
        run.report = asdict(report)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return report


def _lock() -> None:
    lock_marks_for_scan()


def _active(as_at: date):
    return (
        select(Enrolment.id, Programme.policy_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .where(Enrolment.status == EnrolmentStatus.ACTIVE)
        .where(Enrolment.start_date <= as_at)
        .where(or_(Enrolment.end_date.is_(None), Enrolment.end_date >= as_at))
    )


_STEPS = 7  # the figures, then each of the six passes below


def _scan(as_at: date, report: ScanReport, on_progress: Callable[[int, int], None]) -> None:
    by_policy: dict[int, list[int]] = defaultdict(list)
    for enrolment_id, policy_id in db.session.execute(_active(as_at)):
        by_policy[policy_id].append(enrolment_id)
    policies = {p.id: p for p in db.session.scalars(select(Policy))}
    # Policies sharing a window share one figures query.
    by_window: dict[date, list[int]] = defaultdict(list)
    for policy_id in by_policy:
        by_window[window_start(rules_of(policies[policy_id]), as_at)].append(policy_id)
    figures: dict[int, AttendanceFigures] = {}
    since_of: dict[int, date] = {}
    for since, policy_ids in by_window.items():
        ids = [e for p in policy_ids for e in by_policy[p]]
        # The tallies where they answer for the day; a recount for the rest.
        found, recount = tallied_figures(as_at, since, ids)
        if recount:
            whole = len(by_window) == 1 and len(recount) == len(ids)
            found.update(
                attendance_figures(as_at, since=since, enrolment_ids=None if whole else recount)
            )
        for eid in ids:
            figures[eid] = found[eid]
            since_of[eid] = since

    judgements: dict[int, Judgement] = {}
    policy_of: dict[int, Any] = {}
    for policy_id, ids in by_policy.items():
        rules = rules_of(policies[policy_id])
        for eid in ids:
            judgements[eid] = judge(rules, figures[eid])
            policy_of[eid] = policies[policy_id]
    report.evaluated = len(judgements)
    report.too_few_sessions = sum(not j.evaluable for j in judgements.values())
    below = {eid for eid, j in judgements.items() if j.below}
    report.below_threshold = len(below)
    on_progress(1, _STEPS)

    open_cases = {
        c.enrolment_id: c for c in db.session.scalars(select(Case).where(Case.ended_at.is_(None)))
    }
    passes = [
        lambda: _open_cases(as_at, report, below - open_cases.keys(), judgements, figures),
        lambda: _occurrences(as_at, report, open_cases, below, judgements, figures, since_of),
        lambda: _approaching(as_at, report, judgements, open_cases),
        lambda: _rebook(as_at, report, by_policy, policies, since_of),
        lambda: _medical(as_at, report, by_policy, policies, since_of),
        lambda: _overdue(as_at, report),
    ]
    for done, step in enumerate(passes, start=2):
        step()
        on_progress(done, _STEPS)


def _open_cases(as_at, report, to_open, judgements, figures) -> None:
    ids = sorted(to_open)
    for start in range(0, len(ids), _CHUNK):
        chunk = db.session.scalars(
            select(Enrolment)
            .where(Enrolment.id.in_(ids[start : start + _CHUNK]))
            .options(
                selectinload(Enrolment.learner).selectinload(Learner.contacts),
                selectinload(Enrolment.programme).selectinload(Programme.policy),
                selectinload(Enrolment.programme)
                .selectinload(Programme.staff_links)
                .selectinload(ProgrammeStaff.user),
                selectinload(Enrolment.mentor),
            )
        ).all()
        requests = []
        for enrolment in chunk:
            judgement = judgements[enrolment.id]
            note = (
                f"The nightly scan found attendance at {judgement.percent:.1f}%, {judgement.words}."
            )
            requests.append(
                service.Request(
                    service.new_case(enrolment, as_at),
                    Event.OPEN.value,
                    note,
                    {},
                    judgement,
                    figures[enrolment.id],
                )
            )
        for result in service.act_batch(requests, as_at):
            report.cases_opened.append(result.case.id)


def _occurrences(as_at, report, open_cases, below, judgements, figures, since_of) -> None:
    """Cases waiting for no decision whose learner, still below, began a new absence period
    after the last decision."""
    decided_at: dict[int, datetime] = {}
    candidates = [c for eid, c in open_cases.items() if eid in below and c.decision_due_on is None]
    if not candidates:
        return
    case_ids = [c.id for c in candidates]
    for case_id, decided in db.session.execute(
        select(Occurrence.case_id, func.max(Occurrence.decided_at))
        .where(Occurrence.case_id.in_(case_ids))
        .group_by(Occurrence.case_id)
    ):
        if decided is not None:
            decided_at[case_id] = decided.astimezone(LOCAL).replace(tzinfo=None)
    by_enrolment = {c.enrolment_id: c for c in candidates if c.id in decided_at}
    starts = _new_period_starts(as_at, by_enrolment, decided_at, since_of)
    requests = []
    for eid, (mark_id, started_at, _sessions) in sorted(starts.items()):
        case = by_enrolment[eid]
        judgement = judgements[eid]
        requests.append(
            service.Request(
                case,
                Change.RECORD_OCCURRENCE.value,
                f"Occurrence {case.occurrence_count + 1}: a new absence period began on "
                f"{started_at:%d %B %Y} with attendance at {judgement.percent:.1f}%, "
                f"{judgement.words}.",
                {
                    "attendance_percent": judgement.percent,
                    "absence_started_at": started_at.isoformat(),
                    "first_mark_id": mark_id,
                },
                judgement,
                figures[eid],
            )
        )
    for result in service.act_batch(requests, as_at):
        report.occurrences_recorded.append(result.case.id)


def _new_period_starts(as_at, by_enrolment, decided_at, since_of):
    """enrolment -> (first mark, start, sessions so far) of its first absence period that began
    after its case's last decision."""
    out: dict[int, tuple[int, datetime, int]] = {}
    ids = sorted(by_enrolment)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        since = min(since_of[e] for e in chunk)
        cutoff = min(decided_at[by_enrolment[e].id] for e in chunk)
        marks = _marks(as_at, since, chunk).subquery("m")
        counted = in_session_order(
            marks,
            marks.c.enrolment_id,
            marks.c.mark_id,
            marks.c.starts_at,
            marks.c.category,
            previous=func.lag(marks.c.category),
        ).subquery("c")
        rows = db.session.execute(
            select(
                counted.c.enrolment_id,
                counted.c.mark_id,
                counted.c.starts_at,
                counted.c.category,
                counted.c.previous,
            )
            .where(counted.c.starts_at > cutoff)
            .order_by(counted.c.enrolment_id, counted.c.starts_at)
        )
        current: dict[int, list[Any]] = {}
        for eid, mark_id, starts_at, category, previous in rows:
            if eid in out:
                continue
            after = starts_at > decided_at[by_enrolment[eid].id]
            if eid in current:
                if category == _UNAUTHORISED:
                    current[eid][2] += 1
                    continue
                out[eid] = tuple(current.pop(eid))  # type: ignore[assignment]
                continue
            if after and category == _UNAUTHORISED and previous != _UNAUTHORISED:
                current[eid] = [mark_id, starts_at, 1]
        for eid, values in current.items():
            out.setdefault(eid, tuple(values))  # type: ignore[arg-type]
    return out


def _approaching(as_at, report, judgements, open_cases) -> None:
    flagged = set(
        db.session.scalars(
            select(Enrolment.id).where(Enrolment.approaching_threshold_since.is_not(None))
        )
    )
    wanted = {eid for eid, j in judgements.items() if j.approaching and eid not in open_cases}
    to_flag, to_clear = sorted(wanted - flagged), sorted(flagged - wanted)
    for ids, value in ((to_flag, as_at), (to_clear, None)):
        for start in range(0, len(ids), _CHUNK):
            db.session.execute(
                update(Enrolment)
                .where(Enrolment.id.in_(ids[start : start + _CHUNK]))
                .values(approaching_threshold_since=value)
                .execution_options(synchronize_session=False)
            )
    report.approaching_flagged, report.approaching_cleared = len(to_flag), len(to_clear)


def _add_due_items(kind: DueKind, candidates: Iterable[tuple[int, str, str, date]]) -> int:
    """Insert (enrolment, source key, description, due on) items not already there, in one
    statement, attached to the enrolment's open case if it has one; how many were new."""
    existing = set(
        db.session.execute(
            select(DueItem.enrolment_id, DueItem.source_key).where(DueItem.kind == kind)
        ).all()
    )
    cases = dict(
        db.session.execute(select(Case.enrolment_id, Case.id).where(Case.ended_at.is_(None))).all()
    )
    new = [
        {
            "enrolment_id": eid,
            "case_id": cases.get(eid),
            "kind": kind,
            "source_key": key,
            "description": description,
            "due_on": due_on,
        }
        for eid, key, description, due_on in candidates
        if (eid, key) not in existing
    ]
    if new:
        db.session.execute(DueItem.__table__.insert(), new)
    return len(new)


def _rebook(as_at, report, by_policy, policies, since_of) -> None:
    """Each unauthorised absence from a 1-2-1 is to be rebooked within the policy's days."""
    rows = []
    for policy_id, ids in by_policy.items():
        days = rules_of(policies[policy_id]).deadlines.rebook_one_to_one_working_days
        if not days or not ids:
            continue
        since = min(since_of[e] for e in ids)
        whole = len(by_policy) == 1
        # The marks of 1-2-1 sessions only, found through the mark's session index.
        one_to_one = select(Session.id).where(Session.kind == SessionKind.ONE_TO_ONE)
        marks = (
            _marks(as_at, since, None if whole else ids)
            .where(Mark.session_id.in_(one_to_one))
            .subquery("m")
        )
        query = select(marks.c.enrolment_id, marks.c.mark_id, marks.c.starts_at).where(
            marks.c.category == _UNAUTHORISED
        )
        rows += [(eid, mid, at, days) for eid, mid, at in db.session.execute(query)]
    if not rows:
        return
    report.rebook_items = _add_due_items(
        DueKind.REBOOK_ONE_TO_ONE,
        (
            (
                eid,
                f"mark:{mark_id}",
                f"Rebook the 1-2-1 missed on {starts_at:%d %B %Y}",
                add_working_days(starts_at.date(), days),
            )
            for eid, mark_id, starts_at, days in rows
        ),
    )


def _medical(as_at, report, by_policy, policies, since_of) -> None:
    """Illness runs (consecutive counted marks with the reason illness) longer than the
    policy's days, with no evidence recorded, need a medical certificate."""
    runs = []
    for policy_id, ids in by_policy.items():
        days = rules_of(policies[policy_id]).absence.medical_certificate_after_days
        if not days or not ids:
            continue
        since = min(since_of[e] for e in ids)
        # Only enrolments whose tallies leave room for such a run (most have none).
        candidates = may_need_certificates(since, None if len(by_policy) == 1 else ids)
        for start in range(0, len(candidates), _CANDIDATES):
            chunk = candidates[start : start + _CANDIDATES]
            runs += _illness_runs(as_at, since, days, chunk)
    if not runs:
        return
    report.medical_certificate_items = _add_due_items(
        DueKind.MEDICAL_CERTIFICATE,
        (
            (
                eid,
                f"illness:{first_mark}",
                f"Medical certificate for illness from {first_day:%d %B %Y} "
                f"(more than {days} days)",
                first_day + timedelta(days=days),
            )
            for eid, first_mark, first_day, _last_day, days in runs
        ),
    )


def _illness_runs(as_at, since, days, ids) -> list[tuple[int, int, date, date, int]]:
    """(enrolment, first mark, first day, last day, days) of each unevidenced illness run of
    these enrolments longer than ``days``."""
    marks = _marks(as_at, since, ids).subquery("m")
    ill = illness_absence(marks)
    # A run's marks share the count of other counted marks before them.
    grouped = in_session_order(
        marks,
        marks.c.enrolment_id,
        marks.c.mark_id,
        marks.c.starts_at,
        marks.c.evidence,
        ill.label("ill"),
        run=func.sum(sql_case((ill, 0), else_=1)),
    ).subquery("g")
    query = (
        select(
            grouped.c.enrolment_id,
            func.min(grouped.c.mark_id),
            func.min(date_of(grouped.c.starts_at)),
            func.max(date_of(grouped.c.starts_at)),
            func.count(grouped.c.evidence),
        )
        .where(grouped.c.ill)
        .group_by(grouped.c.enrolment_id, grouped.c.run)
    )
    runs = []
    for eid, first_mark, first_day, last_day, evidenced in db.session.execute(query):
        first_day, last_day = _as_date(first_day), _as_date(last_day)
        if (last_day - first_day).days + 1 > days and not evidenced:
            runs.append((eid, first_mark, first_day, last_day, days))
    return runs


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _overdue(as_at, report) -> None:
    result = db.session.execute(
        update(DueItem)
        .where(DueItem.done_at.is_(None), DueItem.overdue_since.is_(None), DueItem.due_on < as_at)
        .values(overdue_since=as_at)
        .execution_options(synchronize_session=False)
    )
    report.items_marked_overdue = result.rowcount
    report.decisions_due = db.session.scalar(
        select(func.count()).select_from(Case).where(Case.decision_due_on.is_not(None))
    )
