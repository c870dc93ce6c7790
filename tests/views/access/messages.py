"""Rows of the outbox pages: staff with messages in their scope see the list and the contact gaps
(a safeguarding lead alone has none: 403); a message is seen by its programme's staff and its
learner's mentor (404 elsewhere); sending a failed one again is for its programme's head and
administration officers and the administrators (its mentor: 403)."""

from tests.views.access import staff_only

LISTS = staff_only(200, safeguarding=403)

ROUTES = {
    "GET /messages": LISTS,
    "GET /messages/contact-gaps": LISTS,
    "GET /messages/<int:message_id>": staff_only((200, 404), safeguarding=403, admin=200),
    "POST /messages/<int:message_id>/resend": staff_only(
        (303, 404), mentor=(403, 404), safeguarding=403, admin=303
    ),
}
