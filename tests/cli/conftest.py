"""Fixtures shared by the command tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_case(team, clock):
    """A learner below threshold as at the day returned: the scan opens one case."""
    t = team()
    enrolment = t.learner()
    day = t.mark(enrolment, "PPPPPPPUUU")
    clock(day)
    return t, day
