"""Every letter type rendered from a real case and read back from the PDF."""

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

from casework.cases.scan import run_scan
from casework.documents.data import letter_data
from casework.documents.pdf import ASSETS, AssetOnlyFetcher
from casework.documents.render import letter_pdf
from casework.extensions import db
from casework.models import Case, ContactKind, LetterJob
from tests.cases.conftest import PANEL, PLAN, fire


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))


@pytest.fixture
def letters_003(team, make, clock):
    """A 003 case driven to withdrawal, and a fitness-to-study case: every letter type."""
    t = team("003-green-labyrinth")
    young = t.learner(born=date(2010, 5, 1), is_apprentice=True)
    make.contact(
        young.learner, ContactKind.PARENT_CARER, name="Pat Parent", address="1 High St\nKent"
    )
    make.contact(young.learner, ContactKind.EMPLOYER, name="Acme Ltd")
    day = t.mark(young, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == young.id)).one()
    fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    day = t.mark(young, "PPU")
    clock(day)
    run_scan(day)
    fire(t.head, case, "issue_written_warning", today=day, action_plan=PLAN)
    day = t.mark(young, "PPU")
    clock(day)
    run_scan(day)
    fire(t.head, case, "convene_panel", today=day, panel=PANEL)
    fire(
        t.head,
        case,
        "issue_final_written_warning",
        today=day,
        outcome="Final warning",
        action_plan=PLAN,
    )
    fire(t.mentor, case, "record_review", today=day, reviewed_on="2026-12-01", outcome="not_met")
    fire(t.head, case, "withdraw", today=day, reason="Action plan not kept")

    ill = t.learner(born=date(2010, 5, 1))
    make.contact(ill.learner, ContactKind.PARENT_CARER, name="Kim Carer")
    day = t.mark(ill, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    ill_case = db.session.scalars(select(Case).where(Case.enrolment_id == ill.id)).one()
    fire(
        t.mentor,
        ill_case,
        "refer_fitness_to_study",
        today=day,
        circumstances="Illness",
        action_plan=PLAN,
    )
    day = t.mark(ill, "PPU")
    clock(day)
    run_scan(day)
    fire(t.mentor, ill_case, "review_fitness_to_study", today=day, action_plan=PLAN)
    fire(t.mentor, ill_case, "close", today=day, reason="no_further_action")
    return db.session.scalars(select(LetterJob).order_by(LetterJob.id)).all()


def test_every_letter_reads_back(letters_003):
    seen = set()
    for job in letters_003:
        data = letter_data(job)
        fetcher = AssetOnlyFetcher()
        text = text_of(letter_pdf(data, fetcher=fetcher))
        seen.add(job.template)
        assert data["learner_name"] in text and data["learner_ref"] in text
        assert data["reference"] in text
        assert data["recipient"]["name"] in text
        assert f"{data['figures']['attendance_percent']:.1f}%" in text
        assert "Page 1 of" in text
        if job.template not in ("closing_letter",):
            assert "What happens next" in text or "What happens now" in text
        assert all(u.startswith(ASSETS.as_uri()) for u in fetcher.requested)
        if job.template in ("fitness_to_study_plan", "updated_action_plan", "panel_outcome"):
            assert "warning" not in text.lower()
    assert seen >= {
        "concern_notice",
        "verbal_warning",
        "written_warning",
        "panel_invitation",
        "final_written_warning",
        "withdrawal",
        "fitness_to_study_plan",
        "updated_action_plan",
        "closing_letter",
    }


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing: .ci/run installs it")
        pytest.skip(f"{name} is not installed (Debian: qpdf, poppler-utils)")
    return path


def test_every_letter_passes_qpdf_and_embeds_its_fonts(letters_003, tmp_path):
    qpdf, pdffonts = _tool("qpdf"), _tool("pdffonts")
    for job in {j.template: j for j in letters_003}.values():  # one of each type
        path = tmp_path / f"{job.template}.pdf"
        path.write_bytes(letter_pdf(letter_data(job)))
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
