"""Every letter type of every policy rendered from a real case and read back from the PDF."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from casework.cases.letter_snapshot import APPEAL_WORKING_DAYS
from casework.documents.pdf import ASSETS, AssetOnlyFetcher
from casework.documents.render import letter_data, letter_pdf
from casework.extensions import db
from casework.models import Case, CaseEvent, Contact, ContactKind, LetterJob, Occurrence
from casework.workdays import add_working_days
from tests.cases.conftest import FIGURES, POLICY_DOCS, ROUTES, follow, leg_day
from tests.machines.test_transition_table import _fast_passwords  # noqa: F401 (autouse)


def pages_of(pdf: bytes) -> list[str]:
    """The text of each page, whitespace collapsed."""
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


def joined(pages: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(pages))


def text_of(pdf: bytes) -> str:
    return joined(pages_of(pdf))


# Words a supportive provider's letters never use (supportive throughout, no
# warnings, no disciplinary stages; never a threat).
THREATS = ("warning", "disciplin", "sanction", "penalt", "punish", "misconduct", "expel", "exclu")
# Fitness to study is support, never discipline: these letters never say "warning", whatever the
# policy, and neither does any letter of a fitness-to-study case.
FITNESS_TO_STUDY_LETTERS = {"fitness_to_study_plan", "updated_action_plan", "panel_outcome"}
# A closing letter's recognition, for attendance back on track only.
PRAISE = ("well done", "pleased", "effort")
FIGURES_ON = {leg_day(leg): figures for leg, figures in enumerate(FIGURES)}


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def sent_by(policy: dict) -> set[str]:
    """Every letter type the policy's workflow sends."""
    events = policy["workflow"]["events"].values()
    return {letter["template"] for spec in events for letter in spec["letters"]}


@pytest.fixture
def letters_of(team, make, clock):
    """``letters_of(policy_key)``: a 17-year-old apprentice, dual-registered, with a parent, an
    employer and a main school, taken along each route of the policy (tests/cases/conftest.py);
    returns one letter job for each (route, letter type, addressed to the learner or not) the
    routes sent: the learner's copy says "you", the others name the learner, and the copies to
    a parent, an employer or a main school differ only in name and address."""

    def build(policy_key: str) -> dict[tuple[str, str, bool], LetterJob]:
        t = team(policy_key)
        cohorts = {}
        for route in ROUTES[policy_key]:
            enrolment = t.learner(
                born=date(2009, 6, 1), is_apprentice=True, is_dual_registered=True
            )
            enrolment.learner.address, enrolment.learner.postcode = "2 Low Road\nKent", "CT1 1AA"
            for kind, name in (
                (ContactKind.PARENT_CARER, "Pat Parent"),
                (ContactKind.EMPLOYER, "Acme Ltd"),
                (ContactKind.MAIN_SCHOOL, "Hill Academy"),
            ):
                make.contact(enrolment.learner, kind, name=name, address="1 High St\nKent")
            cohorts[route] = [enrolment]
        cases = follow(t, clock, cohorts)
        jobs: dict[tuple[str, str, bool], LetterJob] = {}
        for route, (case,) in cases.items():
            for job in db.session.scalars(
                select(LetterJob).where(LetterJob.case_id == case.id).order_by(LetterJob.id)
            ):
                jobs.setdefault((route, job.template, job.contact_id is None), job)
        return jobs

    return build


def named_date(job: LetterJob, event: CaseEvent) -> date | None:
    """The date the letter's "what happens next" names, from what the case recorded."""
    if job.template == "concern_notice":  # when the decision on the concern is due
        return db.session.scalar(
            select(Occurrence.decision_due_on).where(
                Occurrence.case_id == job.case_id, Occurrence.number == 1
            )
        )
    if job.template == "panel_invitation":
        return date.fromisoformat(event.data["panel"]["date"])
    if job.template == "withdrawal":  # the last day to appeal
        return add_working_days(event.occurred_at.date(), APPEAL_WORKING_DAYS)
    if job.template == "closing_letter":  # nothing more is needed
        return None
    return date.fromisoformat(event.data["action_plan"]["review_dates"][0])  # the plan's review


def problems_with(route: str, job: LetterJob, policy: dict) -> list[str]:
    """What the rendered letter gets wrong (an empty list when nothing)."""
    event = db.session.get(CaseEvent, job.event_id)
    enrolment = db.session.get(Case, job.case_id).enrolment
    learner = enrolment.learner
    recipient = learner if job.contact_id is None else db.session.get(Contact, job.contact_id)
    data = letter_data(job.snapshot, job.id)
    fetcher = AssetOnlyFetcher()
    pages = pages_of(letter_pdf(data, fetcher=fetcher))
    text = joined(pages)
    lowered = text.lower()
    attendance, punctuality = FIGURES_ON[event.occurred_at.date()]
    next_steps = re.search(r"What happens (?:next|now)(.*?)Attendance so far", text)
    due = named_date(job, event)
    checks = {
        "learner's name": learner.full_name in text,
        "learner's ID": learner.learner_ref in text,
        "programme": enrolment.programme.code in text,
        "reference": data["reference"] in text,
        "date": f"Date: {long_date(event.occurred_at.date())}" in text,
        "recipient's name": (recipient.full_name if job.contact_id is None else recipient.name)
        in text,
        "sender's name": (event.actor.name if event.actor else policy["provider"]) in text,
        f"attendance {attendance}": f"Attendance {attendance}" in text,
        f"punctuality {punctuality}": f"Punctuality {punctuality}" in text,
        "what happens next": next_steps is not None,
        f"what happens next by {due}": due is None
        or bool(next_steps and long_date(due) in next_steps.group(1)),
        "page numbers": all(
            f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, start=1)
        ),
        "only its own assets": all(u.startswith(ASSETS.as_uri()) for u in fetcher.requested),
        "no threat (supportive provider)": policy["letters"]["tone"] == "formal"
        or not any(word in lowered for word in THREATS),
        "no warning (fitness to study)": not (
            job.template in FITNESS_TO_STUDY_LETTERS or route == "fitness_to_study"
        )
        or "warning" not in lowered,
        # Every route closes with no further action while attendance is below the threshold.
        "no praise below the threshold": job.template != "closing_letter"
        or not any(word in lowered for word in PRAISE),
        "no final written warning where the policy has none": (
            "issue_final_written_warning" in policy["workflow"]["events"]
            or "final written warning" not in lowered
        ),
    }
    return [check for check, passed in checks.items() if not passed]


@pytest.mark.parametrize("policy_key", sorted(ROUTES))
def test_every_letter_of_every_policy_reads_back(letters_of, policy_key):
    """Each letter type each route of the policy sends, rendered once for the learner and once
    for a contact (not once per recipient) and read back from the PDF."""
    policy = POLICY_DOCS[policy_key].document
    jobs = letters_of(policy_key)
    assert {template for _route, template, _to_learner in jobs} == sent_by(policy)
    wrong = {
        (route, job.template, job.recipient_kind): problems
        for (route, _template, _to_learner), job in jobs.items()
        if (problems := problems_with(route, job, policy))
    }
    assert wrong == {}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing: .ci/run installs it")
        pytest.skip(f"{name} is not installed (Debian: qpdf, poppler-utils)")
    return path


def test_every_letter_passes_qpdf_and_embeds_its_fonts(letters_of, tmp_path):
    qpdf, pdffonts = _tool("qpdf"), _tool("pdffonts")
    jobs = letters_of("003-green-labyrinth")
    each_type = {template: job for (_route, template, _to_learner), job in jobs.items()}
    for job in each_type.values():
        path = tmp_path / f"{job.template}.pdf"
        path.write_bytes(letter_pdf(letter_data(job.snapshot, job.id)))
        check = subprocess.run([qpdf, "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        fonts = subprocess.run([pdffonts, str(path)], capture_output=True, text=True, check=True)
        rows = fonts.stdout.splitlines()[2:]
        assert rows and all(row.split()[-5] == "yes" for row in rows), fonts.stdout


def test_letters_sample_writes_every_type_as_pdf_and_png(runner, tmp_path):
    result = runner.invoke(args=["letters-sample", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pdfs = sorted(tmp_path.glob("*.pdf"))
    assert len(pdfs) == 20  # ten types, formal and supportive
    for pdf in pdfs:
        pages = sorted(tmp_path.glob(f"{pdf.stem}-page*.png"))
        assert pages and all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    supportive = text_of((tmp_path / "supportive-written_warning.pdf").read_bytes())
    assert "warning" not in supportive.lower() and "Action plan" in supportive
