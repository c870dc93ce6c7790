"""The staff lists: cases filtered by stage, programme, mentor and overdue; learners (their
enrolments) by attendance band. Read within the user's scope (casework.scope) and nothing else: a
filter can only narrow what the user may see.

Each list runs a fixed number of statements however many rows it holds: cases in one query for
the page and one count; attendance bands from the bulk figures the nightly scan uses (one
aggregate query per policy window), never one learner at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from casework import scope
from casework.extensions import db
from casework.machines.workflow import OPEN_STAGES, Stage
from casework.models import (
    Case,
    DueItem,
    Enrolment,
    EnrolmentStatus,
    Learner,
    Policy,
    Programme,
    User,
)
from casework.policies.rules import rules_of
from casework.registers.figures import AttendanceFigures, attendance_figures
from casework.registers.thresholds import judge, window_start
from casework.routing import whole_number

PER_PAGE = 25
_WHOLE_TABLE_FROM = 5000  # enrolments: figures for the whole table rather than an id list
STATUSES = {"open": "Open cases", "closed": "Closed cases", "all": "All cases"}
# Staff pick stages in the order a case moves through them.
LISTED_STAGES = (*OPEN_STAGES, Stage.WITHDRAWN, Stage.CLOSED)


class Band:
    """Where a learner's attendance sits against their policy's threshold and target."""

    BELOW = "below"
    NEAR = "near"
    ABOVE = "above"
    TARGET = "target"
    NOT_JUDGED = "not_judged"

    LABELS: Mapping[str, str] = {
        BELOW: "Below the threshold",
        NEAR: "Near the threshold",
        ABOVE: "Above the threshold",
        TARGET: "At or above target",
        NOT_JUDGED: "Too few sessions to judge",
    }
    ORDER: tuple[str, ...] = (BELOW, NEAR, ABOVE, TARGET, NOT_JUDGED)


@dataclass(frozen=True)
class Option:
    value: str
    text: str


@dataclass
class Filters:
    """A list's filters as the user chose them, and what was wrong with them (field -> words)."""

    values: dict[str, Any] = field(default_factory=dict)
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    def query_args(self) -> dict[str, str]:
        """The filters as URL arguments (for the next page, the CSV), without empty ones."""
        out = {}
        for name, value in self.values.items():
            if value is None or value is False or value == "":
                continue
            out[name] = "yes" if value is True else str(value)
        return out


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _parse_page(args: Mapping[str, str], filters: Filters) -> None:
    page = whole_number(args.get("page") or "1", lowest=1)
    if page is None:
        filters.errors["page"] = "The page number must be a whole number, 1 or more."
    else:
        filters.page = page


def _parse_choice(
    args: Mapping[str, str], name: str, options: Iterable[Option], filters: Filters, words: str
) -> None:
    raw = (args.get(name) or "").strip()
    if raw and raw not in {o.value for o in options}:
        filters.errors[name] = words
        raw = ""
    filters.values[name] = raw or None


def _parse_yes(args: Mapping[str, str], name: str, filters: Filters, words: str) -> None:
    raw = (args.get(name) or "").strip().lower()
    if raw not in ("", "yes"):
        filters.errors[name] = words
    filters.values[name] = raw == "yes"


def check_page(filters: Filters, total: int) -> None:
    """A page past the last one is an error the user can act on, not an empty table."""
    pages = max(1, -(-total // PER_PAGE))
    if filters.page > pages:
        filters.errors["page"] = (
            f"There is no page {filters.page}: the list has {pages} "
            f"{'page' if pages == 1 else 'pages'}."
        )


# --- cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseOptions:
    statuses: list[Option]
    stages: list[Option]
    programmes: list[Option]
    mentors: list[Option]


def case_options(user: User) -> CaseOptions:
    """What the user may filter their cases by: only programmes and mentors of cases they see,
    and the stages in their policies' own words."""
    seen = scope.visible_cases(user).with_only_columns(Case.enrolment_id)
    programmes = db.session.execute(
        select(Programme.id, Programme.code, Programme.title, Policy)
        .join(Policy, Policy.id == Programme.policy_id)
        .where(Programme.id.in_(select(Enrolment.programme_id).where(Enrolment.id.in_(seen))))
        .order_by(Programme.title, Programme.code)
    ).all()
    mentors = db.session.execute(
        select(User.id, User.name)
        .where(User.id.in_(select(Enrolment.mentor_id).where(Enrolment.id.in_(seen))))
        .order_by(User.name, User.id)
    ).all()
    names: dict[str, list[str]] = defaultdict(list)
    for *_unused, policy in programmes:
        workflow = rules_of(policy).workflow
        for stage in LISTED_STAGES:
            name = workflow.stage_name(stage)
            if stage in workflow.stages and name not in names[stage]:
                names[stage].append(name)
    return CaseOptions(
        statuses=[Option(k, v) for k, v in STATUSES.items()],
        stages=[
            Option(s.value, " / ".join(names[s]) if names[s] else s.value.replace("_", " "))
            for s in LISTED_STAGES
            if not programmes or names[s]
        ],
        programmes=[Option(str(pid), f"{title} ({code})") for pid, code, title, _p in programmes],
        mentors=[Option(str(uid), name) for uid, name in mentors],
    )


def parse_case_filters(args: Mapping[str, str], options: CaseOptions) -> Filters:
    filters = Filters()
    _parse_choice(args, "status", options.statuses, filters, "Choose open, closed or all cases.")
    filters.values["status"] = filters.values["status"] or "open"
    _parse_choice(
        args,
        "stage",
        [Option(s.value, "") for s in LISTED_STAGES],
        filters,
        "Choose a stage from the list.",
    )
    _parse_choice(
        args,
        "programme",
        options.programmes,
        filters,
        "Choose a programme from the list: you have no cases on that one.",
    )
    _parse_choice(
        args,
        "mentor",
        options.mentors,
        filters,
        "Choose a tutor or mentor from the list: you have no cases of theirs.",
    )
    _parse_yes(args, "overdue", filters, "Overdue must be ticked or left empty.")
    _parse_page(args, filters)
    return filters


@dataclass(frozen=True)
class CaseRow:
    id: int
    learner_id: int
    learner_ref: str
    learner_name: str
    programme: str
    programme_title: str
    stage: str
    stage_name: str
    mentor: str | None
    opened_on: date
    decision_due_on: date | None
    overdue: bool
    ended_on: date | None


def _overdue_items(today: date):
    return exists().where(
        DueItem.case_id == Case.id, DueItem.done_at.is_(None), DueItem.due_on < today
    )


def _case_query(user: User, filters: Filters, today: date) -> Select:
    mentor = aliased(User)
    overdue = or_(Case.decision_due_on < today, _overdue_items(today))
    query = (
        scope.visible_cases(user)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .outerjoin(mentor, mentor.id == Enrolment.mentor_id)
    )
    values = filters.values
    if values.get("status") == "open":
        query = query.where(Case.ended_at.is_(None))
    elif values.get("status") == "closed":
        query = query.where(Case.ended_at.is_not(None))
    if values.get("stage"):
        query = query.where(Case.state == values["stage"])
    if values.get("programme"):
        query = query.where(Enrolment.programme_id == int(values["programme"]))
    if values.get("mentor"):
        query = query.where(Enrolment.mentor_id == int(values["mentor"]))
    if values.get("overdue"):
        query = query.where(Case.ended_at.is_(None), overdue)
    return query.add_columns(
        Learner.id,
        Learner.learner_ref,
        Learner.given_name,
        Learner.preferred_name,
        Learner.family_name,
        Programme.code,
        Programme.title,
        mentor.name,
        and_(Case.ended_at.is_(None), overdue).label("overdue"),
    )


def _case_rows(query: Select, policies: dict[int, Policy]) -> list[CaseRow]:
    rows = []
    for (
        case,
        lid,
        ref,
        given,
        preferred,
        family,
        code,
        title,
        mentor,
        overdue,
    ) in db.session.execute(query):
        rows.append(
            CaseRow(
                id=case.id,
                learner_id=lid,
                learner_ref=ref,
                learner_name=f"{preferred or given} {family}",
                programme=code,
                programme_title=title,
                stage=case.state or "",
                stage_name=rules_of(policies[case.policy_id]).workflow.stage_name(case.state),
                mentor=mentor,
                opened_on=case.opened_on,
                decision_due_on=case.decision_due_on,
                overdue=bool(overdue),
                ended_on=case.ended_at.date() if case.ended_at else None,
            )
        )
    return rows


def _policies() -> dict[int, Policy]:
    return {p.id: p for p in db.session.scalars(select(Policy))}


def _ordered(query: Select) -> Select:
    # Open cases first, the decision due soonest first (none due last), then the newest.
    return query.order_by(
        Case.ended_at.is_not(None),
        Case.decision_due_on.is_(None),
        Case.decision_due_on,
        Case.ended_at.desc(),
        Case.id,
    )


def case_page(user: User, filters: Filters, today: date) -> Page:
    """One page of the cases the filters pick; a page past the end is the filters' error."""
    query = _case_query(user, filters, today)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    check_page(filters, total or 0)
    if filters.errors:
        return Page([], total or 0, filters.page)
    start = (filters.page - 1) * PER_PAGE
    rows = _case_rows(_ordered(query).offset(start).limit(PER_PAGE), _policies())
    return Page(rows, total or 0, filters.page)


def all_cases(user: User, filters: Filters, today: date) -> list[CaseRow]:
    """Every case the filters pick (the CSV download), in the list's order."""
    return _case_rows(_ordered(_case_query(user, filters, today)), _policies())


# --- learners by attendance band ----------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    enrolment_id: int
    learner_id: int
    learner_ref: str
    learner_name: str
    programme: str
    programme_title: str
    mentor: str | None
    percent: float | None
    possible: int
    missed: int
    band: str
    threshold: str  # the policy's words: "below 90%", "at or below 90%"
    case_id: int | None  # the open case, if any

    @property
    def band_label(self) -> str:
        return Band.LABELS[self.band]

    @property
    def band_rank(self) -> int:
        return Band.ORDER.index(self.band)


def band_of(policy: Policy, figures: AttendanceFigures) -> str:
    rules = rules_of(policy)
    verdict = judge(rules, figures)
    if not verdict.evaluable:
        return Band.NOT_JUDGED
    if verdict.below:
        return Band.BELOW
    if verdict.approaching:
        return Band.NEAR
    target = Fraction(rules.attendance.target_percent) / 100
    if figures.attendance is not None and figures.attendance >= target:
        return Band.TARGET
    return Band.ABOVE


def active_enrolments(query: Select, today: date) -> Select:
    """Enrolments of ``query`` on their programme today (the ones the nightly scan judges)."""
    return query.where(
        Enrolment.status == EnrolmentStatus.ACTIVE,
        Enrolment.start_date <= today,
        or_(Enrolment.end_date.is_(None), Enrolment.end_date >= today),
    )


def attendance_rows(enrolments: Select, today: date) -> list[AttendanceRow]:
    """Each enrolment of ``enrolments`` (a query of Enrolment) with its figures and band, the
    lowest band first. Figures come in bulk: one aggregate query per policy window."""
    mentor = aliased(User)
    query = (
        enrolments.join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .join(Policy, Policy.id == Programme.policy_id)
        .outerjoin(mentor, mentor.id == Enrolment.mentor_id)
        .outerjoin(Case, and_(Case.enrolment_id == Enrolment.id, Case.ended_at.is_(None)))
        .with_only_columns(
            Enrolment.id,
            Learner.id,
            Learner.learner_ref,
            Learner.given_name,
            Learner.preferred_name,
            Learner.family_name,
            Programme.code,
            Programme.title,
            Policy,
            mentor.name,
            Case.id,
        )
    )
    found = db.session.execute(query).all()
    by_window: dict[date, list[int]] = defaultdict(list)
    for row in found:
        by_window[window_start(rules_of(row[8]), today)].append(row[0])
    figures: dict[int, AttendanceFigures] = {}
    for since, ids in by_window.items():
        # A long list of ids is one bound parameter each (SQLite allows 32766): past a few
        # thousand, the whole table's figures in one aggregate are as quick, as the scan does.
        whole = len(ids) > _WHOLE_TABLE_FROM
        window = attendance_figures(today, since=since, enrolment_ids=None if whole else ids)
        figures |= {eid: window[eid] for eid in ids}
    rows = []
    for eid, lid, ref, given, preferred, family, code, title, policy, mentor_name, case_id in found:
        f = figures[eid]
        rows.append(
            AttendanceRow(
                enrolment_id=eid,
                learner_id=lid,
                learner_ref=ref,
                learner_name=f"{preferred or given} {family}",
                programme=code,
                programme_title=title,
                mentor=mentor_name,
                percent=f.attendance_percent,
                possible=f.possible,
                missed=f.sessions_missed,
                band=band_of(policy, f),
                threshold=rules_of(policy).attendance.threshold_words,
                case_id=case_id,
            )
        )
    rows.sort(
        key=lambda r: (
            Band.ORDER.index(r.band),
            r.percent if r.percent is not None else 101.0,
            r.learner_name,
            r.enrolment_id,
        )
    )
    return rows


@dataclass(frozen=True)
class AttendanceOptions:
    bands: list[Option]
    programmes: list[Option]


def attendance_options(user: User) -> AttendanceOptions:
    seen = scope.visible_enrolments(user).with_only_columns(Enrolment.programme_id)
    programmes = db.session.execute(
        select(Programme.id, Programme.code, Programme.title)
        .where(Programme.id.in_(seen))
        .order_by(Programme.title, Programme.code)
    ).all()
    return AttendanceOptions(
        bands=[Option(b, Band.LABELS[b]) for b in Band.ORDER],
        programmes=[Option(str(pid), f"{title} ({code})") for pid, code, title in programmes],
    )


def parse_attendance_filters(args: Mapping[str, str], options: AttendanceOptions) -> Filters:
    filters = Filters()
    _parse_choice(
        args,
        "programme",
        options.programmes,
        filters,
        "Choose a programme from the list: you have no learners on that one.",
    )
    _parse_choice(args, "band", options.bands, filters, "Choose an attendance band from the list.")
    _parse_page(args, filters)
    return filters


def all_attendance(user: User, filters: Filters, today: date) -> list[AttendanceRow]:
    """Every learner (enrolment) in the user's scope on their programme today, in the filters'
    programme and band, the lowest attendance first."""
    query = active_enrolments(scope.visible_enrolments(user), today)
    if filters.values.get("programme"):
        query = query.where(Enrolment.programme_id == int(filters.values["programme"]))
    rows = attendance_rows(query, today)
    band = filters.values.get("band")
    return [r for r in rows if r.band == band] if band else rows


def attendance_page(user: User, filters: Filters, today: date) -> Page:
    rows = all_attendance(user, filters, today)
    check_page(filters, len(rows))
    if filters.errors:
        return Page([], len(rows), filters.page)
    start = (filters.page - 1) * PER_PAGE
    return Page(rows[start : start + PER_PAGE], len(rows), filters.page)
