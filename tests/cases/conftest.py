"""Case tests use the fixtures of tests/case_fixtures.py (loaded by tests/conftest.py)."""

from tests.case_fixtures import PANEL, PLAN, TERM_START, Team, fire

__all__ = ["PANEL", "PLAN", "TERM_START", "Team", "fire"]
