"""What the contact gaps read from each shipped policy: the contact details its messages need,
for a learner under and over its parent-or-carer age (one small function, ``message_needs``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from casework.messages.outbox import message_needs
from casework.policies import load_policies
from casework.policies.rules import NoticeRule

POLICIES = {p.rules.key: p.rules for p in load_policies()}
EMPLOYER = {("employer", "phone"), ("employer", "email")}


@pytest.mark.parametrize(
    ("policy", "age", "needs"),
    [
        ("000-sek", 17, set()),
        # 001: only the employer, emailed every unauthorised absence on the day.
        ("001-sts", 17, set()),
        ("001-sts", 30, set()),
        # 002: the commissioning school within 30 minutes (the family's phone call is staff's).
        ("002-ap-schools", 14, {("main_school", "email")}),
        # 003: a text on the first absence, an email after: the parent's under 18, the learner's
        # from 18, and an apprentice's employer's.
        ("003-green-labyrinth", 17, {("parent_carer", "phone"), ("parent_carer", "email")}),
        ("003-green-labyrinth", 18, {("learner", "phone"), ("learner", "email")}),
        # 004: the main school by 9:15; the parent texted at 9:00 when nobody rang.
        ("004-nxt-gen", 12, {("main_school", "email"), ("parent_carer", "phone")}),
    ],
)
def test_the_contact_details_each_policy_needs(policy, age, needs):
    found = message_needs(POLICIES[policy], age)
    everyone = {(n.recipient_kind, n.attribute) for n in found if not n.if_any}
    assert everyone == needs
    assert all(n.why.startswith("The policy ") for n in found)
    # An employer is needed only by the learners who have one (apprentices).
    employer = {(n.recipient_kind, n.attribute) for n in found if n.if_any}
    expected = {"001-sts": {("employer", "email")}, "003-green-labyrinth": EMPLOYER}
    assert employer == expected.get(policy, set())


def test_two_notices_by_the_same_means_need_the_detail_once_and_say_both_reasons():
    rules = POLICIES["003-green-labyrinth"]
    first, later = rules.notices
    texts = replace(rules, notices=(first, replace(later, channel="sms")))
    needs = [n for n in message_needs(texts, 16) if n.recipient_kind == "parent_carer"]
    (need,) = needs
    assert need.attribute == "phone"
    assert need.why == (
        "The policy sends a text message on the first absence. "
        "The policy sends a text message on later absences."
    )


def test_a_notice_about_unauthorised_absence_says_so():
    (need,) = message_needs(POLICIES["001-sts"], 30)
    assert need.why == "The policy sends an email on every unauthorised absence."


def test_a_policy_without_notices_needs_nothing_for_them():
    rules = POLICIES["001-sts"]
    assert message_needs(replace(rules, notices=()), 30) == []
    assert isinstance(rules.notices[0], NoticeRule)
