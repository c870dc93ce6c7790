"""The outbox as staff see it: the messages of their programmes, one message with each attempt
to send it, sending a failed one again, and the contact details missing for messages to go.

Every read goes through ``scope.visible_messages``: a message outside the user's scope is not
found, as a case is. Resending is the one change, and this module owns its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from casework import scope
from casework.errors import Forbidden, GuardFailed, NotFound
from casework.extensions import db
from casework.models import (
    Case,
    Contact,
    ContactKind,
    DeliveryAttempt,
    Enrolment,
    EnrolmentStatus,
    Learner,
    Letter,
    LetterJob,
    Mark,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Programme,
    Role,
    User,
)
from casework.models.types import utcnow
from casework.policies.rules import PolicyRules, rules_of

LOCAL = ZoneInfo("Europe/London")  # the date filters are days as staff in the UK count them
# Who may send a message again: those who keep the programme's contact details, and its head.
RESEND_ROLES = (Role.ADMINISTRATOR, Role.HEAD_OF_PROGRAMME, Role.ADMINISTRATION_OFFICER)
# A failed message, or one that had no address (its address may be there now). A cancelled one
# is not: its cause (a mark, a letter) no longer holds.
RESENDABLE = (MessageStatus.FAILED, MessageStatus.NO_ADDRESS)
# The audit row of a resend, in the message's attempt log (no attempt was made at that time).
RESEND_OUTCOME = "resend"
# An attempt that handed an email to the server and never heard back (the sender's word for it).
UNKNOWN_OUTCOME = "unknown"
CHANNEL_FIELD = {MessageChannel.EMAIL: "email", MessageChannel.SMS: "phone"}
CHANNEL_WORDS = {MessageChannel.EMAIL: "email address", MessageChannel.SMS: "mobile number"}


@dataclass(frozen=True)
class OutboxQuery:
    """What the list is narrowed to: every field optional; days are UK days, both included."""

    status: MessageStatus | None = None
    kind: MessageKind | None = None
    channel: MessageChannel | None = None
    learner_ref: str | None = None
    created_from: date | None = None
    created_to: date | None = None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL).astimezone(UTC)


def message_page(
    user: User, query: OutboxQuery, page: int, per_page: int
) -> tuple[list[MessageRow], int]:
    """One page of the messages ``user`` may see, the newest first, and how many match."""
    wanted = scope.visible_messages(user)
    if query.status:
        wanted = wanted.where(OutboxMessage.status == query.status)
    if query.kind:
        wanted = wanted.where(OutboxMessage.kind == query.kind)
    if query.channel:
        wanted = wanted.where(OutboxMessage.channel == query.channel)
    if query.learner_ref:
        refs = select(Learner.id).where(
            func.lower(Learner.learner_ref) == query.learner_ref.lower()
        )
        wanted = wanted.where(OutboxMessage.learner_id.in_(refs))
    if query.created_from:
        wanted = wanted.where(OutboxMessage.created_at >= _start_of(query.created_from))
    if query.created_to:
        wanted = wanted.where(
            OutboxMessage.created_at < _start_of(query.created_to + timedelta(days=1))
        )
    total = db.session.scalar(select(func.count()).select_from(wanted.subquery())) or 0
    rows = db.session.execute(
        wanted.add_columns(Learner)
        .outerjoin(Learner, Learner.id == OutboxMessage.learner_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return [MessageRow(message, learner) for message, learner in rows], total


@dataclass(frozen=True)
class MessageRow:
    message: OutboxMessage
    learner: Learner | None


@dataclass(frozen=True)
class MessageView:
    """One message and what caused it, as far as ``user`` may follow it."""

    message: OutboxMessage
    attempts: list[DeliveryAttempt]
    learner: Learner | None
    programme: Programme | None
    mark: Mark | None
    case_id: int | None  # the case of its letter, when the user may see that case
    letter: Letter | None  # the letter attached (rendered), when there is one
    may_resend: bool

    @property
    def maybe_delivered(self) -> bool:
        """Its last attempt may have reached the recipient: staff check before resending."""
        tries = [a for a in self.attempts if a.outcome != RESEND_OUTCOME]
        return bool(tries) and tries[-1].outcome == UNKNOWN_OUTCOME


def may_resend(user: User, message: OutboxMessage) -> bool:
    return message.status in RESENDABLE and any(user.has_role(r) for r in RESEND_ROLES)


def message_for(user: User, message_id: int, *, for_update: bool = False) -> OutboxMessage:
    """Message ``message_id`` if ``user`` may see it (else ``NotFound``)."""
    query = scope.visible_messages(user).where(OutboxMessage.id == message_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    message = db.session.scalars(query).one_or_none()
    if message is None:
        raise NotFound(f"There is no message {message_id}.")
    return message


def message_view(user: User, message_id: int) -> MessageView:
    message = message_for(user, message_id)
    case_id, letter = None, None
    if message.letter_job_id:
        job = db.session.get(LetterJob, message.letter_job_id)
        seen = scope.visible_cases(user).where(Case.id == job.case_id).with_only_columns(Case.id)
        case_id = db.session.scalar(seen)
        letter = db.session.scalars(
            select(Letter).where(Letter.job_id == job.id).order_by(Letter.id.desc()).limit(1)
        ).first()
    return MessageView(
        message=message,
        attempts=list(message.attempt_log),
        learner=db.session.get(Learner, message.learner_id) if message.learner_id else None,
        programme=db.session.get(Programme, message.programme_id) if message.programme_id else None,
        mark=db.session.get(Mark, message.mark_id) if message.mark_id else None,
        case_id=case_id,
        letter=letter if case_id else None,
        may_resend=may_resend(user, message),
    )


def current_address(message: OutboxMessage) -> str | None:
    """The recipient's address for the message's channel as it is now: from its contact, or the
    learner for a message to the learner; a message to staff or a school keeps the address it
    had."""
    person: Learner | Contact | None = None
    if message.contact_id is not None:
        person = db.session.get(Contact, message.contact_id)
    elif message.recipient_kind == "learner" and message.learner_id is not None:
        person = db.session.get(Learner, message.learner_id)
    value = message.address if person is None else getattr(person, CHANNEL_FIELD[message.channel])
    return (value or "").strip() or None


def resend(message_id: int, by_staff: User) -> OutboxMessage:
    """Queue a failed message (or one that had no address) again, due now, with the address its
    recipient has now. Its attempts are kept, and a row in its attempt log says who asked.
    Commits. Not in scope: ``NotFound``; a role that may not: ``Forbidden``; a message that cannot
    go again (sent, waiting, cancelled, still no address): ``GuardFailed`` in words."""
    message = message_for(by_staff, message_id, for_update=True)
    if not any(by_staff.has_role(role) for role in RESEND_ROLES):
        raise Forbidden(
            "Only administrators, heads of programme and administration officers send messages "
            "again."
        )
    if message.status not in RESENDABLE:
        raise GuardFailed(_not_resendable(message))
    address = current_address(message)
    if address is None:
        raise GuardFailed(
            f"{message.recipient_name} still has no {CHANNEL_WORDS[message.channel]}: add it on "
            "the learner's page, then send the message again."
        )
    now = utcnow()
    db.session.add(
        DeliveryAttempt(
            message=message,
            started_at=now,
            finished_at=now,
            outcome=RESEND_OUTCOME,
            error=f"Sent again at the request of {by_staff.name} ({by_staff.email}), after "
            f"{message.attempts} attempt{'' if message.attempts == 1 else 's'} "
            f"({message.status.value.replace('_', ' ')}).",
        )
    )
    message.address = address
    message.status = MessageStatus.QUEUED
    message.next_attempt_at = now
    message.claimed_until = None
    message.attempts = 0  # the sender's retries start again; the attempt log keeps the old ones
    message.last_error = None
    message.reason = None
    db.session.commit()
    return message


def _not_resendable(message: OutboxMessage) -> str:
    if message.status is MessageStatus.CANCELLED:
        return (
            f"This message was cancelled ({message.reason or 'its cause no longer holds'}), "
            "so it is not sent again."
        )
    if message.status is MessageStatus.SENT:
        return "This message has been sent: there is nothing to send again."
    return "This message is waiting to be sent already."


# --- contact gaps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """A contact detail a policy needs for its messages: who, by which channel, and why."""

    recipient_kind: str  # learner, parent_carer, employer, main_school
    attribute: str  # "email" or "phone" (of the contact or the learner)
    why: str
    # Only where the learner has such a contact (a notice "to employer" reaches apprentices'
    # employers: a learner with none is not an apprentice, and nothing is missing).
    if_any: bool = False


HOW = {"sms": "a text message", "email": "an email"}
OCCASIONS = {
    "first_in_period": "the first absence",
    "later_in_period": "later absences",
    "every": "every absence",
}


def message_needs(rules: PolicyRules, age: int) -> list[Need]:
    """The contact details a learner of ``age`` under ``rules`` needs for the policy's messages:
    the one place that reads the policy for this. Absence notices come from ``[[notices]]``, the
    schools' reports from ``[contacts]``."""
    contacts = rules.contacts
    adult = age >= contacts.parent_carer_under_age
    needs = _needs_of_notices(rules.notices, adult)
    if contacts.main_school_told_by:
        needs.append(
            Need(
                "main_school",
                "email",
                f"The policy emails the main school attendance by {contacts.main_school_told_by}.",
            )
        )
    if contacts.school_told_within_minutes:
        needs.append(
            Need(
                "main_school",
                "email",
                "The policy emails the commissioning school within "
                f"{contacts.school_told_within_minutes} minutes of each session's start.",
            )
        )
    # Two notices by the same means need the detail once.
    unique: dict[tuple[str, str], Need] = {}
    for need in needs:
        key = (need.recipient_kind, need.attribute)
        if key in unique:
            was = unique[key]
            unique[key] = Need(*key, f"{was.why} {need.why}", was.if_any and need.if_any)
        else:
            unique[key] = need
    return list(unique.values())


def _needs_of_notices(notices, adult: bool) -> list[Need]:
    """From ``[[notices]]``: each notice's recipients that this learner has (``learner_adult``
    and ``parent_carer`` by age), by its channel."""
    needs = []
    for notice in notices:
        occasion = OCCASIONS[notice.occasion]
        if notice.marks == "unauthorised":
            occasion = occasion.replace("absence", "unauthorised absence")
        why = f"The policy sends {HOW[notice.channel]} on {occasion}."
        attribute = "email" if notice.channel == "email" else "phone"
        for to in notice.to:
            if to == "learner" or (to == "learner_adult" and adult):
                needs.append(Need("learner", attribute, why))
            elif to == "parent_carer" and not adult:
                needs.append(Need("parent_carer", attribute, why))
            elif to in ("employer", "main_school"):
                needs.append(Need(to, attribute, why, if_any=True))
    return needs


@dataclass(frozen=True)
class Gap:
    what: str  # what is missing, in words
    why: str  # why it matters
    message_id: int | None = None
    case_id: int | None = None


@dataclass
class LearnerGaps:
    learner: Learner
    gaps: list[Gap] = field(default_factory=list)


RECIPIENT_WORDS = {
    "learner": "the learner",
    "parent_carer": "a parent or carer",
    "employer": "the employer",
    "main_school": "the main school",
}
ATTRIBUTE_WORDS = {"email": ("an", "email address"), "phone": ("a", "phone number")}


def contact_gaps(user: User, today: date | None = None) -> list[LearnerGaps]:
    """Per learner ``user`` may see, what is missing for their messages and letters to go: the
    messages held for want of an address, the letters with no way to reach their recipient, and
    the details their programme's policy needs that no contact has. Learners with none are left
    out; the learners come in name order."""
    today = today or datetime.now(LOCAL).date()
    found: dict[int, LearnerGaps] = {}

    def gaps_of(learner: Learner) -> list[Gap]:
        return found.setdefault(learner.id, LearnerGaps(learner)).gaps

    held = db.session.execute(
        scope.visible_messages(user)
        .add_columns(Learner)
        .join(Learner, Learner.id == OutboxMessage.learner_id)
        .where(OutboxMessage.status == MessageStatus.NO_ADDRESS)
        .order_by(OutboxMessage.id)
    ).all()
    for message, learner in held:
        words = CHANNEL_WORDS[message.channel]
        gaps_of(learner).append(
            Gap(
                message.reason or f"{message.recipient_name} has no {words}",
                f"The message \u201c{message.subject}\u201d is held until it is added.",
                message_id=message.id,
            )
        )

    # The learners' letters whoever keeps their contacts sees (an administration officer sees no
    # case, but fixes the address): the case is linked only for those who may open it.
    seen_enrolments = scope.visible_enrolments(user).with_only_columns(Enrolment.id)
    seen_cases = scope.visible_cases(user).with_only_columns(Case.id)
    unsent = db.session.execute(
        select(LetterJob, Learner, Case.id.in_(seen_cases))
        .join(Case, Case.id == LetterJob.case_id)
        .join(Enrolment, Enrolment.id == Case.enrolment_id)
        .join(Learner, Learner.id == Enrolment.learner_id)
        .where(LetterJob.channel == "none", Case.enrolment_id.in_(seen_enrolments))
        .order_by(LetterJob.id)
    ).all()
    for job, learner, case_seen in unsent:
        to = RECIPIENT_WORDS.get(job.recipient_kind, "a contact")
        gaps_of(learner).append(
            Gap(
                f"A {job.template.replace('_', ' ')} letter to {to} has no postal address or "
                "email address",
                "The letter cannot reach them until one is added.",
                case_id=job.case_id if case_seen else None,
            )
        )

    enrolments = db.session.scalars(
        scope.visible_enrolments(user)
        .where(Enrolment.status == EnrolmentStatus.ACTIVE)
        .options(
            selectinload(Enrolment.learner).selectinload(Learner.contacts),
            selectinload(Enrolment.programme).selectinload(Programme.policy),
        )
        .order_by(Enrolment.id)
    ).all()
    for enrolment in enrolments:
        learner = enrolment.learner
        rules = rules_of(enrolment.programme.policy)
        for need in message_needs(rules, learner.age_on(today)):
            missing = _missing(learner, need)
            if missing:
                gaps_of(learner).append(Gap(missing, f"{need.why} ({enrolment.programme.title})"))
    return sorted(
        found.values(), key=lambda g: (g.learner.family_name, g.learner.given_name, g.learner.id)
    )


def _missing(learner: Learner, need: Need) -> str | None:
    """What is missing for ``need``, in words; None when a contact has it."""
    article, words = ATTRIBUTE_WORDS[need.attribute]
    if need.recipient_kind == "learner":
        return None if getattr(learner, need.attribute) else f"The learner has no {words}"
    kind = ContactKind(need.recipient_kind)
    contacts = [c for c in learner.contacts if c.kind == kind]
    who = RECIPIENT_WORDS[need.recipient_kind]
    if not contacts:
        return None if need.if_any else f"There is no contact for {who}"
    if any(getattr(c, need.attribute) for c in contacts):
        return None
    return f"No contact for {who} has {article} {words}"
