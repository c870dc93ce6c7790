"""Who the letters of a learner's cases would go to: per contact, which letter kinds reach them
and how; and the contacts a policy needs that the learner lacks.

Read from the same rules that address the letters (the policy's [contacts] and each event's
letters, applied as ``casework.cases.letters.recipients`` applies them), so the page says what
the letters will do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from casework.cases.letters import channel_for
from casework.models import Contact, ContactKind, Enrolment, EnrolmentStatus, Learner
from casework.policies.rules import rules_of

KIND_WORDS = {
    ContactKind.PARENT_CARER: "parent or carer",
    ContactKind.EMPLOYER: "employer",
    ContactKind.MAIN_SCHOOL: "main school",
}
CHANNEL_WORDS = {"post": "By post", "email": "By email", "none": "Cannot be sent"}


def letter_words(template: str) -> str:
    return template.replace("_", " ").capitalize()


@dataclass
class ContactLetters:
    contact: Contact
    kind_words: str
    channel: str  # "post", "email" or "none"
    letters: list[str] = field(default_factory=list)  # letter kinds always sent to them
    conditional: list[str] = field(default_factory=list)  # only with unexplained absence
    condition: str = ""

    @property
    def channel_words(self) -> str:
        return CHANNEL_WORDS[self.channel]


@dataclass(frozen=True)
class MissingContact:
    kind_words: str
    programme: str
    letters: list[str]
    conditional: bool  # the letters reach that contact only where there is unexplained absence


@dataclass
class LearnerLetters:
    learner_channel: str
    contacts: list[ContactLetters]
    missing: list[MissingContact]


def _kind_of(recipient: str, enrolment: Enrolment, age: int) -> tuple[ContactKind, bool] | None:
    """The contact kind a letter's ``to`` entry reaches for this enrolment, and whether only
    where the letter's figures show unexplained absence; None where it reaches no contact."""
    rules = rules_of(enrolment.programme.policy).contacts
    if recipient in ("parent_carer", "parent_carer_extended"):
        if age < rules.parent_carer_under_age:
            return ContactKind.PARENT_CARER, False
        extended = rules.parent_carer_extended_under_age
        if recipient == "parent_carer_extended" and extended is not None and age < extended:
            return ContactKind.PARENT_CARER, True
        return None
    if recipient == "employer" and enrolment.is_apprentice and rules.employer_letters:
        return ContactKind.EMPLOYER, False
    if recipient == "main_school" and enrolment.is_dual_registered and rules.main_school_letters:
        return ContactKind.MAIN_SCHOOL, False
    return None


def learner_letters(learner: Learner, enrolments: list[Enrolment], today: date) -> LearnerLetters:
    """For the active enrolments given (those the reader may see)."""
    age = learner.age_on(today)
    # contact kind -> letter kind -> True when only with unexplained absence
    reaching: dict[ContactKind, dict[str, bool]] = {}
    needed: dict[tuple[ContactKind, str], dict[str, bool]] = {}
    for enrolment in enrolments:
        if enrolment.status is not EnrolmentStatus.ACTIVE:
            continue
        for spec in rules_of(enrolment.programme.policy).workflow.events.values():
            for letter in spec.letters:
                for recipient in letter.to:
                    found = _kind_of(recipient, enrolment, age)
                    if found is None:
                        continue
                    kind, conditional = found
                    words = letter_words(letter.template)
                    known = reaching.setdefault(kind, {})
                    known[words] = known.get(words, True) and conditional
                    letters = needed.setdefault((kind, enrolment.programme.code), {})
                    letters[words] = letters.get(words, True) and conditional
    contacts = []
    for contact in learner.contacts:
        row = ContactLetters(contact, KIND_WORDS[contact.kind], channel_for(contact))
        if contact.receives_letters:
            for words, conditional in reaching.get(contact.kind, {}).items():
                (row.conditional if conditional else row.letters).append(words)
            if row.conditional:
                row.condition = "only where there is unexplained absence"
        contacts.append(row)
    receiving = {c.kind for c in learner.contacts if c.receives_letters}
    missing = [
        MissingContact(KIND_WORDS[kind], programme, list(letters), all(letters.values()))
        for (kind, programme), letters in needed.items()
        if kind not in receiving
    ]
    return LearnerLetters(channel_for(learner), contacts, missing)
