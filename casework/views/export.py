"""Lists as CSV files: every matching row, with cells a spreadsheet would run as a formula made
plain text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from flask import Response

from casework.documents.tables import csv_bytes


def csv_response(
    name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], today: date
) -> Response:
    return Response(
        csv_bytes(header, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{today.isoformat()}.csv"'},
    )
