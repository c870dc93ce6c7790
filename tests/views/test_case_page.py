"""The case page: what it shows, the steps' forms built from each event's schema, acting through
them (letters recorded and rendered), and every refusal: a form's problems (422), a guard or a
case changed meanwhile (409), a step this person may not take (403), no CSRF token (400), another
programme's case (404); a preview of the letters that keeps nothing; circumstances only for those
entitled; a statement count that does not grow with the case."""

from __future__ import annotations

import io
import re
from datetime import date
from html import unescape

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from casework.cases.queries import REDACTED
from casework.cases.scan import run_scan
from casework.documents.jobs import render_job
from casework.extensions import db
from casework.models import Case, CaseEvent, ContactKind, Letter, LetterJob, LetterStatus
from tests.case_fixtures import PANEL, PLAN, fire
from tests.views.conftest import csrf_token, sign_in


def page_of(client, case: Case) -> str:
    response = client.get(f"/cases/{case.id}")
    assert response.status_code == 200, response.status_code
    return response.text


def hidden(html: str, event: str, name: str) -> str:
    match = re.search(rf'name="{event}-{name}" type="hidden" value="(\d+)"', html)
    assert match, f"no {name} in the form of {event}"
    return match.group(1)


def step(client, case: Case, event: str, fields: dict, *, path: str = "", html: str = ""):
    """Send ``event``'s form as the page has it (its token, version and timeline read), with
    ``fields`` filled in (names without the event's prefix)."""
    html = html or page_of(client, case)
    data = {
        "csrf_token": csrf_token(html),
        f"{event}-version": hidden(html, event, "version"),
        f"{event}-seen": hidden(html, event, "seen"),
    }
    data |= {f"{event}-{name}": value for name, value in fields.items()}
    return client.post(f"/cases/{case.id}/events/{event}{path}", data=data)


def plan_fields(plan: dict = PLAN) -> dict:
    return {
        "action_plan__targets": "\n".join(plan["targets"]),
        "action_plan__support": "\n".join(plan["support"]),
        "action_plan__review_dates": "\n".join(
            f"{d[8:10]}/{d[5:7]}/{d[:4]}" for d in plan["review_dates"]
        ),
    }


def panel_fields() -> dict:
    year, month, day = PANEL["date"].split("-")
    return {
        "panel__date": [day, month, year],
        "panel__time": PANEL["time"],
        "panel__place": PANEL["place"],
        "panel__members": "\n".join(PANEL["members"]),
    }


def occurrence(t, case: Case, clock) -> date:
    """Back for two sessions, then absent again: the scan records the next occurrence."""
    day = t.mark(case.enrolment, "PPU")
    clock(day)
    run_scan(day)
    db.session.commit()
    return day


def count(model, case: Case) -> int:
    return db.session.scalar(
        select(func.count()).select_from(model).where(model.case_id == case.id)
    )


def forms_on(html: str) -> set[str]:
    return set(re.findall(r'action="/cases/\d+/events/([\w/]+)"', html))


def test_the_page_shows_the_learner_the_stage_the_workflow_the_timeline_and_the_letters(
    client, opened, clock
):
    t, case = opened
    fire(t.mentor, case, "give_verbal_warning", today=date(2026, 9, 16), action_plan=PLAN)
    jobs = db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id)).all()
    for job in jobs[:-1]:
        render_job(job.id)
    failed = jobs[-1]
    failed.status, failed.last_error = LetterStatus.FAILED, "The printer's queue was full."
    db.session.commit()
    clock(date(2026, 12, 5))  # past the plan's review date and the decision due
    sign_in(client, t.mentor.email)
    html = page_of(client, case)
    learner = case.enrolment.learner
    assert f'<h1 class="govuk-heading-l">{learner.full_name}</h1>' in html
    assert learner.learner_ref in html and case.enrolment.programme.code in html
    assert '>16 <strong class="govuk-tag govuk-tag--yellow">Under 18</strong>' in html
    assert 'Stage: <strong class="govuk-tag govuk-tag--blue">Verbal warning</strong>' in html
    # The workflow: inline SVG with a text alternative, the stage filled in, no style attribute.
    svg = re.search(r"<svg .*?</svg>", html, re.DOTALL).group(0)
    assert 'role="img" aria-labelledby="workflow-title workflow-desc"' in svg
    assert "the case is at &#39;Verbal warning&#39;" in svg
    node = re.search(r'<path fill="(#[0-9a-f]+)"[^>]*/>\s*<text[^>]*>Verbal warning</text>', svg)
    assert node and node.group(1) == "#1d70b8"
    assert " style=" not in html
    assert "From 'Verbal warning': Issue a written warning, to 'Written warning'" in html
    # The timeline with its notes and data, newest first.
    timeline = html[html.index('<div class="moj-timeline">') :]
    assert timeline.index("Option B: give a verbal warning") < timeline.index("Open an attendance")
    assert f"give_verbal_warning by {t.mentor.name}" in timeline
    assert "Attend every timetabled session" in timeline
    # Occurrences, the plan, what is due (overdue), the letters.
    assert '<td class="govuk-table__cell">80.0%</td>' in html
    assert "Weekly check-in with the mentor" in html and "1 December 2026" in html
    due = html[html.index('id="due"') : html.index('id="occurrences"')]
    assert "Overdue" in due
    letters = html[html.index('id="letters"') : html.index('id="action-plan"')]
    stored = db.session.scalars(select(Letter).where(Letter.case_id == case.id)).all()
    assert stored and all(f'href="/letters/{letter.id}"' in letters for letter in stored)
    assert "Pat Parent" in letters and "Post" in letters and "Parent or carer" in letters
    assert "Failed" in letters and "The printer&#39;s queue was full." in letters


def test_a_mentor_s_forms_are_built_from_the_event_schemas(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    html = page_of(client, case)
    assert forms_on(html) == {
        "no_action",
        "give_verbal_warning",
        "give_verbal_warning/preview",
        "refer_fitness_to_study",
        "refer_fitness_to_study/preview",
        "close",
        "close/preview",
        # Changes that keep the stage (no plan yet: no progress review).
        "add_note",
        "record_circumstances",
        "flag_safeguarding",
    }
    form = html[html.index('id="step-give_verbal_warning"') : html.index('id="step-refer')]
    for name, label in (("targets", "Targets"), ("support", "Support agreed")):
        assert (
            f'<textarea class="govuk-textarea" id="give_verbal_warning-action_plan__{name}"' in form
        )
        assert label in form
    assert 'name="give_verbal_warning-action_plan__review_dates"' in form
    assert (
        '<legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Action plan</legend>'
        in form
    )
    assert 'name="give_verbal_warning-note"' in form and "Preview letters" in form
    close = html[html.index('id="step-close"') :]
    assert 'type="radio" value="no_further_action"' in close  # one of fixed values: radios
    assert "No action required" not in html  # no_action sends no letters: no preview
    assert 'Preview letters<span class="govuk-visually-hidden"> for Option A' not in html


def test_a_mentor_gives_a_verbal_warning_with_its_action_plan(client, opened, app, monkeypatch):
    monkeypatch.setitem(app.config, "RENDER_LETTERS_ON_ACTION", True)
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    before = count(LetterJob, case)
    response = step(client, case, "give_verbal_warning", {**plan_fields(), "note": "Agreed"})
    assert response.status_code == 303 and response.location == f"/cases/{case.id}"
    db.session.refresh(case)
    assert case.state == "verbal_warning"
    jobs = db.session.scalars(
        select(LetterJob).where(LetterJob.case_id == case.id).order_by(LetterJob.id)
    ).all()[before:]
    assert {(j.template, j.recipient_kind) for j in jobs} == {
        ("verbal_warning", "learner"),
        ("verbal_warning", "parent_carer"),
    }
    assert all(j.status == LetterStatus.RENDERED for j in jobs)  # rendered after the commit
    event = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()[-1]
    assert event.note == "Agreed" and event.data["action_plan"] == PLAN
    html = page_of(client, case)
    assert "govuk-notification-banner--success" in html
    assert (
        "Option B: give a verbal warning: done. The case is now at &#39;Verbal warning&#39;" in html
    )
    assert "2 letters recorded" in html
    assert "issue_written_warning" not in forms_on(html)  # the head's


def test_the_head_issues_a_written_warning_convenes_a_panel_and_gives_a_final_warning(
    client, opened, clock
):
    t, case = opened
    fire(t.mentor, case, "give_verbal_warning", today=date(2026, 9, 16), action_plan=PLAN)
    occurrence(t, case, clock)
    sign_in(client, t.head.email)
    html = page_of(client, case)
    assert "issue_written_warning" in forms_on(html)
    response = step(client, case, "issue_written_warning", {**plan_fields(), "note": "Second"})
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == "written_warning"

    occurrence(t, case, clock)
    html = page_of(client, case)
    form = html[html.index('id="step-convene_panel"') :]
    form = form[: form.index("</details>")]
    assert (
        '<legend class="govuk-fieldset__legend govuk-fieldset__legend--s">The panel</legend>'
        in form
    )
    for box in ("day", "month", "year"):  # a date: the design system's three boxes
        assert f'id="convene_panel-panel__date-{box}"' in form
    for name in ("time", "place", "members"):
        assert f'name="convene_panel-panel__{name}"' in form
    response = step(client, case, "convene_panel", {**panel_fields(), "note": "Third"})
    assert response.status_code == 303, response.text
    db.session.refresh(case)
    assert case.state == "disciplinary_panel"
    event = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()[-1]
    assert event.data["panel"] == PANEL

    html = page_of(client, case)
    assert "Panel at 10:00, Meeting room 2" in html  # what is due
    fields = {**plan_fields(), "outcome": "A final written warning", "note": "Panel met"}
    response = step(client, case, "issue_final_written_warning", fields)
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == "final_written_warning"
    html = page_of(client, case)
    # Withdrawal after a final warning waits for a breached plan: listed, with why, no form.
    assert "withdraw" not in forms_on(html)
    blocked = html[html.index('id="steps-not-possible"') :]
    assert (
        "Withdraw from the programme</strong>: Withdrawal after a final written warning" in blocked
    )

    # A progress review (a change, from its own schema: a date, radios, notes) finds the plan
    # not met; then the head may withdraw the learner, and the case ends.
    form = html[html.index('id="step-record_review"') :]
    form = form[: form.index("</details>")]
    assert 'type="radio" value="not_met"' in form and "How far the action plan was met" in form
    fields = {"reviewed_on": ["1", "12", "2026"], "outcome": "not_met", "note": "Reviewed"}
    assert step(client, case, "record_review", fields).status_code == 303
    html = page_of(client, case)
    assert "withdraw" in forms_on(html)
    assert '<td class="govuk-table__cell">Not met</td>' in html
    fields = {"reason": "The plan was not followed", "note": "Withdrawn after review"}
    assert step(client, case, "withdraw", fields).status_code == 303
    db.session.refresh(case)
    assert case.state == "withdrawn"
    html = page_of(client, case)
    assert "This case has ended: it takes no more steps." in html
    assert forms_on(html) == {"add_note", "flag_safeguarding"}  # as on any ended case


def test_invalid_data_shows_each_problem_on_its_field_and_changes_nothing(
    client, opened, clock, new_client
):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    version = case.version
    response = step(client, case, "give_verbal_warning", {"action_plan__targets": "  "})
    assert response.status_code == 422
    html = response.text
    assert html.startswith("<!doctype html>") and "<title>Error: " in html
    assert "There is a problem" in html
    for message, anchor in (
        ("Enter at least one target", "give_verbal_warning-action_plan__targets"),
        ("Enter at least one kind of support agreed", "give_verbal_warning-action_plan__support"),
        ("Enter at least one review date", "give_verbal_warning-action_plan__review_dates"),
        ("Write a note saying why you take this step", "give_verbal_warning-note"),
    ):
        assert f'<a href="#{anchor}">{message}</a>' in html
        assert f'id="{anchor}-error"' in html
    assert '<details class="govuk-details" id="step-give_verbal_warning" open>' in html

    # The schema's own checks come back onto the fields, in staff words.
    fields = {**plan_fields(), "action_plan__review_dates": "1/12/2026\n31/02/2027", "note": "x"}
    response = step(client, case, "give_verbal_warning", fields)
    assert response.status_code == 422
    assert "Line 2: enter a date like 27/3/2027" in response.text
    assert "1/12/2026\n31/02/2027</textarea>" in response.text  # what they typed is kept
    db.session.refresh(case)
    assert case.version == version and case.state == "monitoring"

    # A panel's time that is no time (the head, at the third occurrence).
    fire(t.mentor, case, "give_verbal_warning", today=date(2026, 9, 16), action_plan=PLAN)
    occurrence(t, case, clock)
    fire(t.head, case, "issue_written_warning", today=date.today(), action_plan=PLAN)
    occurrence(t, case, clock)
    client = new_client()
    sign_in(client, t.head.email)
    fields = {**panel_fields(), "panel__time": "25:00", "panel__date": ["31", "2", "2027"]}
    response = step(client, case, "convene_panel", {**fields, "note": "Third"})
    assert response.status_code == 422
    assert "Date must be a real date, like 27 3 2027" in response.text
    assert '<a href="#convene_panel-panel__date-day">' in response.text
    fields["panel__date"] = ["10", "12", "2026"]
    response = step(client, case, "convene_panel", {**fields, "note": "Third"})
    assert response.status_code == 422
    assert "Enter the time in hours and minutes, like 14:30" in response.text


def test_a_step_whose_guard_fails_is_refused_with_the_reason(client, opened):
    t, case = opened
    fire(t.mentor, case, "give_verbal_warning", today=date(2026, 9, 16), action_plan=PLAN)
    db.session.commit()
    sign_in(client, t.head.email)
    html = page_of(client, case)
    # Not offered: it needs a second occurrence, and the page says so.
    assert "issue_written_warning" not in forms_on(html)
    assert "Issue a written warning</strong>: This step needs occurrence 2" in html
    # Sent anyway (a form from another page): refused with the same reason, nothing applied.
    data = {
        "csrf_token": csrf_token(html),
        "issue_written_warning-version": str(case.version),
        "issue_written_warning-note": "Now",
        **{f"issue_written_warning-{k}": v for k, v in plan_fields().items()},
    }
    response = client.post(f"/cases/{case.id}/events/issue_written_warning", data=data)
    assert response.status_code == 409
    assert "This step was not taken" in response.text and "occurrence 2" in response.text
    db.session.refresh(case)
    assert case.state == "verbal_warning"


def test_a_mentor_sees_no_withdraw_button_and_a_crafted_withdrawal_is_refused(
    client, opened, clock, new_client
):
    t, case = opened
    fire(t.mentor, case, "give_verbal_warning", today=date(2026, 9, 16), action_plan=PLAN)
    occurrence(t, case, clock)
    fire(t.head, case, "issue_written_warning", today=date.today(), action_plan=PLAN)
    occurrence(t, case, clock)
    fire(t.head, case, "convene_panel", today=date.today(), panel=PANEL)
    db.session.commit()
    sign_in(client, t.mentor.email)
    html = page_of(client, case)
    assert not {"withdraw", "withdraw/preview"} & forms_on(html)
    assert (
        "Withdraw from the programme</strong>: Withdraw from the programme: only the head" in html
    )
    data = {
        "csrf_token": csrf_token(html),
        "withdraw-version": str(case.version),
        "withdraw-reason": "Crafted",
        "withdraw-note": "Crafted",
    }
    for path in ("", "/preview"):
        response = client.post(f"/cases/{case.id}/events/withdraw{path}", data=data)
        assert response.status_code == 403
        assert "only the head of programme may take this step" in response.text
    db.session.refresh(case)
    assert case.state == "disciplinary_panel"
    # The head of programme has the form.
    client = new_client()
    sign_in(client, t.head.email)
    assert "withdraw" in forms_on(page_of(client, case))


def test_a_step_without_its_csrf_token_is_refused(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    html = page_of(client, case)
    data = {
        "give_verbal_warning-version": hidden(html, "give_verbal_warning", "version"),
        "give_verbal_warning-note": "No token",
        **{f"give_verbal_warning-{k}": v for k, v in plan_fields().items()},
    }
    response = client.post(f"/cases/{case.id}/events/give_verbal_warning", data=data)
    assert response.status_code == 400
    assert "The form could not be sent" in response.text
    db.session.refresh(case)
    assert case.state == "monitoring"


def test_a_stale_form_is_refused_with_what_changed(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    html = page_of(client, case)  # the mentor reads the case...
    fire(t.head, case, "add_note", today=date(2026, 9, 16))  # ...the head writes first
    events = count(CaseEvent, case)
    fields = {**plan_fields(), "note": "Late"}
    response = step(client, case, "give_verbal_warning", fields, html=html)
    assert response.status_code == 409
    text = response.text
    assert "This case changed while you had it open" in text
    assert "Nothing you sent was applied" in text
    assert f"<li>Add a note by {t.head.name} &lt;{t.head.email}&gt;, 16 September 2026" in text
    assert f"add_note by {t.head.name}" in text  # the timeline has it
    db.session.refresh(case)
    assert count(CaseEvent, case) == events and case.state == "monitoring"
    # What they typed is kept, now on the case as it is: sent again, it goes through.
    assert hidden(text, "give_verbal_warning", "version") == str(case.version)
    assert "Late</textarea>" in text
    response = step(client, case, "give_verbal_warning", fields, html=text)
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == "verbal_warning"


def test_a_form_for_a_step_no_longer_possible_says_so(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    html = page_of(client, case)
    fire(t.head, case, "no_action", today=date(2026, 9, 16))  # the decision is made
    response = step(
        client, case, "give_verbal_warning", {**plan_fields(), "note": "Late"}, html=html
    )
    assert response.status_code == 409
    assert f"<li>Option A: no action required by {t.head.name} &lt;" in response.text
    assert "but that step is no longer possible" in response.text


def test_a_preview_returns_the_letters_as_a_pdf_and_keeps_nothing(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.mentor.email)
    version, events, jobs = case.version, count(CaseEvent, case), count(LetterJob, case)
    fields = {**plan_fields(), "note": "Preview first"}
    response = step(client, case, "give_verbal_warning", fields, path="/preview")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    reader = PdfReader(io.BytesIO(response.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    learner = case.enrolment.learner
    assert learner.full_name in text and "Pat Parent" in text  # both letters
    assert "PREVIEW" in text and "Attend every timetabled session" in text
    db.session.refresh(case)
    assert (case.version, count(CaseEvent, case), count(LetterJob, case)) == (version, events, jobs)
    assert case.state == "monitoring"
    # A preview with problems shows the form again, like the step.
    response = step(client, case, "give_verbal_warning", {"note": "x"}, path="/preview")
    assert response.status_code == 422 and "Enter at least one target" in response.text


@pytest.mark.parametrize("who", ["outsider_head", "other_mentor", "admin_other"])
def test_another_programme_s_case_is_not_found(client, opened, make, who):
    t, case = opened
    db.session.commit()
    if who == "admin_other":  # an administration officer: no cases at all
        from casework.models import Role

        user = make.user(Role.ADMINISTRATION_OFFICER)
        db.session.commit()
    else:
        user = getattr(t, who)
    sign_in(client, user.email)
    assert client.get(f"/cases/{case.id}").status_code == 404
    token = csrf_token(client.get("/account/password").text)
    for path in ("", "/preview"):
        response = client.post(
            f"/cases/{case.id}/events/no_action{path}", data={"csrf_token": token}
        )
        assert response.status_code == 404
    assert client.get("/cases/999999").status_code == 404


def test_a_step_the_policy_does_not_have_is_not_found(client, opened):
    t, case = opened
    db.session.commit()
    sign_in(client, t.head.email)
    token = csrf_token(page_of(client, case))
    for event in ("open", "no_such_step", "record_occurrence", "complete_due_item"):
        response = client.post(f"/cases/{case.id}/events/{event}", data={"csrf_token": token})
        assert response.status_code == 404, event


def test_the_safeguarding_lead_adds_notes_and_an_administrator_only_reads(opened, new_client):
    t, case = opened
    fire(t.mentor, case, "flag_safeguarding", today=date(2026, 9, 16))
    db.session.commit()
    for user, forms in ((t.safeguarding, {"add_note"}), (t.admin, set())):
        client = new_client()
        sign_in(client, user.email)
        html = page_of(client, case)
        assert forms_on(html) == forms, user.name
        assert "There is no step of the process you can take on this case now." in html
        assert "only the learner&#39;s tutor or mentor or the head of programme may" in html
    data = {"csrf_token": csrf_token(html), "add_note-version": "9", "add_note-note": "Seen"}
    response = client.post(f"/cases/{case.id}/events/add_note", data=data)
    assert response.status_code == 403  # the administrator's crafted note
    assert "Only the people working on this case may add notes to it." in response.text


def test_circumstances_show_only_to_those_entitled(client, opened, new_client):
    t, case = opened
    fire(t.mentor, case, "record_circumstances", today=date(2026, 9, 16), circumstances="Carer")
    fire(t.mentor, case, "flag_safeguarding", today=date(2026, 9, 16))
    db.session.commit()
    for user, entitled in (
        (t.mentor, True),
        (t.head, True),
        (t.safeguarding, True),
        (t.admin, False),
    ):
        browser = new_client()
        sign_in(browser, user.email)
        html = page_of(browser, case)
        assert ("Carer" in html) is entitled, user.name
        assert (REDACTED in html) is not entitled, user.name


def test_the_page_runs_as_many_statements_for_a_long_case_as_for_a_short_one(
    client, opened, make, clock, statements
):
    t, case = opened
    fire(t.mentor, case, "give_verbal_warning", today=date(2026, 9, 16), action_plan=PLAN)
    # A second learner at the same stage with more of everything: contacts (letters), notes
    # (events), occurrences.
    enrolment = t.learner(born=date(2010, 5, 1))
    for n in range(3):
        make.contact(
            enrolment.learner, ContactKind.PARENT_CARER, name=f"Carer {n}", address="1 Road"
        )
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    long = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    fire(t.mentor, long, "give_verbal_warning", today=day, action_plan=PLAN)
    for _ in range(4):
        fire(t.mentor, long, "add_note", today=day)
    occurrence(t, long, clock)
    for job_id in db.session.scalars(select(LetterJob.id)).all():
        render_job(job_id)
    db.session.commit()
    assert count(LetterJob, long) > count(LetterJob, case)
    assert count(CaseEvent, long) > count(CaseEvent, case) + 4
    sign_in(client, t.mentor.email)
    assert statements(client, f"/cases/{long.id}") == statements(client, f"/cases/{case.id}")


def test_the_case_page_reads_the_case_with_its_people_and_asks_the_user_s_part_once(
    client, opened, statements
):
    """The head's part in the case (a programme_staff query) is asked once for the whole page,
    in the case's own statement, and the learner, programme and policy come with the case, not
    one query each."""
    t, case = opened
    db.session.commit()
    sign_in(client, t.head.email)
    seen: list[str] = []
    statements(client, f"/cases/{case.id}", seen)
    asked = [s for s in seen if "FROM programme_staff" in s]
    assert len(asked) == 1
    assert asked[0].startswith("SELECT attendance_case.id")  # the case's statement
    alone = re.compile(r"SELECT (enrolment|learner|programme|policy)\.id, ")
    assert [statement for statement in seen if alone.match(statement)] == []


def test_every_policy_s_diagram_fits_the_page_at_every_stage(app_context):
    """Inline SVG under the CSP (presentation attributes, no style), named for assistive
    technology, the stage filled in; drawn once per policy version and stage."""
    from casework.machines.diagram import policy_machine
    from casework.models import Policy
    from casework.views import case_diagram
    from casework.views.case_diagram import CURRENT_FILL, workflow_diagram

    for policy in db.session.scalars(select(Policy)).all():
        for state in policy_machine(policy).states:
            if state.value == "new":
                continue
            diagram = workflow_diagram(policy, state.value)
            svg = str(diagram.svg)
            assert svg.startswith('<svg role="img" aria-labelledby="workflow-title workflow-desc"')
            assert " style=" not in svg and "<script" not in svg and "[actor_may]" not in svg
            node = rf'<path fill="{CURRENT_FILL}"[^>]*/>\s*(?:<path[^>]*/>\s*)*'  # a final: 2
            filled = re.findall(node + r"<text[^>]*>([^<]+)</text>", svg)
            assert [unescape(name) for name in filled] == [state.name], state.value
            assert diagram.stage == state.name and diagram.transitions
        drawn = workflow_diagram(policy, "closed")
        assert workflow_diagram(policy, "closed") is drawn  # kept, not drawn again
        assert case_diagram._drawn[(policy.key, policy.sha256, "closed")] is drawn
