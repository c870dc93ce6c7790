"""Register files and the setting they are imported into, shared by the import's tests."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.registers.importing import COLUMNS

HEADER = ",".join(COLUMNS)


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def setting(make):
    """A learner enrolled on an FE programme with three sessions, and a statutory programme."""
    programme = make.programme("003-green-labyrinth", code="HSC3")
    learner = make.learner(learner_ref="L100")
    enrolment = make.enrolment(learner=learner, programme=programme)
    sessions = [
        make.session(programme, datetime(2026, 9, 7 + i, 9), session_ref=f"S{i}") for i in range(3)
    ]
    school = make.programme("004-nxt-gen", code="NXT")
    pupil = make.enrolment(learner=make.learner(learner_ref="P200"), programme=school)
    make.session(school, datetime(2026, 9, 7, 9), session_ref="AM1")
    db.session.commit()
    return type("Setting", (), {"enrolment": enrolment, "sessions": sessions, "pupil": pupil})
