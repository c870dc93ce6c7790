"""Rows of the letter pages: downloads, and the head of programme's approval. The own letter
(tests/views/test_access.py) is a concern notice, which needs no approval: the head may decide on
their programme's letters but not on that one (409); staff who see the case but do not head its
programme are refused (403); anyone else finds no letter (404). The learner downloads their own
letter from their own area."""

from tests.views.access import STAFF, expect, staff_only

DECIDE = staff_only((403, 404), head=(409, 404), officer=404, admin=403)

ROUTES = {
    "GET /letters": staff_only(403, head=200),
    "GET /letters/<int:letter_id>": staff_only(
        (200, 404), officer=404, safeguarding=(200, 404), admin=200
    ),
    "POST /letters/<int:letter_id>/approve": DECIDE,
    "GET /letters/<int:letter_id>/return": DECIDE,
    "POST /letters/<int:letter_id>/return": DECIDE,
    "GET /my/letters/<int:letter_id>": expect(
        anonymous=302, learner=(200, 404), **dict.fromkeys(STAFF, 403)
    ),
}
