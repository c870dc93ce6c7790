"""Planned sessions of a programme."""

from __future__ import annotations

from casework.api import api_blueprint

blp = api_blueprint("sessions", "Planned sessions of a programme.")
