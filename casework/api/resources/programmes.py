"""Programmes and their heads of programme."""

from __future__ import annotations

from casework.api import api_blueprint

blp = api_blueprint("programmes", "Programmes and their heads of programme.")
