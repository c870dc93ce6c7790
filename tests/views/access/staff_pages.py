"""Rows of the staff pages' lists and dashboards, and the learner's own area."""

from tests.views.access import STAFF, expect, staff_only

ROUTES = {
    "GET /dashboard": staff_only(),
    # The lists show each role its own scope (an officer's case list is empty, not refused).
    "GET /cases": staff_only(),
    "GET /attendance": staff_only(),
    "GET /learners": staff_only(),
    "GET /registers": staff_only(),
    "GET /my": expect(anonymous=302, learner=200, **dict.fromkeys(STAFF, 403)),
}
