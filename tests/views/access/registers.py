"""Rows of the register pages (the day's list itself is in staff_pages). Sessions are seen by
whoever sees their programme (not the safeguarding lead), marks by whoever sees the learner's
enrolment; only administrators and the programme's administration officers write (a POST with
no fields is then a page of problems, 200), anyone else who sees the record gets a 403."""

from tests.views.access import staff_only

ROUTES = {
    "GET /registers/sessions/<int:session_id>": staff_only((200, 404), safeguarding=404, admin=200),
    "POST /registers/sessions/<int:session_id>": staff_only(
        (403, 404), officer=(200, 404), safeguarding=404, admin=200
    ),
    "GET /registers/marks/<int:mark_id>": staff_only((200, 404), admin=200),
    "POST /registers/marks/<int:mark_id>": staff_only((403, 404), officer=(200, 404), admin=200),
    "POST /registers/upload": staff_only(403, officer=200, admin=200),
}
