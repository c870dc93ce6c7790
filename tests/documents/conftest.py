"""Letter tests' fixtures: rendering at once, and a 003 case opened by the scan."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from casework.cases.scan import run_scan
from casework.extensions import db
from casework.models import Case, ContactKind


@pytest.fixture
def rendering(app):
    app.config["RENDER_LETTERS_ON_ACTION"] = True
    yield
    app.config["RENDER_LETTERS_ON_ACTION"] = False


@pytest.fixture
def case_003(team, make, clock):
    t = team("003-green-labyrinth")
    enrolment = t.learner(born=date(2010, 5, 1))
    make.contact(enrolment.learner, ContactKind.PARENT_CARER, name="Pat Parent")
    day = t.mark(enrolment, "PPPPPPPPUU")
    clock(day)
    run_scan(day)
    case = db.session.scalars(select(Case).where(Case.enrolment_id == enrolment.id)).one()
    return t, case, day
