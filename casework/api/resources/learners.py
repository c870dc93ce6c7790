"""Learners and their contacts."""

from __future__ import annotations

from casework.api import api_blueprint

blp = api_blueprint("learners", "Learners and their contacts.")
