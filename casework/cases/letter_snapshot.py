"""What a letter will say, as the event saw it: built when the event's transaction writes its
letter jobs and kept with each job, so a letter rendered later (or for a backdated scan) says the
same as one rendered at once. Rendering (``casework.documents``) reads nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from casework.documents.letter_schema import LetterSchema
from casework.documents.titles import SUPPORT_LETTERS, title_of
from casework.machines.effects import current_plan
from casework.machines.workflow import Event, Stage
from casework.models import (
    Case,
    CaseEvent,
    Contact,
    Learner,
    ProgrammeRole,
    User,
)
from casework.policies.rules import PolicyRules, rules_of
from casework.registers.figures import AttendanceFigures, figures_for
from casework.registers.thresholds import judge, window_start
from casework.scope import case_roles
from casework.workdays import add_working_days

# One schema instance for every snapshot: marshmallow builds a schema's fields on each new one.
_SNAPSHOT = LetterSchema(exclude=("reference",))  # the reference needs the job's id: at render
# A letter of a step into fitness to study or its panel is support too, whatever the policy.
FITNESS_TO_STUDY_STAGES = frozenset({Stage.FITNESS_TO_STUDY, Stage.FITNESS_TO_STUDY_PANEL})
APPEAL_WORKING_DAYS = 10  # casework default: no policy states an appeal period


@dataclass(frozen=True)
class EventView:
    """What every letter of one event shares, read once per event (not per recipient)."""

    common: dict[str, Any]
    supportive: bool  # the provider's tone, or a fitness-to-study step
    below_threshold: bool

    @property
    def unexplained(self) -> int:
        return self.common["figures"]["unexplained"]


def case_ref(case: Case, event: CaseEvent) -> str:
    """The case and event part of a letter's reference; the job's id completes it."""
    return f"CW-{case.id:06d}-{event.seq:02d}"


def event_view(
    case: Case,
    event: CaseEvent,
    today: date,
    *,
    figures: AttendanceFigures | None = None,
) -> EventView:
    """Figures, dates, people and words as at ``today`` (the action's as-at date).

    ``figures``: as at ``today`` already (the scan computes everyone's at once)."""
    enrolment = case.enrolment
    learner = enrolment.learner
    rules = rules_of(case.policy)
    since = window_start(rules, today)
    if figures is None:
        figures = figures_for(enrolment.id, today, since=since)
    verdict = judge(rules, figures)
    data = event.data or {}
    plan = _plan(case, event, data)
    panel = data.get("panel")
    workflow = rules.workflow
    sender = event.actor
    common = {
        "case_ref": case_ref(case, event),
        "date": today,
        "steps": [e.value for e in workflow.events],
        "provider": {
            "name": case.policy.provider,
            **{k: getattr(rules.letters, k) for k in ("address", "phone", "email", "website")},
        },
        "learner_name": learner.full_name,
        "learner_ref": learner.learner_ref,
        "programme": f"{enrolment.programme.title} ({enrolment.programme.code})",
        "figures": {
            "as_at": today,
            "attendance_percent": figures.attendance_percent,
            "punctuality_percent": figures.punctuality_percent,
            "possible": figures.possible,
            "attended": figures.attended,
            "sessions_missed": figures.sessions_missed,
            "unauthorised": figures.unauthorised,
            "unexplained": figures.unexplained,
            "threshold": verdict.words,
            "below_threshold": verdict.below,
            "target_percent": rules.attendance.target_percent,
        },
        "what_happened": workflow.events[Event(event.name)].label,
        "stage": workflow.stage_name(event.to_state),
        "note": event.note,
        "plan": plan,
        "panel": ({**panel, "date": date.fromisoformat(panel["date"])} if panel else None),
        "outcome": data.get("outcome"),
        "reason": data.get("reason"),
        "exit_strategy": data.get("exit_strategy"),
        "sender_name": sender.name if sender else case.policy.provider,
        "sender_role": _role_words(sender, case) if sender else "Attendance team",
        "contact": reply_contact(case, rules),
    }
    supportive = rules.letters.supportive or event.to_state in FITNESS_TO_STUDY_STAGES
    return EventView(common, supportive, verdict.below)


def letter_snapshot(
    view: EventView, case: Case, template: str, recipient: Learner | Contact, kind: str
) -> dict[str, Any]:
    """One job's snapshot: the event's view, this letter's words and dates, this recipient."""
    common = view.common
    supportive = view.supportive or template in SUPPORT_LETTERS
    today = common["date"]
    withdrawal = template == "withdrawal"
    return _SNAPSHOT.dump(
        {
            **common,
            "template": template,
            "title": title_of(template, supportive, below_threshold=view.below_threshold),
            "supportive": supportive,
            "recipient": {
                "kind": kind,
                "name": recipient.full_name if isinstance(recipient, Learner) else recipient.name,
                "address_lines": _lines(recipient.address),
                "postcode": recipient.postcode,
            },
            "next_step_by": _next_step_by(case, template, common),
            "reason": common["reason"] if withdrawal else None,
            "appeal_by": add_working_days(today, APPEAL_WORKING_DAYS) if withdrawal else None,
        }
    )


def reply_contact(case: Case, rules: PolicyRules) -> dict[str, str | None]:
    """A real person to reply to: the learner's tutor or mentor, else the programme's head, else
    the policy's attendance contact; all None when there is none (the job then fails)."""
    enrolment = case.enrolment
    mentor = enrolment.mentor
    if mentor is not None and mentor.active:
        return _person(mentor, "tutor and mentor")
    heads = [  # the programme's staff links: loaded with the programme for a batch (the scan)
        link.user
        for link in enrolment.programme.staff_links
        if link.role == ProgrammeRole.HEAD and link.user.active
    ]
    head = min(heads, key=lambda user: user.id, default=None)
    if head is not None:
        return _person(head, "head of programme")
    letters = rules.letters  # the schema gives a named contact an email or a phone
    return {
        "name": letters.contact_name,
        "role": "attendance contact" if letters.contact_name else None,
        "email": letters.contact_email,
        "phone": letters.contact_phone,
    }


def _person(user: User, role: str) -> dict[str, str | None]:
    return {"name": user.name, "role": role, "email": user.email, "phone": None}


def _plan(case: Case, event: CaseEvent, data: dict[str, Any]) -> dict[str, Any] | None:
    """The plan in force after the event: its own, else the case's latest (a case being opened
    has none yet)."""
    plan = data.get("action_plan")
    if plan is None and event.name != Event.OPEN:
        row = current_plan(case)
        if row is not None:
            plan = {
                "targets": row.targets,
                "support": row.support,
                "review_dates": row.review_dates,
            }
    if plan is None:
        return None
    return {
        "targets": list(plan["targets"]),
        "support": list(plan["support"]),
        "review_dates": sorted({date.fromisoformat(d) for d in plan["review_dates"]}),
    }


def _next_step_by(case: Case, template: str, common: dict[str, Any]) -> date | None:
    """The date "what happens next" promises, from the case's own due dates."""
    if template == "concern_notice":
        return case.decision_due_on  # as the event that opened the occurrence set it
    if common["panel"]:
        return common["panel"]["date"]
    plan = common["plan"]
    return plan["review_dates"][0] if plan and plan["review_dates"] else None


def _lines(text_value: str | None) -> list[str]:
    return [line.strip() for line in (text_value or "").splitlines() if line.strip()]


def _role_words(actor: User, case: Case) -> str:
    roles = case_roles(actor, case.enrolment)
    if "head_of_programme" in roles:
        return "Head of Programme"
    if "tutor_mentor" in roles:
        return "Tutor and Mentor"
    return "Staff"
