"""The demo: what build_demo puts in the database, and the ``casework demo`` command."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from casework.demo import DEMO_PASSWORD, DemoError, build_demo, demo_period
from casework.extensions import db
from casework.models import (
    Case,
    CodeSet,
    ContactKind,
    Enrolment,
    Learner,
    LearnerAccount,
    Mark,
    MarkCategory,
    MarkCode,
    Policy,
    Programme,
    ProgrammeRole,
    RegisterImport,
    Role,
    Session,
    User,
)
from casework.registers.figures import attendance_figures
from casework.registers.overview import programme_overview

TODAY = date(2026, 11, 20)  # a Friday in the second half of the autumn term
POLICY_KEYS = {"000-sek", "001-sts", "002-ap-schools", "003-green-labyrinth", "004-nxt-gen"}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def demo(app_context):
    return build_demo(TODAY)


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
    overview = programme_overview(TODAY)
    learners = [row for programme in overview for row in programme.learners]
    below = [row for row in learners if row.below_threshold]
    assert 8 <= len(below) <= len(learners) // 3
    for programme in overview:
        assert programme.below_threshold >= 1, programme.title
    steady = [row for row in learners if row.attendance_percent and row.attendance_percent >= 95]
    assert len(steady) > len(learners) // 2
    with_run = [row for row in learners if row.absence_period_sessions >= 2]
    assert len(with_run) >= 3
    assert all(row.below_threshold for row in with_run)


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
    for table in reversed(db.metadata.sorted_tables):  # all but the reference data
        if table.name not in {"mark_code", "policy", "alembic_version"}:
            db.session.execute(table.delete())
    db.session.commit()
    second = build_demo(TODAY, seed=3)
    again = list(db.session.scalars(select(Learner.family_name).order_by(Learner.learner_ref)))
    assert names == again
    assert (first.marks, first.sessions, first.contacts) == (
        second.marks,
        second.sessions,
        second.contacts,
    )


def test_demo_command_builds_and_prints_sign_in_details(runner, client):
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Serving" not in result.output
    for email, role in [
        ("admin@demo.example.org", "Administrator"),
        ("head@demo.example.org", "Head of programme"),
        ("tutor@demo.example.org", "Tutor / mentor"),
        ("officer@demo.example.org", "Administration officer"),
        ("safeguarding@demo.example.org", "Safeguarding lead"),
        ("learner@demo.example.org", "Learner"),
    ]:
        (line,) = [line for line in result.output.splitlines() if email in line]
        assert DEMO_PASSWORD in line and role in line
    assert "5 programmes" in result.output
    assert "Level 3 Health and Social Care" in result.output
    assert count(Programme) == 5
    assert count(Learner) >= 55
    # The nightly scan opened a case for every learner below their policy's threshold.
    (scan_line,) = [line for line in result.output.splitlines() if "nightly scan" in line]
    opened = count(Case)
    assert opened > 0 and f"{opened} cases opened" in scan_line
    # The printed API call works as printed.
    (curl,) = [line for line in result.output.splitlines() if "curl" in line]
    secret = curl.split("Bearer ")[1].split("'")[0]
    cases = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"})
    assert cases.status_code == 200 and len(cases.json) == min(opened, 50)


def test_demo_command_replaces_what_was_there(runner, make):
    make.programme(code="OLD")
    db.session.commit()
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert count(Programme, Programme.code == "OLD") == 0
    assert count(Programme) == 5
