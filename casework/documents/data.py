"""What a letter says, as plain data: built from a letter job (its case, event and recipient)
and dumped through ``LetterSchema``, so templates never see ORM objects."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import select

from casework.extensions import db
from casework.machines.workflow import Event, Stage
from casework.models import ActionPlan, Case, CaseEvent, Contact, LetterJob
from casework.policies.rules import rules_of
from casework.registers.figures import figures_for
from casework.registers.thresholds import judge, window_start
from casework.scope import case_roles
from casework.workdays import add_working_days

# Each letter's title in a formal provider's words and in a supportive one's (never a threat).
TITLES = {
    "concern_notice": ("Attendance", "Attendance"),
    "verbal_warning": ("Confirmation of a verbal warning", "Support discussion and catch-up"),
    "fitness_to_study_plan": ("Support plan", "Support plan"),
    "written_warning": ("Written warning and action plan", "Action plan"),
    "updated_action_plan": ("Updated support plan", "Updated support plan"),
    "panel_invitation": (
        "Invitation to a meeting about attendance",
        "Invitation to a review of continued participation",
    ),
    "final_written_warning": ("Final written warning", "Action plan: final review"),
    "panel_outcome": ("The outcome of the meeting", "The outcome of the meeting"),
    "withdrawal": ("Withdrawal from the programme", "Leaving the programme"),
    "closing_letter": ("Well done: attendance", "Well done: attendance"),
}
# A closing letter praises only attendance that is back on track; a case closed with no further
# action while attendance is still short of the threshold gets a plain title instead.
CLOSED_SHORT_TITLE = "The attendance concern is closed"
# Letters that must never use warning language (fitness to study is support, not discipline),
# nor may any letter that takes a case into fitness to study or its panel.
SUPPORT_LETTERS = frozenset({"fitness_to_study_plan", "updated_action_plan", "panel_outcome"})
FITNESS_TO_STUDY_STAGES = frozenset({Stage.FITNESS_TO_STUDY, Stage.FITNESS_TO_STUDY_PANEL})
APPEAL_WORKING_DAYS = 10  # casework default: no policy states an appeal period


class _Block(Schema):
    class Meta:
        ordered = True


class ProviderSchema(_Block):
    name = fields.String()
    address = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    website = fields.String(allow_none=True)


class PersonSchema(_Block):
    kind = fields.String()
    name = fields.String()
    address_lines = fields.List(fields.String())
    postcode = fields.String(allow_none=True)


class FiguresSchema(_Block):
    as_at = fields.Date()
    attendance_percent = fields.Float(allow_none=True)
    punctuality_percent = fields.Float(allow_none=True)
    possible = fields.Integer()
    attended = fields.Integer()
    sessions_missed = fields.Integer()
    unauthorised = fields.Integer()
    threshold = fields.String()  # "below 90%" or "at or below 90%"
    below_threshold = fields.Boolean(dump_default=False)  # still where the policy steps in
    target_percent = fields.Float()


class PlanSchema(_Block):
    targets = fields.List(fields.String())
    support = fields.List(fields.String())
    review_dates = fields.List(fields.Date())


class PanelSchema(_Block):
    date = fields.Date()
    time = fields.String()
    place = fields.String()
    members = fields.List(fields.String())


class LetterSchema(_Block):
    template = fields.String()
    title = fields.String()
    reference = fields.String()
    date = fields.Date()
    supportive = fields.Boolean()  # the provider's letters never threaten
    # The steps (workflow events) of the provider's process: a letter names no step the
    # provider does not have.
    steps = fields.List(fields.String(), dump_default=lambda: [e.value for e in Event])
    provider = fields.Nested(ProviderSchema)
    recipient = fields.Nested(PersonSchema)
    learner_name = fields.String()
    learner_ref = fields.String()
    programme = fields.String()
    figures = fields.Nested(FiguresSchema)
    what_happened = fields.String()
    stage = fields.String()
    note = fields.String()
    next_step_by = fields.Date(allow_none=True)
    plan = fields.Nested(PlanSchema, allow_none=True)
    panel = fields.Nested(PanelSchema, allow_none=True)
    outcome = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    exit_strategy = fields.String(allow_none=True)
    appeal_by = fields.Date(allow_none=True)
    sender_name = fields.String()
    sender_role = fields.String()
    contact_name = fields.String()
    contact_email = fields.String(allow_none=True)


def reference_for(job: LetterJob, event: CaseEvent) -> str:
    """Unique and readable: case, event number, letter job."""
    return f"CW-{event.case_id:06d}-{event.seq:02d}-{job.id:06d}"


def _lines(text_value: str | None) -> list[str]:
    return [line.strip() for line in (text_value or "").splitlines() if line.strip()]


def letter_data(job: LetterJob) -> dict[str, Any]:
    event = db.session.get(CaseEvent, job.event_id)
    case = db.session.get(Case, job.case_id)
    enrolment = case.enrolment
    learner = enrolment.learner
    rules = rules_of(case.policy)
    day = event.occurred_at.date()
    figures = figures_for(enrolment.id, day, since=window_start(rules, day))
    verdict = judge(rules, figures)
    if job.contact_id is None:
        recipient = {
            "kind": "learner",
            "name": learner.full_name,
            "address_lines": _lines(learner.address),
            "postcode": learner.postcode,
        }
    else:
        contact = db.session.get(Contact, job.contact_id)
        recipient = {
            "kind": job.recipient_kind,
            "name": contact.name,
            "address_lines": _lines(contact.address),
            "postcode": contact.postcode,
        }
    plan = (
        db.session.scalars(select(ActionPlan).where(ActionPlan.event_id == event.id)).one_or_none()
        or db.session.scalars(
            select(ActionPlan)
            .where(ActionPlan.case_id == case.id, ActionPlan.event_id < event.id)
            .order_by(ActionPlan.id.desc())
        ).first()
    )
    data = event.data or {}
    panel = data.get("panel")
    workflow = rules.workflow
    next_step_by = None
    if job.template == "concern_notice":
        next_step_by = add_working_days(day, workflow.decision_due_working_days)
    elif panel:
        next_step_by = date.fromisoformat(panel["date"])
    elif plan is not None and plan.review_dates:
        next_step_by = date.fromisoformat(min(plan.review_dates))
    mentor = enrolment.mentor
    sender = event.actor
    supportive = (
        rules.letters.supportive
        or job.template in SUPPORT_LETTERS
        or event.to_state in FITNESS_TO_STUDY_STAGES
    )
    title = TITLES[job.template][supportive]
    if job.template == "closing_letter" and verdict.below:
        title = CLOSED_SHORT_TITLE
    letterhead = {k: getattr(rules.letters, k) for k in ("address", "phone", "email", "website")}
    return LetterSchema().dump(
        {
            "template": job.template,
            "title": title,
            "reference": reference_for(job, event),
            "date": day,
            "supportive": supportive,
            "steps": [e.value for e in workflow.events],
            "provider": {"name": case.policy.provider, **letterhead},
            "recipient": recipient,
            "learner_name": learner.full_name,
            "learner_ref": learner.learner_ref,
            "programme": f"{enrolment.programme.title} ({enrolment.programme.code})",
            "figures": {
                "as_at": day,
                "attendance_percent": figures.attendance_percent,
                "punctuality_percent": figures.punctuality_percent,
                "possible": figures.possible,
                "attended": figures.attended,
                "sessions_missed": figures.sessions_missed,
                "unauthorised": figures.unauthorised,
                "threshold": verdict.words,
                "below_threshold": verdict.below,
                "target_percent": rules.attendance.target_percent,
            },
            "what_happened": workflow.events[Event(event.name)].label,
            "stage": workflow.stage_name(event.to_state),
            "note": event.note,
            "next_step_by": next_step_by,
            "plan": (
                {
                    "targets": plan.targets,
                    "support": plan.support,
                    "review_dates": [date.fromisoformat(d) for d in plan.review_dates],
                }
                if plan
                else None
            ),
            "panel": ({**panel, "date": date.fromisoformat(panel["date"])} if panel else None),
            "outcome": data.get("outcome"),
            "reason": data.get("reason") if job.template == "withdrawal" else None,
            "exit_strategy": data.get("exit_strategy"),
            "appeal_by": (
                add_working_days(day, APPEAL_WORKING_DAYS) if job.template == "withdrawal" else None
            ),
            "sender_name": sender.name if sender else case.policy.provider,
            "sender_role": _role_words(event, case) if sender else "Attendance team",
            "contact_name": mentor.name if mentor else "Your programme team",
            "contact_email": mentor.email if mentor else None,
        }
    )


def _role_words(event: CaseEvent, case: Case) -> str:
    roles = case_roles(event.actor, case.enrolment)
    if "head_of_programme" in roles:
        return "Head of Programme"
    if "tutor_mentor" in roles:
        return "Tutor and Mentor"
    return "Staff"
