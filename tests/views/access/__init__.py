"""The access table: for every page route, what each role gets on its own programme's records and
on another programme's. Each area of the web app keeps its rows in a module here (``ROUTES``);
tests/views/test_access.py checks every row against the app and every route of the app against
the rows, so a new route without a row fails.

Roles: ``anonymous`` (not signed in), ``learner`` (the own case's learner), ``mentor``, ``head``
(of programme), ``officer`` (administration officer), ``safeguarding`` (lead) and ``admin``
(administrator). "Own" records are those of the programme the staff work on (the mentor's
learner, the safeguarding lead's flagged case, the learner's own letters); "other" records are
another programme's, with another mentor, unflagged.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

ROLES = ("anonymous", "learner", "mentor", "head", "officer", "safeguarding", "admin")
SIGNED_IN = ROLES[1:]
STAFF = ROLES[2:]


@dataclass(frozen=True)
class Access:
    """Expected statuses by role: ``(own, other)``; for a route without records, ``own``."""

    statuses: dict[str, tuple[int, int]]
    data: dict[str, str] | None = None  # a POST's form fields (besides its CSRF token)

    def status(self, role: str, side: str) -> int:
        own, other = self.statuses[role]
        return own if side == "own" else other


def expect(*, data: dict[str, str] | None = None, **by_role: int | tuple[int, int]) -> Access:
    """``expect(anonymous=302, learner=403, mentor=(200, 404), ...)``: a role left out is an
    error; a single status holds for own and other alike."""
    missing = set(ROLES) - set(by_role)
    assert not missing, f"no expected status for {sorted(missing)}"
    statuses = {
        role: value if isinstance(value, tuple) else (value, value)
        for role, value in by_role.items()
    }
    return Access(statuses, data)


def staff_only(staff: int | tuple[int, int] = 200, *, anonymous: int = 302, **overrides) -> Access:
    """A staff page: anonymous people sent to sign in, learners refused, staff as given."""
    by_role = {"anonymous": anonymous, "learner": 403, **dict.fromkeys(STAFF, staff)}
    return expect(**{**by_role, **overrides})


def table() -> dict[str, Access]:
    """Every area's rows, keyed ``"METHOD /rule"``."""
    rows: dict[str, Access] = {}
    for module in pkgutil.iter_modules(__path__):
        area = importlib.import_module(f"{__name__}.{module.name}")
        clash = rows.keys() & area.ROUTES.keys()
        assert not clash, f"{module.name} repeats rows {clash}"
        rows |= area.ROUTES
    return rows
