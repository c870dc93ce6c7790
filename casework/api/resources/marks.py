"""Register marks: bulk upsert, all or nothing."""

from __future__ import annotations

from casework.api import api_blueprint

blp = api_blueprint("marks", "Register marks: bulk upsert, all or nothing.")
