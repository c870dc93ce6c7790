"""What the contact gaps read from each shipped policy: the contact details its messages need,
for a learner under and over its parent-or-carer age (one small function, ``message_needs``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from casework.messages.outbox import message_needs
from casework.policies import load_policies

POLICIES = {p.rules.key: p.rules for p in load_policies()}


@pytest.mark.parametrize(
    ("policy", "age", "needs"),
    [
        ("000-sek", 17, set()),
        # 001: the employer is told of unauthorised absences on the day.
        ("001-sts", 17, {("employer", "email")}),
        ("001-sts", 30, {("employer", "email")}),
        # 002: the commissioning school within 30 minutes; a parent phoned on later absences.
        ("002-ap-schools", 14, {("main_school", "email"), ("parent_carer", "phone")}),
        # 003: a text on the first absence, an email after; the parent's under 18.
        ("003-green-labyrinth", 17, {("parent_carer", "phone"), ("parent_carer", "email")}),
        ("003-green-labyrinth", 18, {("learner", "phone"), ("learner", "email")}),
        # 004: the main school by 9:15, parents phoned on the first day.
        ("004-nxt-gen", 12, {("main_school", "email"), ("parent_carer", "phone")}),
    ],
)
def test_the_contact_details_each_policy_needs(policy, age, needs):
    found = message_needs(POLICIES[policy], age)
    assert {(n.recipient_kind, n.attribute) for n in found} == needs
    assert all(n.why.startswith("The policy ") for n in found)


def test_two_notices_by_the_same_means_need_the_detail_once_and_say_both_reasons():
    rules = POLICIES["003-green-labyrinth"]
    phone_twice = rules.contacts.__class__(
        **{**rules.contacts.__dict__, "later_absence_notice": "sms"}
    )
    (need,) = message_needs(rules.__class__(**{**rules.__dict__, "contacts": phone_twice}), 16)
    assert (need.recipient_kind, need.attribute) == ("parent_carer", "phone")
    assert need.why == (
        "The policy sends a text message on the first absence. "
        "The policy sends a text message on later absences."
    )


def notice(channel: str, occasion: str, *to: str, marks: str = "absent") -> SimpleNamespace:
    return SimpleNamespace(channel=channel, occasion=occasion, to=to, marks=marks)


# The [[notices]] of 003 and 001 as the NOTICES branch writes them (their [contacts] keys gone).
NOTICES_003 = (
    notice("sms", "first_in_period", "parent_carer", "learner_adult", "employer"),
    notice("email", "later_in_period", "parent_carer", "learner_adult", "employer"),
)
NOTICES_001 = (notice("email", "every", "employer", marks="unauthorised"),)


@pytest.mark.parametrize(
    ("notices", "age", "needs"),
    [
        (NOTICES_003, 16, {("parent_carer", "phone"), ("parent_carer", "email")}),
        (NOTICES_003, 19, {("learner", "phone"), ("learner", "email")}),
        (NOTICES_001, 30, set()),
        ((), 16, set()),
    ],
)
def test_with_notices_the_needs_come_from_them(notices, age, needs):
    rules = POLICIES["000-sek"]
    found = message_needs(SimpleNamespace(contacts=rules.contacts, notices=notices), age)
    assert {(n.recipient_kind, n.attribute) for n in found if not n.if_any} == needs
    # An employer is needed only by the learners who have one (apprentices).
    employer = [n for n in found if n.recipient_kind == "employer"]
    assert all(n.if_any for n in employer)
    assert bool(employer) is any("employer" in n.to for n in notices)


def test_a_notice_about_unauthorised_absence_says_so():
    (need,) = message_needs(
        SimpleNamespace(contacts=POLICIES["000-sek"].contacts, notices=NOTICES_001), 30
    )
    assert need.why == "The policy sends an email on every unauthorised absence."
