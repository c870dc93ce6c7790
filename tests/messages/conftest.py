"""Report tests' fixtures: a school-age pupil of a team's programme, with a main school and a
parent, and marks recorded at a given UK time."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import pytest
from pypdf import PdfReader

from casework.fields import UK
from casework.models import ContactKind, Enrolment, Mark, Report, Session

SCHOOL_A = "office@school-a.example.org"
SCHOOL_B = "office@school-b.example.org"


def uk(*parts: int) -> datetime:
    """A UK wall-clock time as the aware instant it is."""
    return datetime(*parts, tzinfo=UK)


def csv_rows(report: Report) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(report.csv.decode("utf-8-sig"))))


def pdf_text(report: Report) -> str:
    pages = PdfReader(io.BytesIO(report.pdf)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


@pytest.fixture
def pupil(make):
    """``pupil(team, name, school=SCHOOL_A, born=...)``: a pupil on the team's programme with a
    main school (whose email may be None) and a parent with a phone number."""

    def add(t, family_name: str, *, school: str | None = SCHOOL_A, born=date(2011, 5, 1), **kw):
        enrolment = t.learner(born=born, **kw)
        enrolment.learner.family_name = family_name
        name = "School B" if school == SCHOOL_B else "School A"
        make.contact(enrolment.learner, ContactKind.MAIN_SCHOOL, name=name, email=school)
        make.contact(enrolment.learner, ContactKind.PARENT_CARER, phone="07700 900123")
        return enrolment

    return add


@pytest.fixture
def mark_at(make):
    """``mark_at(enrolment, session, code, at)``: a mark recorded at the UK time ``at``."""

    def add(enrolment: Enrolment, session: Session, code: str, at: datetime, **kw) -> Mark:
        return make.mark(enrolment, session, code, recorded_at=at, **kw)

    return add
