"""What each role's dashboard shows: the things to act on today, within the user's scope.

A user may hold several roles; each role's sections read only that role's part of the user's
scope (a head's section the programmes they lead, a mentor's their own learners), always inside
casework.scope's queries. Every section runs a fixed number of statements, whatever the rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select

from casework import scope
from casework.cases.lists import Band, active_enrolments, attendance_rows
from casework.cases.queries import letter_title, letters_awaiting_approval
from casework.extensions import db
from casework.machines.workflow import OPEN_STAGES
from casework.models import (
    Case,
    Contact,
    ContactKind,
    DueItem,
    DueKind,
    Enrolment,
    Learner,
    LetterJob,
    LetterStatus,
    Mark,
    MarkChange,
    Policy,
    Programme,
    ProgrammeRole,
    RegisterImport,
    Role,
    Session,
    User,
)
from casework.policies.rules import rules_of

SHOWN = 10  # rows a section lists before "see all"
SOON_DAYS = 14  # reviews and other items due within this many days show on a mentor's dashboard


@dataclass(frozen=True)
class StageCount:
    stage: str
    label: str  # the stage in general terms ("Written warning")
    names: tuple[str, ...]  # what the programmes' policies call it, where that differs
    count: int


@dataclass(frozen=True)
class CaseLine:
    case_id: int
    learner_id: int
    learner_name: str
    programme: str
    stage_name: str
    due_on: date | None
    overdue: bool
    detail: str = ""


@dataclass(frozen=True)
class Listing:
    """Up to SHOWN rows of a section, and how many there are in all."""

    rows: list[Any]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


@dataclass(frozen=True)
class LetterLine:
    case_id: int
    learner_name: str
    letter: str
    recipient: str
    status: str
    error: str | None
    created_on: date


@dataclass(frozen=True)
class SessionLine:
    session_id: int
    programme: str
    title: str
    starts_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class ImportLine:
    id: int
    filename: str
    imported_by: str
    imported_at: datetime
    rows: int
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class MissingContact:
    learner_id: int
    learner_name: str
    learner_ref: str
    programme: str
    missing: list[str]


@dataclass
class Dashboard:
    roles: list[str] = field(default_factory=list)
    head: dict[str, Any] | None = None
    mentor: dict[str, Any] | None = None
    officer: dict[str, Any] | None = None
    safeguarding: dict[str, Any] | None = None
    admin: dict[str, Any] | None = None


def dashboard(user: User, today: date) -> Dashboard:
    """The sections of every role ``user`` holds."""
    board = Dashboard()
    if not user.active:
        return board
    if user.has_role(Role.HEAD_OF_PROGRAMME):
        board.head = head_sections(user, today)
    if user.has_role(Role.TUTOR_MENTOR):
        board.mentor = mentor_sections(user, today)
    if user.has_role(Role.ADMINISTRATION_OFFICER):
        board.officer = officer_sections(user, today)
    if user.has_role(Role.SAFEGUARDING_LEAD):
        board.safeguarding = safeguarding_sections(user, today)
    if user.has_role(Role.ADMINISTRATOR):
        board.admin = admin_overview(today)
    return board


# --- shared reads -------------------------------------------------------------------------------


def _policies() -> dict[int, Policy]:
    return {p.id: p for p in db.session.scalars(select(Policy))}


def _full_name(given: str, preferred: str | None, family: str) -> str:
    return f"{preferred or given} {family}"


def _mentored_cases(user: User) -> Select:
    mentored = select(Enrolment.id).where(Enrolment.mentor_id == user.id)
    return scope.visible_cases(user).where(Case.enrolment_id.in_(mentored))


def _case_lines(cases: Select, policies: dict[int, Policy], today: date) -> list[CaseLine]:
    query = (
        cases.join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .add_columns(
            Learner.id, Learner.given_name, Learner.preferred_name, Learner.family_name,
            Programme.code,
        )
    )  # fmt: skip
    return [
        CaseLine(
            case_id=case.id,
            learner_id=lid,
            learner_name=_full_name(given, preferred, family),
            programme=code,
            stage_name=rules_of(policies[case.policy_id]).workflow.stage_name(case.state),
            due_on=case.decision_due_on,
            overdue=case.decision_due_on is not None and case.decision_due_on < today,
        )
        for case, lid, given, preferred, family, code in db.session.execute(query)
    ]


def _count(query: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _decisions(cases: Select, policies: dict[int, Policy], today: date) -> dict[str, Any]:
    """Open cases waiting for a decision, the soonest due first, with how many are overdue."""
    waiting = cases.where(Case.ended_at.is_(None), Case.decision_due_on.is_not(None))
    overdue = _count(waiting.where(Case.decision_due_on < today))
    lines = _case_lines(
        waiting.order_by(Case.decision_due_on, Case.id).limit(SHOWN), policies, today
    )
    return {"listing": Listing(lines, _count(waiting)), "overdue": overdue}


def _stage_counts(cases: Select, policies: dict[int, Policy]) -> list[StageCount]:
    counts = db.session.execute(
        cases.where(Case.ended_at.is_(None))
        .with_only_columns(Case.policy_id, Case.state, func.count())
        .group_by(Case.policy_id, Case.state)
    ).all()
    totals: dict[str, int] = defaultdict(int)
    names: dict[str, list[str]] = defaultdict(list)
    for policy_id, state, count in counts:
        totals[state] += count
        name = rules_of(policies[policy_id]).workflow.stage_name(state)
        if name not in names[state]:
            names[state].append(name)
    stage_counts = []
    for stage in OPEN_STAGES:
        if totals.get(stage):
            label = stage.value.replace("_", " ").capitalize()
            own = tuple(name for name in names[stage] if name.casefold() != label.casefold())
            stage_counts.append(StageCount(stage.value, label, own, totals[stage]))
    return stage_counts


def _due_lines(items: Select, policies: dict[int, Policy], today: date) -> list[CaseLine]:
    """Due items (with their learner and case) as lines, soonest first."""
    query = (
        items.join(Enrolment, Enrolment.id == DueItem.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .outerjoin(Case, Case.id == DueItem.case_id)
        .with_only_columns(
            DueItem, Learner.id, Learner.given_name, Learner.preferred_name,
            Learner.family_name, Programme.code, Programme.policy_id, Case.state,
        )
        .order_by(DueItem.due_on, DueItem.id)
        .limit(SHOWN)
    )  # fmt: skip
    return [
        CaseLine(
            case_id=item.case_id or 0,
            learner_id=lid,
            learner_name=_full_name(given, preferred, family),
            programme=code,
            stage_name=rules_of(policies[policy_id]).workflow.stage_name(state) if state else "",
            due_on=item.due_on,
            overdue=item.due_on < today,
            detail=f"{item.kind.label}: {item.description}",
        )
        for item, lid, given, preferred, family, code, policy_id, state in db.session.execute(query)
    ]


def _open_items(cases: Select) -> Select:
    case_ids = cases.with_only_columns(Case.id)
    return select(DueItem).where(DueItem.done_at.is_(None), DueItem.case_id.in_(case_ids))


def _letters_in_trouble(cases: Select) -> Listing:
    """Letters that failed to render (retried by the next run) or were refused (never sent as
    they stand), newest first."""
    case_ids = cases.with_only_columns(Case.id)
    jobs = select(LetterJob).where(
        LetterJob.case_id.in_(case_ids),
        LetterJob.status.in_([LetterStatus.FAILED, LetterStatus.REFUSED]),
    )
    query = (
        jobs.join(Case, Case.id == LetterJob.case_id)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .outerjoin(Contact, Contact.id == LetterJob.contact_id)
        .add_columns(Learner.given_name, Learner.preferred_name, Learner.family_name, Contact.name)
        .order_by(LetterJob.created_at.desc(), LetterJob.id.desc())
        .limit(SHOWN)
    )
    lines = []
    for job, given, preferred, family, contact in db.session.execute(query):
        learner = _full_name(given, preferred, family)
        lines.append(
            LetterLine(
                case_id=job.case_id,
                learner_name=learner,
                letter=letter_title(job.template),
                recipient=contact or learner,
                status=job.status.value,
                error=job.last_error,
                created_on=job.created_at.date(),
            )
        )
    return Listing(lines, _count(jobs))


# --- head of programme --------------------------------------------------------------------------


def head_sections(user: User, today: date) -> dict[str, Any]:
    policies = _policies()
    cases = scope.led_cases(user)
    panels = _open_items(cases).where(DueItem.kind == DueKind.PANEL)
    led = select(Enrolment).where(
        Enrolment.programme_id.in_(scope.linked_programmes(user, ProgrammeRole.HEAD))
    )
    near = [r for r in attendance_rows(active_enrolments(led, today), today) if r.band == Band.NEAR]
    return {
        "stages": _stage_counts(cases, policies),
        "decisions": _decisions(cases, policies, today),
        "panels": Listing(_due_lines(panels, policies, today), _count(panels)),
        "approaching": Listing(near[:SHOWN], len(near)),
        "letters": _letters_in_trouble(cases),
        "approvals": Listing(*letters_awaiting_approval(user, SHOWN)),
    }


# --- tutor / mentor -----------------------------------------------------------------------------


def mentor_sections(user: User, today: date) -> dict[str, Any]:
    policies = _policies()
    cases = _mentored_cases(user)
    mine = select(Enrolment).where(Enrolment.mentor_id == user.id)
    concern = [
        r
        for r in attendance_rows(active_enrolments(mine, today), today)
        if r.band in (Band.BELOW, Band.NEAR)
    ]
    # Reviews and the other things due (1-2-1s to rebook, certificates, panels) soon or late;
    # decisions have their own section.
    items = select(DueItem).where(
        DueItem.done_at.is_(None),
        DueItem.kind != DueKind.DECISION,
        DueItem.enrolment_id.in_(mine.with_only_columns(Enrolment.id)),
        DueItem.due_on <= today + timedelta(days=SOON_DAYS),
    )
    return {
        "learners": Listing(concern[:SHOWN], len(concern)),
        "decisions": _decisions(cases, policies, today),
        "reviews": Listing(_due_lines(items, policies, today), _count(items)),
    }


# --- administration officer ---------------------------------------------------------------------


def officer_sections(user: User, today: date) -> dict[str, Any]:
    kept = scope.linked_programmes(user, ProgrammeRole.ADMINISTRATION)
    return {
        "registers": _registers_not_taken(kept, today),
        "imports": _recent_imports(user, kept),
        "contacts": _missing_contacts(kept, today),
    }


def _registers_not_taken(programmes: Select, today: date) -> list[SessionLine]:
    """Today's sessions on these programmes with no mark recorded yet."""
    start = datetime.combine(today, time.min)
    marked = select(Mark.id).where(Mark.session_id == Session.id).exists()
    rows = db.session.execute(
        select(Session, Programme.code)
        .join(Programme, Programme.id == Session.programme_id)
        .where(
            Session.programme_id.in_(programmes),
            Session.starts_at >= start,
            Session.starts_at < start + timedelta(days=1),
            ~marked,
        )
        .order_by(Session.starts_at, Session.id)
    )
    return [
        SessionLine(
            session_id=session.id,
            programme=code,
            title=session.title or session.kind.value.replace("_", " ").capitalize(),
            starts_at=session.starts_at,
            closes_at=session.register_closes_at,
        )
        for session, code in rows
    ]


def _recent_imports(user: User, programmes: Select) -> list[ImportLine]:
    """The newest register imports that wrote marks on these programmes, or that the officer
    brought in themselves."""
    sessions = select(Session.id).where(Session.programme_id.in_(programmes))
    marks = select(Mark.id).where(Mark.session_id.in_(sessions))
    touched = or_(
        RegisterImport.id.in_(select(Mark.import_id).where(Mark.session_id.in_(sessions))),
        RegisterImport.id.in_(select(MarkChange.import_id).where(MarkChange.mark_id.in_(marks))),
        RegisterImport.imported_by == user.email,
    )
    batches = db.session.scalars(
        select(RegisterImport)
        .where(touched)
        .order_by(RegisterImport.imported_at.desc(), RegisterImport.id.desc())
        .limit(SHOWN)
    )
    return [
        ImportLine(
            b.id, b.filename, b.imported_by, b.imported_at, b.rows, b.created, b.updated,
            b.unchanged,
        )
        for b in batches
    ]  # fmt: skip


def _reachable(contact: Contact) -> bool:
    return bool((contact.address or "").strip() or (contact.email or "").strip())


def _missing_contacts(programmes: Select, today: date) -> Listing:
    """Learners on these programmes whose letters would reach nobody: under-age learners with no
    parent or carer to write to, apprentices with no employer, dual-registered pupils with no
    main school (where their policy sends those letters), or a learner with no address or email
    of their own (docs/workflow.md, "Letters and recipients")."""
    enrolments = active_enrolments(
        select(Enrolment).where(Enrolment.programme_id.in_(programmes)), today
    )
    found = db.session.execute(
        enrolments.join(Learner, Learner.id == Enrolment.learner_id)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .join(Policy, Policy.id == Programme.policy_id)
        .with_only_columns(Enrolment, Learner, Programme.code, Policy)
        .order_by(Learner.family_name, Learner.given_name, Enrolment.id)
    ).all()
    learner_ids = enrolments.with_only_columns(Enrolment.learner_id)
    reachable: dict[int, set[ContactKind]] = defaultdict(set)
    for contact in db.session.scalars(
        select(Contact).where(Contact.learner_id.in_(learner_ids), Contact.receives_letters)
    ):
        if _reachable(contact):
            reachable[contact.learner_id].add(contact.kind)
    lines = []
    for enrolment, learner, code, policy in found:
        rules = rules_of(policy).contacts
        has = reachable[learner.id]
        missing = []
        if not _reachable(learner):  # type: ignore[arg-type]
            missing.append("the learner's own address or email")
        if (
            learner.age_on(today) < rules.parent_carer_under_age
            and ContactKind.PARENT_CARER not in has
        ):
            missing.append(f"a parent or carer (under {rules.parent_carer_under_age})")
        if enrolment.is_apprentice and rules.employer_letters and ContactKind.EMPLOYER not in has:
            missing.append("an employer")
        if (
            enrolment.is_dual_registered
            and rules.main_school_letters
            and ContactKind.MAIN_SCHOOL not in has
        ):
            missing.append("a main school")
        if missing:
            lines.append(
                MissingContact(learner.id, learner.full_name, learner.learner_ref, code, missing)
            )
    return Listing(lines[: SHOWN * 2], len(lines))


# --- safeguarding lead --------------------------------------------------------------------------


def safeguarding_sections(user: User, today: date) -> dict[str, Any]:
    flagged = scope.visible_cases(user).where(Case.safeguarding_flagged_at.is_not(None))
    policies = _policies()
    query = flagged.order_by(
        Case.ended_at.is_not(None), Case.safeguarding_flagged_at.desc(), Case.id
    ).limit(SHOWN * 2)
    lines = _case_lines(query, policies, today)
    return {"flagged": Listing(lines, _count(flagged))}


# --- administrator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    open_cases: int
    decisions_overdue: int
    flagged_cases: int
    active_enrolments: int
    learners: int
    programmes: int
    letters_in_trouble: int
    staff: int


def admin_overview(today: date) -> Overview:
    """Counts across the whole provider, in one statement: no case to decide on here."""

    def count(query: Select):
        return select(func.count()).select_from(query.subquery()).scalar_subquery()

    open_cases = select(Case).where(Case.ended_at.is_(None))
    row = db.session.execute(
        select(
            count(open_cases),
            count(open_cases.where(Case.decision_due_on < today)),
            count(open_cases.where(Case.safeguarding_flagged_at.is_not(None))),
            count(active_enrolments(select(Enrolment), today)),
            count(select(Learner)),
            count(select(Programme)),
            count(
                select(LetterJob).where(
                    LetterJob.status.in_([LetterStatus.FAILED, LetterStatus.REFUSED])
                )
            ),
            count(select(User).where(User.active)),
        )
    ).one()
    return Overview(*row)
