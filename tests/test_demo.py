"""The demo: what build_demo puts in the database, and the ``casework demo`` command."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from casework.cli.demo import FIRST_CALL
from casework.demo import (
    DEMO_PASSWORD,
    SAFEGUARDING_NOTE,
    DemoError,
    DemoSummary,
    build_demo,
    demo_period,
)
from casework.extensions import db
from casework.models import (
    Case,
    CaseEvent,
    CodeSet,
    ContactKind,
    Enrolment,
    Learner,
    LearnerAccount,
    Letter,
    LetterJob,
    LetterStatus,
    Mark,
    MarkCategory,
    MarkCode,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Policy,
    Programme,
    ProgrammeRole,
    RegisterImport,
    Report,
    Role,
    Session,
    User,
)
from casework.policies.rules import rules_of
from casework.registers.figures import attendance_figures
from casework.registers.thresholds import judge, window_start
from tests.case_fixtures import PLAN
from tests.cleanup import empty_database
from tests.factories import Factory

TODAY = date(2026, 11, 20)  # a Friday in the second half of the autumn term
POLICY_KEYS = {"000-sek", "001-sts", "002-ap-schools", "003-green-labyrinth", "004-nxt-gen"}
README = Path(__file__).resolve().parent.parent / "README.md"


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# The demo takes seconds to build and the demo command tens of seconds to run (it renders every
# letter), so this module builds each once per database and its tests share it. A test that only
# reads the demo holds it (``demo``, ``demo_output``) and may not change it; one that changes the
# database has it emptied after it (``app_context``), as every test of the suite does.
BUILT, COMMAND = "build_demo", "the demo command"
# A staff API token notes when it was last used (casework.tokens): bookkeeping no test reads.
NOTED_USE = "UPDATE api_token SET last_used_at"
CHANGING = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRUNCATE"}


class SharedDemo:
    """Which demo the database holds between this module's tests, if any."""

    def __init__(self) -> None:
        self.held: str | None = None
        self.value: Any = None

    def hold(self, which: str, build: Callable[[], Any]) -> Any:
        if self.held != which:
            self.clear()
            self.held = f"{which}, unfinished"  # a build that fails leaves rows to empty
            self.value = build()
            self.held = which
        return self.value

    def clear(self) -> None:
        if self.held is not None:
            empty_database()
            self.held = None


@pytest.fixture(scope="module")
def shared(app: Flask) -> Iterator[SharedDemo]:
    shared = SharedDemo()
    yield shared
    with app.app_context():
        shared.clear()  # the next module starts from an empty database, as the suite's tests do


@pytest.fixture
def app_context(
    app_context: Flask, shared: SharedDemo, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    """The suite's (the database emptied after the test), from an empty database too; but a test
    that takes over the demo command's run (``demo_output_to_change``) starts from that."""
    if "demo_output_to_change" not in request.fixturenames:
        shared.clear()
    yield app_context
    shared.held = None  # the suite's fixture empties the database next


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that leaves the database alone (the suite's empties it after the test)."""
    return app.test_client()


@contextmanager
def reading(app: Flask, shared: SharedDemo, which: str, build: Callable[[], Any]) -> Iterator[Any]:
    """The shared demo ``which`` (built by ``build`` unless the database holds it), for a test
    that only reads it: one that changes the database fails, as the next test would see it."""
    with app.app_context():
        value = shared.hold(which, build)
        changes: list[str] = []

        def record(_conn, _cursor, statement: str, *_args) -> None:
            changing = statement.split(None, 1)[0].upper() in CHANGING
            if changing and not statement.startswith(NOTED_USE):
                changes.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            yield value
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.rollback()
            db.session.remove()
        if changes:
            shared.clear()  # for the tests after this one, which the failure below must not fail
            pytest.fail(f"a test of the shared demo changed the database: {changes}")


@pytest.fixture
def demo(app: Flask, shared: SharedDemo) -> Iterator[DemoSummary]:
    with reading(app, shared, BUILT, lambda: build_demo(TODAY)) as summary:
        yield summary


def enrolments_by_policy() -> dict[str, list[Enrolment]]:
    found: dict[str, list[Enrolment]] = {}
    for enrolment, key in db.session.execute(
        select(Enrolment, Policy.key)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .join(Policy, Policy.id == Programme.policy_id)
    ):
        found.setdefault(key, []).append(enrolment)
    return found


def test_demo_period_is_the_last_six_and_a_half_weeks_of_term():
    year, days = demo_period(TODAY)
    assert year == 2026
    assert len(days) == 33 and days == sorted(days)
    assert days[-1] == date(2026, 11, 19)  # up to the day before today
    assert all(d.weekday() < 5 for d in days)
    assert not any(date(2026, 10, 24) <= d <= date(2026, 11, 1) for d in days)  # half term


def test_demo_period_early_in_the_year_shows_the_end_of_the_last_one():
    year, days = demo_period(date(2026, 9, 10))
    assert year == 2025
    assert days[-1] == date(2026, 7, 16) and len(days) == 33


def test_counts_match_the_database(demo):
    assert demo.as_at == TODAY and demo.academic_year == 2026
    assert demo.programmes == count(Programme) == 5
    assert 55 <= demo.learners <= 65
    assert demo.learners == count(Learner) == demo.enrolments == count(Enrolment)
    assert demo.sessions == count(Session) > 200
    assert demo.marks == count(Mark) > 2000
    assert demo.staff_users == count(User) == 5
    assert demo.learner_accounts == count(LearnerAccount) == 1
    assert demo.first_session_day >= TODAY - timedelta(weeks=8)
    assert demo.last_session_day == date(2026, 11, 19)


def test_every_policy_has_one_programme_with_learners(demo):
    keys = db.session.scalars(select(Policy.key).join(Programme, Programme.policy_id == Policy.id))
    assert sorted(keys) == sorted(POLICY_KEYS)
    by_policy = enrolments_by_policy()
    assert set(by_policy) == POLICY_KEYS
    assert all(len(enrolments) >= 8 for enrolments in by_policy.values())
    titles = set(db.session.scalars(select(Programme.title)))
    assert "Level 3 Health and Social Care" in titles


def test_enrolments_are_for_the_academic_year_of_the_registers(demo):
    years = set(db.session.scalars(select(Enrolment.academic_year)))
    assert years == {2026}
    starts = list(db.session.scalars(select(Enrolment.start_date)))
    assert all(date(2026, 8, 1) <= s <= TODAY for s in starts)


def test_sessions_cover_the_half_term_before_today(demo):
    starts = list(db.session.scalars(select(Session.starts_at)))
    days = {s.date() for s in starts}
    assert max(days) < TODAY
    assert all(d.weekday() < 5 for d in days)
    assert len(days) == 33  # every teaching day has sessions somewhere


@pytest.mark.parametrize("policy_key", ["002-ap-schools", "004-nxt-gen"])
def test_statutory_programmes_have_morning_and_afternoon_sessions(demo, policy_key):
    starts = db.session.scalars(
        select(Session.starts_at).join(Programme).join(Policy).where(Policy.key == policy_key)
    )
    by_day: dict[date, list[int]] = {}
    for start in starts:
        by_day.setdefault(start.date(), []).append(start.hour)
    assert len(by_day) == 33
    assert all(sorted(h < 12 for h in hours) == [False, True] for hours in by_day.values())


def test_apprentices_have_one_to_ones_and_a_coach_visit(demo):
    kinds = db.session.execute(
        select(Session.kind, func.count())
        .join(Programme)
        .join(Policy)
        .where(Policy.key == "001-sts")
        .group_by(Session.kind)
    )
    found = {kind: number for kind, number in kinds}
    assert found["one_to_one"] >= 10
    assert found["coach_visit"] == 10  # one per apprentice


def test_every_mark_came_through_one_register_import(demo):
    batch = db.session.scalars(select(RegisterImport)).one()
    assert (batch.rows, batch.created, batch.updated, batch.unchanged) == (demo.marks,) * 2 + (0, 0)
    assert batch.id == demo.register_import_id
    assert count(Mark, Mark.import_id.is_(None)) == 0
    assert batch.imported_by == "officer@demo.example.org"


def test_mostly_steady_with_some_below_threshold(demo):
    learners = []  # (figures, below) of every enrolment, judged by its policy
    for key, enrolments in enrolments_by_policy().items():
        rules = rules_of(db.session.scalars(select(Policy).where(Policy.key == key)).one())
        found = attendance_figures(
            TODAY, since=window_start(rules, TODAY), enrolment_ids=[e.id for e in enrolments]
        )
        judged = [(f, judge(rules, f).below) for f in found.values()]
        assert any(below for _, below in judged), key
        learners += judged
    below = [f for f, is_below in learners if is_below]
    assert 8 <= len(below) <= len(learners) // 3
    steady = [f for f, _ in learners if f.attendance_percent and f.attendance_percent >= 95]
    assert len(steady) > len(learners) // 2
    with_run = [(f, b) for f, b in learners if f.absence_period and f.absence_period.sessions >= 2]
    assert len(with_run) >= 3
    assert all(is_below for _, is_below in with_run)


def test_absences_increase_towards_the_end_of_the_half_term(demo):
    unauthorised = list(
        db.session.scalars(
            select(Session.starts_at)
            .join(Mark, Mark.session_id == Session.id)
            .join(MarkCode)
            .where(MarkCode.category == MarkCategory.UNAUTHORISED)
        )
    )
    middle = demo.first_session_day + (demo.last_session_day - demo.first_session_day) / 2
    early = sum(s.date() < middle for s in unauthorised)
    assert len(unauthorised) - early > 2 * early


def test_illness_absences_are_authorised_with_reasons(demo):
    illness = db.session.execute(
        select(MarkCode.code_set, MarkCode.code, Mark.evidence_ref)
        .join(Mark)
        .where(Mark.absence_reason == "illness")
    ).all()
    assert len(illness) >= 10
    assert {(s, c) for s, c, _ in illness} <= {
        (CodeSet.FURTHER_EDUCATION, "A"),
        (CodeSet.STATUTORY, "I"),
    }
    assert any(evidence and evidence.startswith("Fit note") for _, _, evidence in illness)
    # Every authorised FE absence has a reason (the import insists).
    reasons = db.session.scalars(
        select(Mark.absence_reason).join(MarkCode).where(MarkCode.code == "A")
    )
    assert all(reasons)


def test_under_18s_have_a_parent_or_carer_with_a_postal_address(demo):
    learners = list(db.session.scalars(select(Learner)))
    young = [learner for learner in learners if learner.age_on(TODAY) < 18]
    assert len(young) >= 25
    for learner in young:
        parents = [c for c in learner.contacts if c.kind is ContactKind.PARENT_CARER]
        assert parents, learner.learner_ref
        assert all(p.address and p.postcode and p.name for p in parents)
    assert all(learner.address and learner.postcode for learner in learners)


def test_apprentices_have_an_employer_and_dual_registered_pupils_a_main_school(demo):
    by_policy = enrolments_by_policy()
    apprentices = [e for e in by_policy["001-sts"] if e.is_apprentice]
    assert len(apprentices) == len(by_policy["001-sts"]) >= 8
    for enrolment in apprentices:
        employers = [c for c in enrolment.learner.contacts if c.kind is ContactKind.EMPLOYER]
        assert len(employers) == 1 and employers[0].address
    assert any(e.learner.age_on(TODAY) < 18 for e in apprentices)  # school leavers too

    dual = [e for e in by_policy["004-nxt-gen"] if e.is_dual_registered]
    assert len(dual) == len(by_policy["004-nxt-gen"]) >= 8
    for enrolment in dual:
        schools = [c for c in enrolment.learner.contacts if c.kind is ContactKind.MAIN_SCHOOL]
        assert len(schools) == 1 and schools[0].address
    others = [e for key, es in by_policy.items() if key != "004-nxt-gen" for e in es]
    assert not any(e.is_dual_registered for e in others)
    assert not any(e.is_apprentice for key, es in by_policy.items() if key != "001-sts" for e in es)


def test_dual_registered_pupils_are_marked_at_their_main_school_on_other_days(demo):
    elsewhere = db.session.scalar(
        select(func.count()).select_from(Mark).join(MarkCode).where(MarkCode.code == "D")
    )
    assert elsewhere > 100
    ids = [e.id for e in enrolments_by_policy()["004-nxt-gen"]]
    figures = attendance_figures(TODAY, enrolment_ids=ids)
    assert all(f.not_counted > 0 and f.possible >= 10 for f in figures.values())


def test_a_staff_user_for_each_role_attached_sensibly(demo):
    users = {user.roles: user for user in db.session.scalars(select(User))}
    assert set(users) == {frozenset({role}) for role in Role}
    for user in users.values():
        assert user.check_password(DEMO_PASSWORD)

    head = users[frozenset({Role.HEAD_OF_PROGRAMME})]
    officer = users[frozenset({Role.ADMINISTRATION_OFFICER})]
    tutor = users[frozenset({Role.TUTOR_MENTOR})]
    assert {(link.programme.code, link.role) for link in head.programme_links} == {
        (code, ProgrammeRole.HEAD) for code in db.session.scalars(select(Programme.code))
    }
    assert {link.role for link in officer.programme_links} == {ProgrammeRole.ADMINISTRATION}
    assert len(officer.programme_links) == 5
    mentored = tutor.mentored_enrolments
    assert len(mentored) >= 30
    assert {e.programme.policy.code_set for e in mentored} == {CodeSet.FURTHER_EDUCATION}
    for role in (Role.ADMINISTRATOR, Role.SAFEGUARDING_LEAD):
        assert not users[frozenset({role})].programme_links


def test_sign_in_details(demo):
    roles = {s.role for s in demo.sign_ins}
    assert roles == {role.value for role in Role} | {"learner"}
    assert all(s.password == DEMO_PASSWORD for s in demo.sign_ins)
    emails = set(db.session.scalars(select(User.email)))
    assert {s.email for s in demo.sign_ins if s.role != "learner"} == emails
    account = db.session.scalars(select(LearnerAccount)).one()
    assert account.check_password(DEMO_PASSWORD)
    (learner_sign_in,) = [s for s in demo.sign_ins if s.role == "learner"]
    assert learner_sign_in.email == account.email
    assert learner_sign_in.name == account.learner.full_name
    assert account.learner.enrolments


def test_refuses_a_database_that_already_holds_data(demo):
    with pytest.raises(DemoError, match="already holds data"):
        build_demo(TODAY)
    assert count(Learner) == demo.learners and count(RegisterImport) == 1


def test_same_seed_same_demo(app_context):
    first = build_demo(TODAY, seed=3)
    names = list(db.session.scalars(select(Learner.family_name).order_by(Learner.learner_ref)))
    empty_database()
    second = build_demo(TODAY, seed=3)
    again = list(db.session.scalars(select(Learner.family_name).order_by(Learner.learner_ref)))
    assert names == again
    assert (first.marks, first.sessions, first.contacts) == (
        second.marks,
        second.sessions,
        second.contacts,
    )


def run_demo_command(app: Flask) -> str:
    """``casework demo --no-serve`` on a database that holds something else (a programme OLD)."""
    Factory().programme(code="OLD")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    return result.stdout  # the log (standard error) names each message the demo does not send


@pytest.fixture
def demo_output(app: Flask, shared: SharedDemo) -> Iterator[str]:
    with reading(app, shared, COMMAND, lambda: run_demo_command(app)) as output:
        yield output


@pytest.fixture
def demo_output_to_change(app: Flask, app_context: Flask, shared: SharedDemo) -> str:
    """The demo command's run for a test that changes its database: the run is this test's now,
    emptied after it (a later test that reads it runs the command again)."""
    return shared.hold(COMMAND, lambda: run_demo_command(app))


def line_with(output: str, *texts: str) -> str:
    """The one line of ``output`` that holds every one of ``texts``."""
    (line,) = [line for line in output.splitlines() if all(t in line for t in texts)]
    return line


def test_demo_command_builds_and_prints_sign_in_details(demo_output):
    assert "Serving" not in demo_output
    assert "Sign in at http://127.0.0.1:5000/sign-in " in demo_output
    for email, role in [
        ("admin@demo.example.org", "Administrator"),
        ("head@demo.example.org", "Head of programme"),
        ("tutor@demo.example.org", "Tutor / mentor"),
        ("officer@demo.example.org", "Administration officer"),
        ("safeguarding@demo.example.org", "Safeguarding lead"),
        ("learner@demo.example.org", "Learner"),
    ]:
        assert role in line_with(demo_output, email, DEMO_PASSWORD)
    assert "5 programmes" in demo_output
    assert count(Programme) == 5
    assert count(Learner) >= 55
    # The nightly scan opened a case for every learner below their policy's threshold.
    opened = count(Case)
    assert opened > 0 and f"{opened} cases opened" in line_with(demo_output, "nightly scan")
    health = line_with(demo_output, "Level 3 Health and Social Care")
    open_here = count(Case, Case.enrolment.has(Enrolment.programme.has(code="GL-HSC3")))
    assert f"{open_here} of 18 learners with an open case (attendance below 90%)" in health
    # Its letters are rendered before the app serves: none is left waiting.
    letters = count(Letter)
    assert letters > 0 and f"{letters} letters rendered" in demo_output
    assert count(LetterJob, LetterJob.status != LetterStatus.RENDERED) == 0


def test_the_last_register_day_has_its_messages_and_reports(demo_output):
    """As if casework had run that day: its alerts and reports are in the outbox, each sent (to
    the log: the demo sends nothing) or held for an address staff see as a gap."""
    line = line_with(demo_output, "messages for")
    alerts = count(OutboxMessage, OutboxMessage.kind == MessageKind.ABSENCE)
    reports = count(Report)
    assert alerts > 0 and reports > 0
    assert f"{alerts} absence alerts, {reports} reports" in line
    sent = count(OutboxMessage, OutboxMessage.status == MessageStatus.SENT)
    held = count(OutboxMessage, OutboxMessage.status == MessageStatus.NO_ADDRESS)
    assert sent > 0 and f"sent {sent}, failed 0" in line
    assert f"{held} held for want of an address" in line
    # Letters by email the head has yet to approve wait; nothing failed or is left due.
    statuses = set(db.session.scalars(select(OutboxMessage.status).distinct()))
    assert statuses <= {MessageStatus.SENT, MessageStatus.NO_ADDRESS, MessageStatus.WAITING}
    names = set(db.session.scalars(select(Report.name)))
    assert {"main_school_daily", "session_present_absent", "weekly_threshold"} <= names


def printed_tokens(output: str) -> dict[str, str]:
    tokens = dict(re.findall(r"(\S+@demo\.example\.org)\s+(cw_\S+)", output))
    assert set(tokens) == set(db.session.scalars(select(User.email)))  # each staff account
    return tokens


def test_every_printed_token_works(demo_output, client):
    for email, secret in printed_tokens(demo_output).items():
        response = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200, (email, response.json)


def test_one_case_is_flagged_for_safeguarding_through_the_case_service(demo_output, client):
    (flagged,) = db.session.scalars(select(Case).where(Case.safeguarding_flagged_at.is_not(None)))
    assert f"case {flagged.id} flagged for safeguarding" in demo_output
    event = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == flagged.id).order_by(CaseEvent.seq.desc())
    ).first()
    assert (event.name, event.note) == ("flag_safeguarding", SAFEGUARDING_NOTE)
    assert event.actor.email == "head@demo.example.org"
    # So the safeguarding lead's token has exactly that case to see.
    secret = printed_tokens(demo_output)["safeguarding@demo.example.org"]
    seen = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"})
    assert [case["id"] for case in seen.json] == [flagged.id]


def test_demo_command_replaces_what_was_there(demo_output):
    # The command ran on a database that held a programme OLD (run_demo_command).
    assert count(Programme, Programme.code == "OLD") == 0
    assert count(Programme) == 5


def readme_first_call() -> list[str]:
    """The commands of the README's first call, as written."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("**A first call.**") :].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def test_the_readme_first_call_works_as_written(demo_output_to_change, runner, client):
    create, call = readme_first_call()
    # The demo prints the same call, with a token in place of cw_...
    printed = line_with(demo_output_to_change, "curl ").strip()
    head_token = printed_tokens(demo_output_to_change)["head@demo.example.org"]
    assert printed == call.replace("cw_...", head_token)
    assert call == FIRST_CALL.format(token="cw_...", base="http://127.0.0.1:5000")

    # A token of one's own, for an account the demo made.
    program, *args = shlex.split(create)
    assert program == ".venv/bin/casework"
    made = runner.invoke(args=args)
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]

    curl, flag, header, url = shlex.split(call)
    assert (curl, flag) == ("curl", "-H")
    name, value = header.split(": ", 1)
    api = {name: value.replace("cw_...", secret)}
    listed = client.get(url.removeprefix("http://127.0.0.1:5000"), headers=api)
    assert listed.status_code == 200 and listed.json
    assert {case["stage"] for case in listed.json} == {"monitoring"}

    # The head of programme may act at once: a verbal warning on a case that allows it.
    for case in listed.json:
        read = client.get(f"/api/v1/cases/{case['id']}", headers=api)
        if "give_verbal_warning" in {e["event"] for e in read.json["events_allowed"]}:
            break
    else:
        pytest.fail("no demo case allows a verbal warning")
    body = {"event": "give_verbal_warning", "note": "Spoke to them", "data": {"action_plan": PLAN}}
    acted = client.post(
        f"/api/v1/cases/{case['id']}/events",
        json=body,
        headers={**api, "If-Match": read.headers["ETag"]},
    )
    assert acted.status_code == 200, acted.json
    assert acted.json["stage"] == "verbal_warning"
