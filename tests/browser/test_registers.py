"""In a real browser: an administration officer takes a register with the keyboard alone (Tab,
type-ahead in the mark lists, Enter) and the learner's attendance on their page moves; the
register, mark and learner pages pass axe-core's WCAG 2.2 A and AA checks."""

from __future__ import annotations

import re
from datetime import date, datetime

from playwright.sync_api import expect

from casework.extensions import db
from casework.models import ProgrammeRole, ProgrammeStaff, Role
from tests.views.conftest import PASSWORD

DAY = date(2026, 9, 17)  # the day after the opened case's last mark


def _focused(page) -> str:
    """The focused element, as ``tag#id`` or ``tag:text`` for links and buttons."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName.toLowerCase() + (e.id ? '#' + e.id : ':' + e.textContent.trim()); }"
    )


def tab_to(page, target: str | re.Pattern, *, limit: int = 80) -> None:
    """Press Tab until the element ``_focused`` names as ``target`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = _focused(page)
        if target.search(now) if isinstance(target, re.Pattern) else now == target:
            return
    raise AssertionError(f"Tab never reached {target}; last focused: {_focused(page)}")


def test_an_officer_takes_a_register_with_the_keyboard_alone(visit, opened, make, clock):
    t, case = opened
    first = case.enrolment
    second = t.learner(born=date(2009, 2, 2))
    make.session(t.programme, datetime(2026, 9, 17, 9, 0), title="Maths workshop")
    officer = make.user(Role.ADMINISTRATION_OFFICER, name="Oli Officer")
    db.session.add(
        ProgrammeStaff(programme=t.programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    clock(DAY)
    db.session.commit()

    tab = visit()
    page = tab.page
    tab.goto(f"/learners/{first.learner_id}")  # sent to sign in
    tab_to(page, "input#email")
    page.keyboard.type(officer.email)
    tab_to(page, "input#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=first.learner.full_name)).to_be_visible()
    expect(page.get_by_text("80.0%")).to_be_visible()
    expect(page.locator("svg.casework-chart")).to_have_count(1)
    tab.check_accessible()
    tab.screenshot("learner")

    tab.goto("/registers")
    expect(page.get_by_role("cell", name=re.compile("Not taken"))).to_be_visible()
    tab.check_accessible()
    tab.screenshot("registers")
    tab_to(page, "a:Maths workshop")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Register: Maths workshop")).to_be_visible()
    tab.check_accessible()
    # Saved with no marks chosen: each learner's problem, linked from the error summary.
    tab_to(page, "button:Save register")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(
        page.get_by_role("link", name=f"Choose a mark for {second.learner.full_name}")
    ).to_be_visible()
    tab.check_accessible()
    tab.screenshot("register-errors")

    # Learners are listed by family name: find whose row comes first by the focus order.
    tab_to(page, re.compile(r"^select#code-\d+$"))
    rows = {first.id: first, second.id: second}
    # The first learner was late (L, 10 minutes); the second was off ill (A, illness).
    for _ in range(2):
        enrolment_id = int(_focused(page).split("-")[1])
        if enrolment_id == first.id:
            page.keyboard.press("L")
            tab_to(page, f"input#minutes-{first.id}")
            page.keyboard.type("10")
        else:
            page.keyboard.press("A")
            tab_to(page, f"select#reason-{second.id}")
            page.keyboard.press("I")
            tab_to(page, f"input#evidence-{second.id}")
            page.keyboard.type("Phone call from home")
        rows.pop(enrolment_id)
        if rows:
            tab_to(page, f"select#code-{next(iter(rows))}")
    expect(page.locator(f"#code-{first.id}")).to_have_value("L")
    expect(page.locator(f"#code-{second.id}")).to_have_value("A")
    expect(page.locator(f"#reason-{second.id}")).to_have_value("illness")
    tab_to(page, "button:Save register")
    page.keyboard.press("Enter")
    expect(
        page.get_by_text("Register saved: 2 new, 0 changed and 0 unchanged marks.")
    ).to_be_visible()
    tab.check_accessible()
    tab.screenshot("register-taken")

    tab.goto(f"/learners/{first.learner_id}")
    expect(page.get_by_text("81.8%")).to_be_visible()
    expect(page.get_by_text("9 of 11 sessions")).to_be_visible()
    tab.check_accessible()

    # Correct the late mark, by keyboard too: the reason is required and kept.
    tab_to(page, re.compile(r"^a:Correct the mark of 17 September 2026"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("^Mark for Maths workshop"))).to_be_visible()
    tab.check_accessible()
    tab_to(page, "select#code")
    page.keyboard.press("P")
    tab_to(page, "input#minutes")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    tab_to(page, "button:Save the mark")
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Enter why the mark is changing")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("mark-error")
    tab_to(page, "textarea#why")
    page.keyboard.type("Arrived on time: the bus pass reader was wrong")
    tab_to(page, "button:Save the mark")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Mark corrected.")).to_be_visible()
    expect(page.get_by_text("Corrected: Arrived on time")).to_be_visible()
    tab.check_accessible()
    tab.screenshot("mark-history")
