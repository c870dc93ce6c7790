"""Lists as CSV files: every matching row, with cells a spreadsheet would run as a formula made
plain text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from flask import Response

from casework.fields import starts_a_formula


def neutralise(value: Any) -> str:
    """The text of a cell, made safe to open in a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = value.isoformat() if isinstance(value, date) else str(value)
    # A leading apostrophe makes it text; the spreadsheet shows the value as it was.
    return "'" + text if starts_a_formula(text) else text


def csv_response(
    name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], today: date
) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return Response(
        out.getvalue().encode("utf-8-sig"),  # the byte order mark tells Excel it is UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{today.isoformat()}.csv"'},
    )
