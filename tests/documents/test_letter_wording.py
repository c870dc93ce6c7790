"""Wording and layout, read back from the PDF: text inserted into a letter reads as sentences,
review dates come once each and in order, the figures never split across pages, and a main school
or an employer is written to as a partner organisation."""

from __future__ import annotations

from datetime import date

import pytest

from casework.documents.render import letter_pdf
from casework.documents.samples import sample_letters
from casework.documents.titles import TITLES
from tests.cases.conftest import PLAN, fire
from tests.documents.test_letters import long_date, pages_of, text_of

SAMPLES = dict(sample_letters())
# The parents' wording, never used to a partner organisation.
FAMILY_WORDS = (
    "something at home",
    "We would much rather hear from you early",
    "bring someone with you",
)


def test_inserted_reasons_and_outcomes_read_as_sentences():
    withdrawal = {
        **SAMPLES["formal-withdrawal"],
        "reason": "the action plan was not kept.",
        "exit_strategy": "a place on the evening course has been offered..",
    }
    text = text_of(letter_pdf(withdrawal))
    assert "has ended. The reason: The action plan was not kept. What happens now" in text
    assert "A place on the evening course has been offered. Advice" in text
    outcome = {**SAMPLES["formal-panel_outcome"], "outcome": "carry on with weekly support."}
    assert "What the meeting decided: Carry on with weekly support. What we agreed" in text_of(
        letter_pdf(outcome)
    )
    for letter in (withdrawal, outcome):
        assert ".." not in text_of(letter_pdf(letter))


def test_review_dates_are_named_once_each_in_order(case_003):
    t, case, day = case_003
    plan = {**PLAN, "review_dates": ["2026-12-18", "2026-12-04", "2026-12-18"]}
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=plan)
    for job in result.letters:
        assert job.snapshot["plan"]["review_dates"] == ["2026-12-04", "2026-12-18"]
        text = text_of(letter_pdf({**job.snapshot, "reference": "TEST"}))
        first, second = long_date(date(2026, 12, 4)), long_date(date(2026, 12, 18))
        assert f"Review dates: {first}, {second}." in text
        assert f"We will review progress together on {first}." in text


@pytest.mark.parametrize("targets", range(6))
def test_the_figures_are_never_split_across_pages(targets):
    """Longer plans push the figures down the first page, past where they once broke."""
    data = SAMPLES["formal-verbal_warning"]
    plan = {**data["plan"], "targets": [f"Target {n} to keep" for n in range(targets)]}
    pages = pages_of(letter_pdf({**data, "plan": plan}))
    (page,) = [page for page in pages if "Attendance so far" in page]
    assert "Sessions missed" in page and "These figures are up to" in page


@pytest.mark.parametrize("kind", ["employer", "main_school"])
@pytest.mark.parametrize("template", list(TITLES))
def test_partner_organisations_get_their_own_wording(template, kind):
    data = SAMPLES[f"formal-{template}"]
    text = text_of(letter_pdf({**data, "recipient": {**data["recipient"], "kind": kind}}))
    assert not [words for words in FAMILY_WORDS if words in text]
    assert f"know of anything that would help us support {data['learner_name']}" in text
