"""Rows of the learner pages (the list itself is in staff_pages): a learner outside the user's
scope is not found; the safeguarding lead sees the learner of a flagged case."""

from tests.views.access import staff_only

ROUTES = {
    "GET /learners/<int:learner_id>": staff_only((200, 404), admin=200),
}
