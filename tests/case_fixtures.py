"""Fixtures for case tests (a plugin of tests/conftest.py): a staffed programme under each
policy, and a clock to move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.cases.service import ActionResult, act
from casework.extensions import db
from casework.models import (
    Case,
    Enrolment,
    LetterJob,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    User,
)
from tests.factories import Factory

TERM_START = datetime(2026, 9, 7, 9, 0)  # a Monday; one session a day from here

PLAN = {
    "targets": ["Attend every timetabled session"],
    "support": ["Weekly check-in with the mentor"],
    "review_dates": ["2026-12-01"],
}
PANEL = {
    "date": "2026-12-10",
    "time": "10:00",
    "place": "Meeting room 2",
    "members": ["Head of programme", "Head of learning support"],
}


@dataclass
class Team:
    """A programme under one policy with its head of programme and a mentor."""

    factory: Factory
    policy_key: str
    head: User
    mentor: User
    other_mentor: User
    outsider_head: User  # heads a different programme
    admin: User
    safeguarding: User

    def __post_init__(self) -> None:
        self.programme = self.factory.programme(self.policy_key)
        db.session.add(
            ProgrammeStaff(programme=self.programme, user=self.head, role=ProgrammeRole.HEAD)
        )
        other = self.other_programme = self.factory.programme(self.policy_key)
        db.session.add(
            ProgrammeStaff(programme=other, user=self.outsider_head, role=ProgrammeRole.HEAD)
        )
        db.session.flush()
        self._days: dict[int, int] = {}  # days of sessions used so far, per enrolment

    def learner(self, *, born: date = date(2010, 1, 1), **enrolment_kw) -> Enrolment:
        learner = self.factory.learner(date_of_birth=born)
        enrolment_kw.setdefault("mentor_id", self.mentor.id)
        return self.factory.enrolment(learner=learner, programme=self.programme, **enrolment_kw)

    def skip(self, enrolment: Enrolment, days: int) -> None:
        self._days[enrolment.id] = self._days.get(enrolment.id, 0) + days

    def mark(self, enrolment: Enrolment, codes: str) -> date:
        """Mark the next sessions, one a day, with ``codes``; returns the last day marked."""
        start = self._days.get(enrolment.id, 0)
        self.factory.register(enrolment, codes, start=TERM_START + timedelta(days=start))
        self._days[enrolment.id] = start + len(codes)
        db.session.commit()
        return (TERM_START + timedelta(days=start + len(codes) - 1)).date()


@pytest.fixture
def team(make: Factory) -> Iterator[callable]:
    def build(policy_key: str = "003-green-labyrinth") -> Team:
        return Team(
            make,
            policy_key,
            head=make.user(Role.HEAD_OF_PROGRAMME, name="Hana Head"),
            mentor=make.user(Role.TUTOR_MENTOR, name="Mo Mentor"),
            other_mentor=make.user(Role.TUTOR_MENTOR, name="Otto Other"),
            outsider_head=make.user(Role.HEAD_OF_PROGRAMME, name="Ola Outsider"),
            admin=make.user(Role.ADMINISTRATOR, name="Ada Admin"),
            safeguarding=make.user(Role.SAFEGUARDING_LEAD, name="Sal Safeguarding"),
        )

    yield build


@pytest.fixture
def clock() -> Iterator[callable]:
    """``clock(day)`` moves the clock to the evening of ``day`` (after its sessions)."""
    traveller = None

    def move(day: date) -> None:
        nonlocal traveller
        if traveller is not None:
            traveller.stop()
        traveller = time_machine.travel(datetime.combine(day, time(19, 0), tzinfo=UTC), tick=True)
        traveller.start()

    yield move
    if traveller is not None:
        traveller.stop()


def fire(actor: User, case: Case, event: str, *, today: date, **data) -> ActionResult:
    """A staff action on the version of the case just read, with a note."""
    db.session.refresh(case)
    return act(
        actor=actor,
        event=event,
        case_id=case.id,
        expected_version=case.version,
        note=f"{event} by {actor.name}",
        data=data,
        today=today,
    )


def to_written_warning(t: Team, case: Case, clock: callable, today: date) -> date:
    """Take a case the scan opened on ``today`` to a written warning: the mentor's verbal warning,
    the next occurrence (back for two sessions, then absent), the head's written warning, whose
    letters wait for the head's approval. Returns the day of the warning."""
    fire(t.mentor, case, "give_verbal_warning", today=today, action_plan=PLAN)
    day = t.mark(case.enrolment, "PPU")
    clock(day)
    run_scan(day)
    fire(t.head, case, "issue_written_warning", today=day, action_plan=PLAN)
    return day


def render_letters(case: Case) -> None:
    """Render every letter job of ``case`` (the tests record them without rendering)."""
    from casework.documents.jobs import render_job  # WeasyPrint, only where letters render

    for job_id in db.session.scalars(
        select(LetterJob.id).where(LetterJob.case_id == case.id).order_by(LetterJob.id)
    ).all():
        render_job(job_id)
