"""Who gets each letter, under every policy: every letter job of every route (tests/cases/
conftest.py) compared with the policy file's ``to`` lists, for learners either side of the
parent/carer age limits, apprentices or not, dual-registered or not, with and without contacts of
each kind. Cases are opened by the nightly scan and moved on through act(), never by calling
``casework.cases.letters`` directly.

The rules, from docs/workflow.md and the policy files: the learner where the file names
them; parents and carers ("parent_carer") for learners under 18 on the letter's day; 003's
letters ("parent_carer_extended") up to the 25th birthday where the letter's figures show
unexplained absence (003 section 4.3; the routes' registers always do, and the last test here
covers explained absence); never an employer in 003 (5.2 option B(b)); the
employer only for apprentices and only where the file's ``employer_letters`` says so; the main
school only for dual-registered learners and only where ``main_school_letters`` says so; and only
contacts who receive letters, one letter each.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import product

import pytest
from sqlalchemy import select

from casework.cases.service import act
from casework.extensions import db
from casework.models import (
    AbsenceReason,
    CaseEvent,
    Contact,
    ContactKind,
    LetterJob,
    Mark,
    MarkCategory,
)
from tests.cases.conftest import PLAN, POLICY_DOCS, ROUTES, fire, follow, leg_day
from tests.machines.test_transition_table import _fast_passwords  # noqa: F401 (autouse)

# The recipient words of the policy files that reach a parent or carer, by the learner's age on
# the letter's day (ages either side of both limits).
PARENT_WORDS = {
    17: {"parent_carer", "parent_carer_extended"},
    18: {"parent_carer_extended"},  # 18 that very day
    24: {"parent_carer_extended"},
    25: set(),  # 25 that very day
    26: set(),
}
# Every learner's contacts: two parents or carers (each gets their own copy), an employer and a
# main school.
CONTACTS = (
    (ContactKind.PARENT_CARER, "Pat Parent"),
    (ContactKind.PARENT_CARER, "Kim Carer"),
    (ContactKind.EMPLOYER, "Acme Ltd"),
    (ContactKind.MAIN_SCHOOL, "Hill Academy"),
)


@dataclass(frozen=True)
class Profile:
    age: int
    apprentice: bool
    dual_registered: bool
    without: ContactKind | None = None  # has no contact of this kind
    letters_declined: bool = False  # every contact has asked for no letters

    def contacts(self) -> list[tuple[ContactKind, str]]:
        return [(kind, name) for kind, name in CONTACTS if kind != self.without]

    def born(self, first: date, last: date) -> date:
        """A birthday that makes the learner ``age`` on every letter day from ``first`` to
        ``last``: 18 and 25 are reached on ``first`` itself, the other ages are one day short of
        the next birthday on ``last``."""
        if self.age in (18, 25):
            return first.replace(year=first.year - self.age)
        after = last + timedelta(days=1)
        return after.replace(year=after.year - self.age - 1)


PROFILES = [
    # Age, apprentice, dual-registered, pairwise: every age is met with and without each of the
    # other two, and every combination of those two is met.
    Profile(17, False, False),
    Profile(17, True, True),
    Profile(18, False, True),
    Profile(18, True, False),
    Profile(24, False, False),
    Profile(24, True, True),
    Profile(25, False, True),
    Profile(25, True, False),
    Profile(26, False, False),
    Profile(26, True, True),
    # Someone who would get every kind of copy, less one kind of contact, or with no contact who
    # wants letters.
    *(Profile(17, True, True, without=kind) for kind in ContactKind),
    Profile(17, True, True, letters_declined=True),
]


# The contacts each recipient word of the policy files stands for.
CONTACT_KIND = {
    "parent_carer": ContactKind.PARENT_CARER,
    "parent_carer_extended": ContactKind.PARENT_CARER,
    "employer": ContactKind.EMPLOYER,
    "main_school": ContactKind.MAIN_SCHOOL,
}


def reaches(word: str, profile: Profile, contacts: dict) -> bool:
    """Whether a letter addressed to ``word`` in the policy file goes to that kind of contact."""
    if word == "employer":
        return profile.apprentice and contacts["employer_letters"]
    if word == "main_school":
        return profile.dual_registered and contacts["main_school_letters"]
    return word in PARENT_WORDS[profile.age]


def expected_letters(policy: dict, legs, profile: Profile) -> set[tuple[str, str, str, str]]:
    """(event, template, recipient kind, recipient) for each letter the policy file calls for."""
    out = set()
    for event in ("open", *(step for leg in legs for step in leg)):
        for letter in policy["workflow"]["events"].get(event, {}).get("letters", []):
            template = letter["template"]
            for word in letter["to"]:
                if word == "learner":
                    out.add((event, template, "learner", "learner"))
                elif reaches(word, profile, policy["contacts"]) and not profile.letters_declined:
                    kind = CONTACT_KIND[word]
                    out |= {
                        (event, template, kind.value, n) for k, n in profile.contacts() if k == kind
                    }
    return out


def recorded_letters(case_id: int) -> list[tuple[str, str, str, str]]:
    rows = db.session.execute(
        select(CaseEvent.name, LetterJob.template, LetterJob.recipient_kind, Contact.name)
        .join(CaseEvent, CaseEvent.id == LetterJob.event_id)
        .outerjoin(Contact, Contact.id == LetterJob.contact_id)
        .where(LetterJob.case_id == case_id)
    )
    return [(event, template, kind, name or "learner") for event, template, kind, name in rows]


@pytest.mark.parametrize("policy_key", sorted(ROUTES))
def test_each_letter_goes_to_exactly_whom_the_policy_names(team, make, clock, policy_key):
    policy = POLICY_DOCS[policy_key].document
    # PARENT_WORDS holds for the files: 18 everywhere; only 003 extends to 25, and only 003's
    # letters name "parent_carer_extended".
    extends = policy_key == "003-green-labyrinth"
    events = policy["workflow"]["events"].values()
    words = {word for spec in events for letter in spec["letters"] for word in letter["to"]}
    assert policy["contacts"]["parent_carer_under_age"] == 18
    assert policy["contacts"]["parent_carer_extended_under_age"] == (25 if extends else None)
    assert ("parent_carer_extended" in words) == extends
    t = team(policy_key)
    routes = ROUTES[policy_key]
    first, last = leg_day(0), leg_day(max(len(legs) for legs in routes.values()) - 1)
    cohorts = {route: [] for route in routes}
    for route, profile in product(routes, PROFILES):
        enrolment = t.learner(
            born=profile.born(first, last),
            is_apprentice=profile.apprentice,
            is_dual_registered=profile.dual_registered,
        )
        for kind, name in profile.contacts():
            make.contact(
                enrolment.learner, kind, name=name, receives_letters=not profile.letters_declined
            )
        cohorts[route].append(enrolment)

    cases = follow(t, clock, cohorts)

    kinds = {
        kind for case in cases.values() for c in case for _e, _t, kind, _n in recorded_letters(c.id)
    }
    # Partners are written to exactly where the file says: main schools in 002 and 004,
    # employers in 000 and 001, never an employer in 003.
    assert ("main_school" in kinds) == policy["contacts"]["main_school_letters"]
    assert ("employer" in kinds) == policy["contacts"]["employer_letters"]
    wrong = {}  # (route, profile) -> the letters missing and those sent but not called for
    for route, profile in product(routes, PROFILES):
        case = cases[route][PROFILES.index(profile)]
        assert case.state in ("withdrawn", "closed")  # the route ran to its end
        want = Counter(expected_letters(policy, routes[route], profile))
        got = Counter(recorded_letters(case.id))
        if got != want:
            wrong[route, profile] = {"missing": want - got, "extra": got - want}
    assert wrong == {}


# 003 section 4.3: from 18 to 24, parents and carers hear of the disciplinary process only where
# there is unexplained absence. The registers behind each case (8 of 10 attended, 80%): two
# unauthorised absences, two authorised ones with no reason recorded (still unexplained), or two
# authorised for illness (explained).
ABSENCES = {"unauthorised": "UU", "no reason": "AA", "illness": "AA"}


@pytest.mark.parametrize("absences", sorted(ABSENCES))
@pytest.mark.parametrize("age", [17, 18, 24, 25])
def test_003_parents_of_adults_hear_only_of_unexplained_absence(team, make, clock, age, absences):
    t = team("003-green-labyrinth")
    enrolment = t.learner(is_apprentice=True)
    for kind, name in CONTACTS:
        make.contact(enrolment.learner, kind, name=name)
    day = t.mark(enrolment, "PPPPPPPP" + ABSENCES[absences])
    enrolment.learner.date_of_birth = day.replace(year=day.year - age)  # that very day
    if absences == "illness":
        for mark in db.session.scalars(select(Mark).where(Mark.enrolment_id == enrolment.id)):
            if mark.code.category == MarkCategory.AUTHORISED:
                mark.absence_reason = AbsenceReason.ILLNESS
    db.session.commit()
    clock(day)
    opened = act(actor=t.mentor, event="open", enrolment_id=enrolment.id, note="Seen it", today=day)
    fire(t.mentor, opened.case, "give_verbal_warning", today=day, action_plan=PLAN)

    parents = age < 18 or (age < 25 and absences != "illness")
    want = {"learner"} | ({"Pat Parent", "Kim Carer"} if parents else set())
    for template in ("concern_notice", "verbal_warning"):  # never to the employer (5.2 B(b))
        got = {name for _e, t_, _k, name in recorded_letters(opened.case.id) if t_ == template}
        assert got == want, template
