"""In a real browser: every role's dashboard and the two lists pass axe-core's WCAG 2.2 A and AA
checks; a mentor finds a learner below 90% from their dashboard and from the attendance list and
follows the link to the case; the filters work without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import Case, ContactKind, ProgrammeRole, ProgrammeStaff, Role
from tests.views.conftest import PASSWORD


@pytest.fixture
def browser_world(team, make, clock):
    """A 003 programme: a learner below 90% with the case the scan opened (flagged to the
    safeguarding lead), one near the threshold, an administration officer with a register
    to take today."""
    t = team("003-green-labyrinth")
    officer = make.user(Role.ADMINISTRATION_OFFICER, name="Oli Officer")
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    below = t.learner()
    make.contact(below.learner, ContactKind.PARENT_CARER, name="Pat Parent", address="1 Road")
    near = t.learner()
    day = max(t.mark(below, "PPPPPPPPUU"), t.mark(near, "PPPPPPPPPPPPU"))
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == below.id)).one()
    case.safeguarding_flagged_at = datetime.now(UTC)
    tomorrow = datetime.combine(day + timedelta(days=1), datetime.min.time())
    make.session(t.programme, tomorrow + timedelta(hours=9), title="Morning workshop")
    clock(day + timedelta(days=1))
    db.session.commit()
    return t, officer, case, below, near


def signed_in(visit, email: str):
    tab = visit()
    tab.goto("/sign-in")
    tab.sign_in(email, PASSWORD)
    expect(tab.page).to_have_url(re.compile(r"/dashboard$"))
    expect(tab.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return tab


def test_a_mentor_finds_a_learner_below_90_percent_and_follows_the_link_to_the_case(
    visit, browser_world
):
    t, _officer, case, below, near = browser_world
    tab = signed_in(visit, t.mentor.email)
    section = tab.page.get_by_role("table", name=re.compile("Learners you mentor"))
    row = section.get_by_role("row", name=re.compile(below.learner.full_name))
    expect(row).to_contain_text("Below the threshold")
    expect(row).to_contain_text("80.0%")
    expect(section.get_by_role("row", name=re.compile(near.learner.full_name))).to_contain_text(
        "Near the threshold"
    )
    tab.check_accessible()
    tab.screenshot("dashboard-mentor")

    # The attendance list, filtered to the learners below the threshold.
    tab.page.get_by_role("link", name="Attendance", exact=True).click()
    expect(tab.page.get_by_role("heading", name="Attendance", exact=True)).to_be_visible()
    tab.page.get_by_label("Attendance band").select_option("below")
    tab.page.get_by_role("button", name="Apply filters").click()
    expect(tab.page).to_have_url(re.compile(r"band=below"))
    table = tab.page.get_by_role("table")
    expect(table).to_contain_text(below.learner.full_name)
    expect(table).not_to_contain_text(near.learner.full_name)
    tab.check_accessible()
    tab.screenshot("attendance-list")

    # The case page is the case pages' own (another area): following the link gets there.
    tab.refused.add(f"{tab.base_url}/cases/{case.id}")
    table.get_by_role("link", name=re.compile(f"Case {case.id}")).click()
    expect(tab.page).to_have_url(re.compile(rf"/cases/{case.id}$"))

    # And from the dashboard's decisions.
    tab.goto("/dashboard")
    decisions = tab.page.get_by_role("table", name=re.compile("Decisions on your learners"))
    decisions.get_by_role("link", name=below.learner.full_name).click()
    expect(tab.page).to_have_url(re.compile(rf"/cases/{case.id}$"))


def test_a_head_sees_their_dashboard_and_filters_the_cases(visit, browser_world):
    t, _officer, _case, below, _near = browser_world
    tab = signed_in(visit, t.head.email)
    expect(tab.page.get_by_role("heading", name="Your programmes")).to_be_visible()
    tab.page.get_by_role("link", name="1 case at monitoring").click()
    expect(tab.page).to_have_url(re.compile(r"/cases\?stage=monitoring$"))
    expect(tab.page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    expect(tab.page.get_by_label("Stage")).to_have_value("monitoring")
    expect(tab.page.get_by_role("table")).to_contain_text(below.learner.full_name)
    tab.check_accessible()
    tab.screenshot("cases-list")
    tab.goto("/dashboard")
    tab.check_accessible()
    tab.screenshot("dashboard-head")
    # A bad filter is explained on the page.
    tab.goto("/cases?stage=limbo&page=abc", status=400)
    expect(
        tab.page.get_by_role("heading", name="There is a problem with the filters")
    ).to_be_visible()
    expect(tab.page.get_by_role("link", name="Choose a stage from the list.")).to_be_visible()
    tab.check_accessible()


@pytest.mark.parametrize(
    ("role", "heading"),
    [
        ("officer", "Registers and records"),
        ("safeguarding", "Safeguarding"),
        ("admin", "Overview"),
    ],
)
def test_each_roles_dashboard_passes_the_accessibility_checks(visit, browser_world, role, heading):
    t, officer, _case, below, _near = browser_world
    user = {"officer": officer, "safeguarding": t.safeguarding, "admin": t.admin}[role]
    tab = signed_in(visit, user.email)
    expect(tab.page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    if role == "officer":
        expect(tab.page.get_by_role("table", name=re.compile("Sessions today"))).to_contain_text(
            "Morning workshop"
        )
    if role == "safeguarding":
        expect(tab.page.get_by_role("table")).to_contain_text(below.learner.full_name)
    tab.check_accessible()
    tab.screenshot(f"dashboard-{role}")
    tab.goto("/cases")
    tab.check_accessible()
    tab.goto("/attendance")
    tab.check_accessible()


def test_the_lists_filter_and_download_without_javascript(visit, browser_world):
    t, _officer, _case, below, near = browser_world
    tab = visit(javascript=False)
    tab.goto("/sign-in")
    tab.sign_in(t.head.email, PASSWORD)
    tab.page.get_by_role("link", name="Attendance", exact=True).click()
    tab.page.get_by_label("Attendance band").select_option("near")
    tab.page.get_by_role("button", name="Apply filters").click()
    table = tab.page.get_by_role("table")
    expect(table).to_contain_text(near.learner.full_name)
    expect(table).not_to_contain_text(below.learner.full_name)
    with tab.page.expect_download() as download:
        tab.page.get_by_role("link", name=re.compile("Download CSV")).click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert near.learner.learner_ref in text and below.learner.learner_ref not in text
