"""Each letter's title, in a formal provider's words and in a supportive one's."""

from __future__ import annotations

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
# Letters that must never use warning language (fitness to study is support, not discipline).
SUPPORT_LETTERS = frozenset({"fitness_to_study_plan", "updated_action_plan", "panel_outcome"})


def title_of(template: str, supportive: bool, *, below_threshold: bool) -> str:
    if template == "closing_letter" and below_threshold:
        return CLOSED_SHORT_TITLE
    return TITLES[template][supportive]
