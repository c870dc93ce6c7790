"""Case tests use the fixtures of tests/case_fixtures.py (loaded by tests/conftest.py), and the
routes below, which take cases through every letter a policy's workflow sends."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.machines.workflow import Event
from casework.models import Case, Enrolment
from tests.case_fixtures import PANEL, PLAN, TERM_START, Team, fire
from tests.machines.test_transition_table import POLICY_DOCS, actor_for, event_data

__all__ = [
    "FIGURES",
    "PANEL",
    "PLAN",
    "POLICY_DOCS",
    "ROUTES",
    "TERM_START",
    "Team",
    "fire",
    "follow",
    "leg_day",
]

# The ways a case goes through each policy's workflow after its concern notice, as legs: the
# first leg answers the occurrence that opened the case, each later one the next occurrence the
# scan finds. Together a policy's routes send every letter its file names.
_DISCIPLINARY = (
    ("give_verbal_warning",),
    ("issue_written_warning",),
    ("convene_panel", "withdraw"),
)
_FITNESS_TO_STUDY = (
    ("refer_fitness_to_study",),
    ("review_fitness_to_study",),
    ("convene_panel", "confirm_fit_to_study", "close"),
)
_SCHOOL = (("refer_fitness_to_study",), ("review_fitness_to_study", "close"))
ROUTES: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "000-sek": {"disciplinary": _DISCIPLINARY, "fitness_to_study": _FITNESS_TO_STUDY},
    # No fitness-to-study panel: a panel only follows the employer action plan.
    "001-sts": {"disciplinary": _DISCIPLINARY, "fitness_to_study": _SCHOOL},
    "002-ap-schools": {"fitness_to_study": _SCHOOL},
    "003-green-labyrinth": {
        "disciplinary": (
            *_DISCIPLINARY[:2],
            ("convene_panel", "issue_final_written_warning", "record_review", "withdraw"),
        ),
        "fitness_to_study": _FITNESS_TO_STUDY,
    },
    "004-nxt-gen": {"fitness_to_study": _SCHOOL},
}

# The registers behind the legs, one session a day: the opening one (8 of 10 attended, one of
# them late), then before each later leg back for two sessions and absent again.
REGISTERS = {"further_education": ("PPPPPPPLUU", "PPU"), "statutory": ("///////LOO", "//O")}
# Attendance and punctuality as the letters of each leg print them (attended / possible and
# on time / attended after those registers).
FIGURES = (("80.0%", "87.5%"), ("76.9%", "90.0%"), ("75.0%", "91.7%"))


def leg_day(leg: int) -> date:
    """The day of a leg's scan and letters: the opening register takes ten days, each later
    register three."""
    return (TERM_START + timedelta(days=9 + 3 * leg)).date()


def follow(t: Team, clock, cohorts: dict[str, list[Enrolment]]) -> dict[str, list[Case]]:
    """Open a case on each enrolment through the nightly scan and take the cases of each route
    of ``t``'s policy through it, all together and through act() as the permitted staff.

    Only the cases still going are marked before the next scan, so none opens a second case.
    A plan agreed on a leg is reviewed four weeks after the leg's day (its own date, so a
    letter naming another plan's date shows).
    """
    policy = t.policy_key
    opening, again = REGISTERS[POLICY_DOCS[policy].document["code_set"]]
    routes = {route: ROUTES[policy][route] for route in cohorts}
    cases: dict[str, list[Case]] = {}
    for leg in range(max(len(legs) for legs in routes.values())):
        going = [e for route, legs in routes.items() if leg < len(legs) for e in cohorts[route]]
        days = {t.mark(enrolment, again if leg else opening) for enrolment in going}
        assert days == {leg_day(leg)}
        day = leg_day(leg)
        clock(day)
        run_scan(day)
        if not cases:
            opened = {
                case.enrolment_id: case
                for case in db.session.scalars(
                    select(Case).where(Case.enrolment_id.in_([e.id for e in going]))
                )
            }
            cases = {route: [opened[e.id] for e in cohort] for route, cohort in cohorts.items()}
        for route, legs in routes.items():
            for step in legs[leg] if leg < len(legs) else ():
                for case in cases[route]:
                    _take(t, case, step, day)
    return cases


def _take(t: Team, case: Case, step: str, day: date) -> None:
    if step == "record_review":  # the final written warning's plan not kept
        fire(t.mentor, case, step, today=day, reviewed_on=day.isoformat(), outcome="not_met")
        return
    event = Event(step)
    data = event_data(t.policy_key, event)
    if "action_plan" in data:
        data["action_plan"] = {**PLAN, "review_dates": [(day + timedelta(weeks=4)).isoformat()]}
    fire(actor_for(t, t.policy_key, event), case, step, today=day, **data)
