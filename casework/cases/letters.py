"""Which letters an event calls for, and to whom: recorded as jobs, each with the snapshot of
what it will say, for the correspondence module to render after the event's transaction
commits."""

from __future__ import annotations

from datetime import date

from casework.cases.letter_snapshot import event_view, letter_snapshot
from casework.extensions import db
from casework.models import (
    Case,
    CaseEvent,
    Contact,
    ContactKind,
    Learner,
    LetterApproval,
    LetterJob,
)
from casework.policies.rules import EventRules, rules_of
from casework.registers.figures import AttendanceFigures


def channel_for(person: Learner | Contact) -> str:
    """Post where there is a postal address, else email where there is one, else none."""
    if (person.address or "").strip():
        return "post"
    return "email" if (person.email or "").strip() else "none"


def recipients(
    case: Case, kinds: list[str], today: date, *, unexplained_absence: bool
) -> list[tuple[str, str, int | None]]:
    """(recipient kind, key, contact id) for each person a letter goes to, without repeats.

    ``parent_carer_extended`` reaches parents and carers past ``parent_carer_under_age`` (up to
    ``parent_carer_extended_under_age``) only where the letter's figures show unexplained
    absence (003 section 4.3)."""
    enrolment = case.enrolment
    learner = enrolment.learner
    contacts_rules = rules_of(case.policy).contacts
    age = learner.age_on(today)
    out: dict[str, tuple[str, str, int | None]] = {}

    def contacts_of(kind: ContactKind, recipient_kind: str) -> None:
        for contact in learner.contacts:
            if contact.kind == kind and contact.receives_letters:
                out.setdefault(f"contact:{contact.id}", (recipient_kind, "", contact.id))

    for kind in kinds:
        if kind == "learner":
            out.setdefault("learner", ("learner", "", None))
        elif kind in ("parent_carer", "parent_carer_extended"):
            limit = contacts_rules.parent_carer_under_age
            if kind == "parent_carer_extended" and unexplained_absence:
                limit = contacts_rules.parent_carer_extended_under_age or limit
            if age < limit:
                contacts_of(ContactKind.PARENT_CARER, "parent_carer")
        elif kind == "employer" and enrolment.is_apprentice and contacts_rules.employer_letters:
            contacts_of(ContactKind.EMPLOYER, "employer")
        elif (
            kind == "main_school"
            and enrolment.is_dual_registered
            and contacts_rules.main_school_letters
        ):
            contacts_of(ContactKind.MAIN_SCHOOL, "main_school")
    return [(kind, key, contact_id) for key, (kind, _unused, contact_id) in out.items()]


def record_letter_jobs(
    case: Case,
    event: CaseEvent,
    spec: EventRules,
    today: date,
    *,
    figures: AttendanceFigures | None = None,
) -> list[LetterJob]:
    """A job per letter and recipient, each with its snapshot as at ``today`` (the action's
    as-at date); called after the event's effects are written, in the same transaction.
    ``figures``: the enrolment's as at ``today``, where the caller has them already."""
    if not spec.letters:
        return []
    # Nothing read here depends on rows still pending, and a flush per case would undo the bulk
    # scan's single INSERT.
    with db.session.no_autoflush:
        view = event_view(case, event, today, figures=figures)
    jobs = []
    held = rules_of(case.policy).letters.approval  # these wait for the head of programme
    for letter in spec.letters:
        to = recipients(case, list(letter.to), today, unexplained_absence=view.unexplained > 0)
        for kind, key, contact_id in to:
            person = (
                case.enrolment.learner
                if contact_id is None
                else db.session.get(Contact, contact_id)
            )
            job = LetterJob(
                case_id=case.id,
                event=event,
                template=letter.template,
                recipient_kind=kind,
                recipient_key=key,
                contact_id=contact_id,
                channel=channel_for(person),
                snapshot=letter_snapshot(view, case, letter.template, person, kind),
                approval=LetterApproval.AWAITING
                if letter.template in held
                else LetterApproval.NOT_NEEDED,
            )
            db.session.add(job)
            jobs.append(job)
    return jobs
