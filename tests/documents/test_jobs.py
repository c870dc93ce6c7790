"""Letter jobs rendered after the action commits: stored once, same bytes, failures visible and
retried, hostile text printed as text."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from casework.cases.queries import case_detail
from casework.cases.scan import run_scan
from casework.cases.service import preview
from casework.documents import jobs
from casework.documents.pdf import ASSETS, AssetOnlyFetcher
from casework.documents.render import preview_pdf
from casework.extensions import db
from casework.models import Case, ContactKind, Letter, LetterJob, LetterStatus
from tests.cases.conftest import PLAN, fire
from tests.documents.test_letters import text_of


def letters() -> list[Letter]:
    return db.session.scalars(select(Letter).order_by(Letter.id)).all()


def acted(*args, **kwargs):
    """A staff action as the API and the pages make it: the service commits, then the caller
    asks for its letters to be rendered."""
    result = fire(*args, **kwargs)
    jobs.render_after_commit(result.letters)
    return result


def test_a_staff_action_renders_its_letters_at_once(rendering, case_003):
    t, case, day = case_003
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    # The case service commits the letter jobs but never renders: its caller does.
    assert {job.status for job in result.letters} == {LetterStatus.PENDING}
    assert [letter for letter in letters() if letter.event_id == result.event.id] == []
    jobs.render_after_commit(result.letters)
    stored = [letter for letter in letters() if letter.event_id == result.event.id]
    assert sorted(letter.recipient_kind for letter in stored) == ["learner", "parent_carer"]
    for letter in stored:
        assert hashlib.sha256(letter.pdf).hexdigest() == letter.sha256
        assert letter.reference in text_of(letter.pdf)
    assert {job.status for job in result.letters} == {LetterStatus.RENDERED}


def test_scan_letters_wait_for_the_bulk_run_and_render_once(case_003):
    pending = jobs.pending_jobs()
    assert len(pending) == 2  # the concern notice to the learner and the parent
    assert jobs.render_jobs(pending) == (2, 0)
    first = {letter.id: letter.pdf for letter in letters()}
    assert jobs.render_jobs([j for j in db.session.scalars(select(LetterJob.id))]) == (2, 0)
    db.session.expire_all()
    assert {letter.id: letter.pdf for letter in letters()} == first  # no new rows, same bytes
    assert jobs.pending_jobs() == []


def test_a_failed_render_keeps_the_transition_and_a_retry_makes_one_letter(
    rendering, case_003, monkeypatch
):
    t, case, day = case_003

    def broken(_data, **_kwargs):
        raise RuntimeError("printer on fire")

    monkeypatch.setattr(jobs, "letter_pdf", broken)
    result = acted(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "verbal_warning"  # committed regardless
    failed = db.session.scalars(
        select(LetterJob).where(LetterJob.event_id == result.event.id)
    ).all()
    assert {j.status for j in failed} == {LetterStatus.FAILED}
    assert all("printer on fire" in j.last_error and j.attempts == 1 for j in failed)
    monkeypatch.undo()
    assert jobs.render_jobs([j.id for j in failed]) == (2, 0)
    assert jobs.render_jobs([j.id for j in failed]) == (2, 0)
    count = db.session.scalar(
        select(func.count()).select_from(Letter).where(Letter.event_id == result.event.id)
    )
    assert count == 2


HOSTILE = [
    '<img src="file:///etc/passwd">',
    '<link rel=attachment href="file:///etc/passwd">',
    "<style>@import url(http://127.0.0.1:1/)</style>",
    "{{ 7*7 }}",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_printed_as_text_and_nothing_is_fetched(case_003, hostile):
    t, case, day = case_003
    learner = case.enrolment.learner
    learner.address = f"{hostile}\nKent"
    for contact in learner.contacts:
        contact.name = f"Pat {hostile}"
    db.session.commit()
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    for job in result.letters:
        data = jobs.letter_data(job.snapshot, job.id)
        fetcher = AssetOnlyFetcher()
        pdf = jobs.letter_pdf(data, fetcher=fetcher)
        text = text_of(pdf)
        assert hostile.replace("\n", " ") in text
        assert "Pat 49" not in text  # "{{ 7*7 }}" in a name is data, never evaluated
        assert all(u.startswith(ASSETS.as_uri() + "/fonts/") for u in fetcher.requested)
        root = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
        assert "/EmbeddedFiles" not in root.get("/Names", {})


def test_preview_renders_without_issuing(case_003):
    """The service runs the event in a savepoint, takes its jobs' snapshots and rolls back; the
    caller renders each snapshot as a preview."""
    t, case, day = case_003
    db.session.refresh(case)
    before = (
        case.version,
        case.state,
        db.session.scalar(select(func.count()).select_from(LetterJob)),
    )
    snapshots = preview(
        actor=t.head,
        case_id=case.id,
        event="give_verbal_warning",
        note="Reading it first",
        data={"action_plan": PLAN},
        expected_version=case.version,
        today=day,
    )
    pages = [preview_pdf(snapshot) for snapshot in snapshots]
    assert [s["template"] for s in snapshots] == ["verbal_warning"] * 2
    for pdf in pages:
        text = text_of(pdf)
        assert "Preview, not sent: Confirmation of a verbal warning" in text
        assert "Reference PREVIEW" in text
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    after = (
        case.version,
        case.state,
        db.session.scalar(select(func.count()).select_from(LetterJob)),
    )
    assert after == before and letters() == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_render_letters_command_renders_the_scans_letters(runner, case_003, workers):
    result = runner.invoke(args=["render-letters", "--workers", workers])
    assert result.exit_code == 0, result.output
    # Off a terminal, no bar: the summary alone.
    assert result.output.startswith("Rendered 2 letter(s); 0 failed"), result.output
    db.session.expire_all()
    assert len(letters()) == 2 and jobs.pending_jobs() == []
    again = runner.invoke(args=["render-letters"])
    assert "No letters are waiting." in again.output


def test_the_case_shows_who_got_what_and_how(rendering, team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1))
    enrolment.learner.address = "3 Mill Lane\nKent"
    make.contact(
        enrolment.learner, ContactKind.PARENT_CARER, name="Email Only", email="p@example.org"
    )
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Unreachable")
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    acted(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    detail = case_detail(t.mentor, case.id, today=day)
    warning = {
        (row["recipient_name"], row["channel"], row["status"], bool(row["reference"]))
        for row in detail["letters"]
        if row["template"] == "verbal_warning"
    }
    name = enrolment.learner.full_name
    assert warning == {
        (name, "post", "rendered", True),
        ("Email Only", "email", "rendered", True),
        ("Unreachable", "none", "rendered", True),
    }
    notices = [row for row in detail["letters"] if row["template"] == "concern_notice"]
    assert {row["status"] for row in notices} == {"pending"}  # the scan's wait for the bulk run
