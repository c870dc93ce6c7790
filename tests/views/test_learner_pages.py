"""The learner pages: finding a learner; their details, contacts and the letters each receives,
enrolments with figures and the weekly trend chart, circumstances only to those entitled, and
their marks."""

from __future__ import annotations

import re
from datetime import date, datetime

from casework.extensions import db
from casework.models import ContactKind, ProgrammeRole, ProgrammeStaff, Role
from tests.views.conftest import sign_in


def officer_of(make, programme):
    """An administration officer who keeps ``programme``'s registers."""
    officer = make.user(Role.ADMINISTRATION_OFFICER, name="Oli Officer")
    db.session.add(
        ProgrammeStaff(programme=programme, user=officer, role=ProgrammeRole.ADMINISTRATION)
    )
    db.session.flush()
    return officer


def test_staff_find_their_learners_by_name_or_reference(client, opened):
    t, case = opened
    learner = case.enrolment.learner
    stranger = t.factory.enrolment(
        learner=t.factory.learner(family_name="Zebedee"), programme=t.other_programme
    )
    db.session.commit()
    sign_in(client, t.mentor.email)
    by_name = client.get(f"/learners?q={learner.family_name[:-1].lower()}").text
    assert learner.full_name in by_name and f"/learners/{learner.id}" in by_name
    by_ref = client.get(f"/learners?q={learner.learner_ref.lower()}").text
    assert f"/learners/{learner.id}" in by_ref and "1 learner matching" in by_ref
    # Someone on another programme is not found, by name or by reference.
    for q in ("zebedee", stranger.learner.learner_ref):
        assert "No learner you can see matches" in client.get(f"/learners?q={q}").text
    assert "Zebedee" not in client.get("/learners").text


def test_the_learner_list_is_paginated(client, team, make):
    t = team()
    for _ in range(27):
        t.learner()
    db.session.commit()
    sign_in(client, t.head.email)
    first = client.get("/learners").text
    assert "27 learners, page 1 of 2" in first
    assert len(re.findall(r'href="/learners/\d+"', first)) == 25
    second = client.get("/learners?page=2").text
    assert len(re.findall(r'href="/learners/\d+"', second)) == 2
    assert client.get("/learners?page=nonsense").status_code == 200


def test_the_learner_page_shows_details_contacts_letters_enrolment_and_figures(client, opened):
    t, case = opened
    learner = case.enrolment.learner
    db.session.commit()
    sign_in(client, t.mentor.email)
    page = client.get(f"/learners/{learner.id}").text
    assert learner.full_name in page and learner.learner_ref in page
    assert "1 May 2010 (age 16)" in page
    # The parent (under 18) gets the 003 letters, by post.
    contacts = page.split('id="contacts"')[1].split('id="enrolments"')[0]
    assert "Pat Parent" in contacts and "By post" in contacts
    assert "Written warning" in contacts and "Panel invitation" in contacts
    assert "only where there is unexplained absence" not in contacts.lower()
    assert "No parent or carer contact" not in contacts
    # The enrolment, its mentor, its open case and its figures (8 of 10: 80%).
    assert case.enrolment.programme.title in page and t.mentor.name in page
    assert f'href="/cases/{case.id}"' in page
    assert "80.0%</span> (8 of 10 sessions)" in page
    assert "Below 90%" in page


def test_an_adult_learners_parent_gets_letters_only_with_unexplained_absence(client, team, make):
    t = team()
    enrolment = t.learner(born=date(2006, 1, 1))  # 20 in the autumn of 2026
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent", email="p@x.org")
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{enrolment.learner_id}").text
    contacts = page.split('id="contacts"')[1].split('id="enrolments"')[0]
    assert "By email" in contacts
    assert "Only where there is unexplained absence" in contacts
    # Letters the policy sends parents of under-18s only do not reach them.
    assert "Fitness to study plan" not in contacts


def test_the_page_says_when_a_contact_the_letters_need_is_missing(client, team):
    t = team()
    enrolment = t.learner(born=date(2010, 1, 1))
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{enrolment.learner_id}").text
    assert "No parent or carer contact who receives letters" in page
    assert f"on {enrolment.programme.code} the policy sends them concern notice" in page
    assert "where there is unexplained absence" not in page
    adult = t.learner(born=date(2006, 1, 1))
    db.session.commit()
    page = client.get(f"/learners/{adult.learner_id}").text
    assert "verbal warning" in page and "closing letter" not in page  # not to parents of adults
    assert "withdrawal where there is unexplained absence." in page


def test_a_contact_with_no_address_or_email_cannot_be_sent_letters(client, team, make):
    t = team()
    enrolment = t.learner(born=date(2010, 1, 1))
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{enrolment.learner_id}").text
    assert "Cannot be sent</strong> No address or email" in page


def test_the_weekly_trend_is_an_svg_chart_with_a_table_of_the_same_weeks(client, opened):
    t, case = opened  # marks 7 to 16 September: P x 7, then P U U
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{case.enrolment.learner_id}").text
    svg = re.search(r"<svg .*?</svg>", page, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "style=" not in svg
    assert svg.count('class="casework-chart__week"') == 2
    assert "Threshold 90%" in svg
    table = page.split("Weekly figures as a table")[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row" class="govuk-table__header">(.*?)</th>', table)
    assert rows == ["7 September 2026", "14 September 2026"]
    assert "7 of 7" in table and "100%" in table and "1 of 3" in table and "33%" in table


def test_a_learner_without_marks_has_no_chart(client, team):
    t = team()
    enrolment = t.learner()
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{enrolment.learner_id}").text
    assert "<svg" not in page and "No sessions counted yet" in page and "No marks recorded." in page


def test_circumstances_show_only_to_the_staff_on_the_case(client, new_client, opened, make):
    t, case = opened
    case.circumstances = "Caring for a parent after an operation"
    officer = officer_of(make, t.programme)
    db.session.commit()
    path = f"/learners/{case.enrolment.learner_id}"
    for user, sees in ((t.mentor, True), (t.head, True), (officer, False), (t.admin, False)):
        browser = new_client()
        sign_in(browser, user.email)
        page = browser.get(path).text
        assert ("Caring for a parent" in page) is sees, user.name
        assert ("only the staff on the case and the safeguarding lead" in page) is not sees


def test_marks_most_recent_first_limited_with_show_all(client, team, make):
    t = team()
    enrolment = t.learner()
    t.mark(enrolment, "P" * 20 + "LA")
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{enrolment.learner_id}").text
    marks = page.split('id="marks"')[1]
    assert "The 20 most recent of 22 marks" in marks and "Show all 22 marks" in marks
    dates = re.findall(r"(\d+ September 2026), 09:00", marks)
    assert dates[0] == "28 September 2026" and len(dates) == 20
    assert "<strong>A</strong>" in marks.split("28 September 2026")[1].split("</tr>")[0]
    everything = client.get(f"/learners/{enrolment.learner_id}?marks=all").text
    assert "All 22 marks" in everything
    assert len(re.findall(r"September 2026, 09:00", everything.split('id="marks"')[1])) == 22


def test_an_officer_may_correct_marks_from_the_learner_page_and_a_head_may_not(
    new_client, team, make
):
    t = team()
    enrolment = t.learner()
    (mark,) = make.register(enrolment, "P")
    officer = officer_of(make, t.programme)
    db.session.commit()
    for user, link in ((officer, True), (t.head, False)):
        browser = new_client()
        sign_in(browser, user.email)
        page = browser.get(f"/learners/{enrolment.learner_id}").text
        assert (f'href="/registers/marks/{mark.id}"' in page) is link


def test_a_learner_outside_scope_is_not_found(client, opened):
    t, _case = opened
    other = t.factory.enrolment(programme=t.other_programme)
    db.session.commit()
    sign_in(client, t.mentor.email)
    assert client.get(f"/learners/{other.learner_id}").status_code == 404
    assert client.get("/learners/999999").status_code == 404


def test_the_learner_page_runs_as_many_statements_for_many_marks_as_for_few(
    client, team, make, clock, statements
):
    t = team()
    enrolment = t.learner()
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat", address="1 Road")
    t.mark(enrolment, "PPLA")
    clock(date(2026, 12, 1))
    db.session.commit()
    sign_in(client, t.head.email)
    path = f"/learners/{enrolment.learner_id}"
    few = statements(client, path)
    t.mark(enrolment, "PLAUPPPPPPPPPPUUPPPPPPPPPPPPPPPPPPPPPPPP")
    db.session.commit()
    assert statements(client, path) == few
    assert statements(client, path + "?marks=all") == few


def test_the_learner_list_runs_as_many_statements_for_many_learners_as_for_one(
    client, team, statements
):
    t = team()
    t.learner()
    db.session.commit()
    sign_in(client, t.head.email)
    one = statements(client, "/learners")
    for _ in range(10):
        t.learner()
    db.session.commit()
    assert statements(client, "/learners") == one


def test_figures_count_to_today(client, team, clock):
    t = team()
    enrolment = t.learner()
    t.mark(enrolment, "PPPPA")
    clock(datetime(2026, 9, 8).date())  # two of the five sessions have happened
    db.session.commit()
    sign_in(client, t.head.email)
    page = client.get(f"/learners/{enrolment.learner_id}").text
    assert "100.0%</span> (2 of 2 sessions)" in page
