"""Enrolments, their tutor/mentor, and attendance figures."""

from __future__ import annotations

from casework.api import api_blueprint

blp = api_blueprint("enrolments", "Enrolments, their tutor/mentor, and attendance figures.")
