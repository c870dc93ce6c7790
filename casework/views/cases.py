"""The case page: the learner, the stage, the workflow, the timeline, the plan, what is due, the
letters, and the next steps this user may take, as forms built from each event's schema."""

from __future__ import annotations

from casework.views.pages import staff_blueprint

bp = staff_blueprint("case_pages", __name__, url_prefix="/cases")
