"""The dashboards: each role's sections show what that role acts on, from real cases the scan
opened and staff moved on, and nothing outside the user's scope; each runs as many statements
for many rows as for one."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import (
    Case,
    ContactKind,
    LetterJob,
    LetterStatus,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    UserRole,
)
from casework.registers.importing import COLUMNS, import_register
from tests.case_fixtures import PANEL, PLAN, Team, fire
from tests.views.conftest import sign_in

OPENING = "PPPPPPPPUU"  # 80%: the scan opens a case
NEAR = "PPPPPPPPPPPPU"  # 12 of 13, 92.3%: within 5 points above 90%


def case_of(enrolment) -> Case:
    return db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()


def section(page: str, heading: str) -> str:
    """The text of the page from an h3 heading to the next heading of its level or above."""
    match = re.search(rf"<h3[^>]*>{re.escape(heading)}</h3>(.*?)(?=<h[23][ >]|</main>)", page, re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def table_rows(html: str) -> list[list[str]]:
    """Each table row's cells as text, tags dropped."""
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)
    ]


def plan_due(day: date) -> dict:
    return {**PLAN, "review_dates": [(day + timedelta(days=7)).isoformat()]}


@pytest.fixture
def programme_world(team, make, clock):
    """A 003 programme through the disciplinary route as far as a panel, with learners at every
    stage that the head and mentor see, and another programme's learners they must not."""
    t: Team = team("003-green-labyrinth")
    monitored = t.learner()
    warned = t.learner()
    to_panel = t.learner()
    near = t.learner()
    well = t.learner()
    outsider = make.enrolment(
        learner=make.learner(given_name="Olive", family_name="Outside"),
        programme=t.other_programme,
        mentor_id=t.other_mentor.id,
    )
    for enrolment in (monitored, warned, to_panel, outsider):
        day = t.mark(enrolment, OPENING)
    t.mark(near, NEAR)
    t.mark(well, "PPPPPPPPPP")
    clock(day)
    run_scan(day)
    fire(t.mentor, case_of(warned), "give_verbal_warning", today=day, action_plan=plan_due(day))
    fire(t.mentor, case_of(to_panel), "give_verbal_warning", today=day, action_plan=PLAN)
    for step in ("issue_written_warning", "convene_panel"):
        day = t.mark(to_panel, "PPU")
        clock(day)
        run_scan(day)
        data = {"action_plan": PLAN} if step == "issue_written_warning" else {"panel": PANEL}
        fire(t.head, case_of(to_panel), step, today=day, **data)
    db.session.commit()
    return (
        t,
        day,
        {
            "monitored": monitored,
            "warned": warned,
            "panel": to_panel,
            "near": near,
            "well": well,
            "outsider": outsider,
        },
    )


def names(world) -> dict[str, str]:
    return {key: e.learner.full_name for key, e in world.items()}


def test_a_head_sees_their_programmes_cases_by_stage_decisions_panels_and_near_learners(
    client, programme_world
):
    t, _day, world = programme_world
    who = names(world)
    sign_in(client, t.head.email)
    page = client.get("/dashboard").text
    stages = section(page, "Open cases by stage")
    # The stage, the policy's own word for it where that differs, the count linking to the list.
    assert table_rows(stages) == [
        ["Stage", "In your providers' words", "Open cases"],
        ["Monitoring", "Attendance monitoring", "1 case at monitoring"],
        ["Verbal warning", "", "1 case at verbal warning"],
        ["Disciplinary panel", "", "1 case at disciplinary panel"],
    ]
    assert 'href="/cases?stage=verbal_warning">1<' in stages
    decisions = section(page, "Decisions due")
    # The monitored learner's first occurrence waits; the warned one's was decided.
    assert who["monitored"] in decisions and who["warned"] not in decisions
    assert who["outsider"] not in decisions
    panels = section(page, "Panels coming up")
    assert who["panel"] in panels and "10 December 2026" in panels
    near = section(page, "Learners approaching the threshold")
    assert who["near"] in near and "92.3%" in near
    assert who["well"] not in near and who["monitored"] not in near
    assert "Every letter has gone out." in section(page, "Letters that failed or were refused")
    assert "Olive Outside" not in page
    assert "Your learners" not in page  # no mentor's part for a head who mentors no one


def test_a_heads_overdue_decisions_are_counted_and_link_to_the_overdue_list(
    client, programme_world, clock
):
    t, day, _world = programme_world
    clock(day + timedelta(days=14))
    sign_in(client, t.head.email)
    decisions = section(client.get("/dashboard").text, "Decisions due")
    assert "1 overdue" in decisions and 'href="/cases?overdue=yes"' in decisions
    assert "Overdue</strong>" in decisions


def test_a_head_sees_letters_that_failed_or_were_refused_on_their_cases_only(
    client, programme_world
):
    t, _day, world = programme_world
    jobs = {
        key: db.session.scalars(
            select(LetterJob).join(Case).where(Case.enrolment_id == world[key].id)
        ).first()
        for key in ("monitored", "warned", "outsider")
    }
    jobs["monitored"].status, jobs["monitored"].last_error = LetterStatus.FAILED, "Disk full"
    jobs["warned"].status = LetterStatus.REFUSED
    jobs["warned"].last_error = "No one to reply to: the programme has no head"
    jobs["outsider"].status, jobs["outsider"].last_error = LetterStatus.FAILED, "Outsider's"
    db.session.commit()
    sign_in(client, t.head.email)
    letters = section(client.get("/dashboard").text, "Letters that failed or were refused")
    assert "Disk full" in letters and "Failed: retried tonight" in letters
    assert "No one to reply to" in letters and "Refused" in letters
    assert "Outsider" not in letters
    assert f'href="/cases/{jobs["monitored"].case_id}"' in letters


def test_a_mentor_sees_their_learners_below_or_near_decisions_and_reviews_due(
    client, programme_world
):
    t, _day, world = programme_world
    who = names(world)
    sign_in(client, t.mentor.email)
    page = client.get("/dashboard").text
    assert "Your programmes" not in page  # no head's part
    learners = section(page, "Below or near the threshold")
    for key in ("monitored", "warned", "panel", "near"):
        assert who[key] in learners
    assert who["well"] not in learners and who["outsider"] not in learners
    assert "Below the threshold" in learners and "Near the threshold" in learners
    # Each learner links to their learner page, each case to its case page.
    monitored = case_of(world["monitored"])
    assert f'href="/learners/{world["monitored"].learner_id}"' in learners
    assert f'href="/cases/{monitored.id}"' in learners
    decisions = section(page, "Decisions due")
    assert who["monitored"] in decisions and who["warned"] not in decisions
    reviews = section(page, "Reviews and other things due")
    # The warned learner's plan is reviewed a week after the warning; the panel learner's plan
    # review (1 December) is not due within two weeks.
    assert who["warned"] in reviews and "Action plan review" in reviews
    assert who["panel"] not in reviews
    assert who["outsider"] not in reviews


def test_another_mentor_sees_none_of_it(client, programme_world):
    t, _day, world = programme_world
    sign_in(client, t.other_mentor.email)
    page = client.get("/dashboard").text
    assert "Olive Outside" in section(page, "Below or near the threshold")
    for name in names({k: v for k, v in world.items() if k != "outsider"}).values():
        assert name not in page


def test_the_safeguarding_lead_sees_flagged_cases_only(client, programme_world):
    t, _day, world = programme_world
    flagged = case_of(world["warned"])
    fire(t.mentor, flagged, "flag_safeguarding", today=date(2026, 9, 30))
    db.session.commit()
    sign_in(client, t.safeguarding.email)
    page = client.get("/dashboard").text
    cases = section(page, "Flagged cases")
    assert world["warned"].learner.full_name in cases and f'href="/cases/{flagged.id}"' in cases
    assert world["monitored"].learner.full_name not in page
    assert "Decisions due" not in page


def test_an_administrator_sees_counts_and_no_case_decisions(client, programme_world):
    t, _day, _world = programme_world
    sign_in(client, t.admin.email)
    page = client.get("/dashboard").text
    assert "Overview" in page and "Decisions due" not in page
    counts = dict(
        re.findall(
            r'<dt class="govuk-summary-list__key">\s*(.*?)\s*</dt>\s*<dd[^>]*>\s*(.*?)\s*</dd>',
            page,
            re.S,
        )
    )
    assert re.sub("<[^>]+>", "", counts["Open cases"]) == "4"
    assert counts["Programmes"] == "2"
    assert re.sub("<[^>]+>", "", counts["Learners on a programme today"]) == "6"


def test_a_user_with_two_roles_sees_both_parts(client, programme_world):
    t, _day, world = programme_world
    t.head.role_rows.append(UserRole(role=Role.TUTOR_MENTOR))
    world["outsider"].mentor_id = t.head.id  # the head mentors another programme's learner
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get("/dashboard").text
    assert "Your programmes" in page and "Your learners" in page
    assert "Olive Outside" in section(page, "Below or near the threshold")
    # Mentoring them shows the learner as theirs, not the other programme's cases as led.
    assert "Olive Outside" not in section(page, "Open cases by stage")


@pytest.fixture
def officer_world(team, make, clock):
    t: Team = team("003-green-labyrinth")
    officer = make.user(Role.ADMINISTRATION_OFFICER, name="Oli Officer")
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    today = date(2026, 10, 5)
    clock(today - timedelta(days=1))  # the evening before: today's sessions are ahead
    untaken = make.session(t.programme, datetime(2026, 10, 5, 13, 30), title="Afternoon workshop")
    taken = make.session(t.programme, datetime(2026, 10, 5, 9, 0), title="Morning workshop")
    make.session(t.programme, datetime(2026, 10, 6, 9, 0), title="Tomorrow's workshop")
    make.session(t.other_programme, datetime(2026, 10, 5, 9, 0), title="Elsewhere workshop")
    under_18 = t.learner(born=date(2010, 1, 1))  # no parent or carer: missing
    parented = t.learner(born=date(2010, 1, 1))
    make.contact(parented.learner, ContactKind.PARENT_CARER, name="Pat", address="1 Road")
    emailed_only = t.learner(born=date(2010, 1, 1))
    make.contact(emailed_only.learner, ContactKind.PARENT_CARER, name="Em", email="em@example.org")
    no_way = t.learner(born=date(2010, 1, 1))  # a parent with no address or email: missing
    make.contact(no_way.learner, ContactKind.PARENT_CARER, name="Nowhere")
    adult = t.learner(born=date(2000, 1, 1))  # 26: needs no parent
    for enrolment in (under_18, parented, emailed_only, no_way, adult):
        enrolment.learner.address = "2 Street"
    make.enrolment(
        learner=make.learner(given_name="Elsa", family_name="Elsewhere"),
        programme=t.other_programme,
    )
    mark_row = [parented.learner.learner_ref, taken.session_ref, "P"] + [""] * (len(COLUMNS) - 3)
    db.session.commit()
    import_register(
        (",".join(COLUMNS) + "\n" + ",".join(mark_row) + "\n").encode(),
        filename="monday-morning.csv",
        imported_by="someone@example.org",
    )
    clock(today)
    return (
        t,
        officer,
        {
            "untaken": untaken,
            "under_18": under_18,
            "no_way": no_way,
            "parented": parented,
            "emailed_only": emailed_only,
            "adult": adult,
        },
    )


def test_an_officer_sees_registers_not_taken_imports_and_missing_contacts(client, officer_world):
    _t, officer, world = officer_world
    sign_in(client, officer.email)
    page = client.get("/dashboard").text
    registers = section(page, "Today's registers not taken")
    assert "Afternoon workshop" in registers and "13:30" in registers
    assert "Morning workshop" not in registers  # marked by the import
    assert "Tomorrow" not in registers and "Elsewhere" not in registers
    imports = section(page, "Recent register imports")
    assert "monday-morning.csv" in imports and "someone@example.org" in imports
    contacts = section(page, "Contacts missing for letters")
    assert world["under_18"].learner.full_name in contacts
    assert world["no_way"].learner.full_name in contacts
    assert "A parent or carer (under 18)" in contacts
    for key in ("parented", "emailed_only", "adult"):
        assert world[key].learner.full_name not in contacts
    assert "Elsa Elsewhere" not in page
    assert "Decisions due" not in page  # officers see no cases


def test_an_apprentice_with_no_employer_is_missing_one_where_the_policy_writes_to_employers(
    client, team, make, clock
):
    t = team("001-sts")  # employers get letters
    officer = make.user(Role.ADMINISTRATION_OFFICER)
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    apprentice = t.learner(born=date(2000, 1, 1), is_apprentice=True)
    apprentice.learner.email = "apprentice@example.org"
    employed = t.learner(born=date(2000, 1, 1), is_apprentice=True)
    employed.learner.email = "employed@example.org"
    make.contact(employed.learner, ContactKind.EMPLOYER, name="Boss", email="boss@example.org")
    clock(date(2026, 10, 5))
    db.session.commit()
    sign_in(client, officer.email)
    contacts = section(client.get("/dashboard").text, "Contacts missing for letters")
    assert apprentice.learner.full_name in contacts and "An employer" in contacts
    assert employed.learner.full_name not in contacts


@pytest.mark.parametrize("role", ["head", "mentor", "safeguarding", "admin", "officer"])
def test_a_dashboard_runs_as_many_statements_for_many_rows_as_for_few(
    role, client, team, make, clock, statements
):
    t = team("003-green-labyrinth")
    officer = make.user(Role.ADMINISTRATION_OFFICER)
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    users = {"head": t.head, "mentor": t.mentor, "safeguarding": t.safeguarding}
    users |= {"admin": t.admin, "officer": officer}

    def grow(how_many: int, later: int) -> None:
        for _ in range(how_many):
            for codes in (OPENING, NEAR):
                enrolment = t.learner()
                day = t.mark(enrolment, codes)
        # The clock only goes forward: a signed session cookie from the future is refused.
        clock(day + timedelta(days=later))
        run_scan(day)
        for case in db.session.scalars(select(Case)).all():
            if case.safeguarding_flagged_at is None:
                fire(t.mentor, case, "flag_safeguarding", today=day)
            if case.state == "monitoring":
                fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=plan_due(day))
        today = datetime.combine(day + timedelta(days=later), datetime.min.time())
        for _ in range(how_many):  # registers to take tonight
            make.session(t.programme, today + timedelta(hours=20))
        db.session.commit()

    grow(1, later=0)
    sign_in(client, users[role].email)
    few = statements(client, "/dashboard")
    grow(3, later=1)
    assert statements(client, "/dashboard") == few
