"""Rows of the case page and its steps. The steps' rows send a step the own case can take
(give_verbal_warning, see tests/views/test_access.py) with nothing filled in: those who may take
it get the form back with its problems (422); those who see the case but have no part in it
(the safeguarding lead, an administrator) are refused (403); anyone else finds no case (404)."""

from tests.views.access import staff_only

STEP = staff_only((422, 404), officer=404, safeguarding=(403, 404), admin=403)

ROUTES = {
    "GET /cases/<int:case_id>": staff_only(
        (200, 404), officer=404, safeguarding=(200, 404), admin=200
    ),
    "POST /cases/<int:case_id>/events/<event>": STEP,
    "POST /cases/<int:case_id>/events/<event>/preview": STEP,
}
