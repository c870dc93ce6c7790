"""Letters: downloading a stored letter, and the head of programme's approval of the letters a
policy holds back until approved."""

from __future__ import annotations

from casework.views.pages import staff_blueprint

bp = staff_blueprint("letter_pages", __name__, url_prefix="/letters")
