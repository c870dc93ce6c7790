"""Tables as files: CSV made safe to open in a spreadsheet, and reports as tagged PDF.

A report arrives as plain data (title, heading lines, columns, rows, notes): the documents layer
counts nothing and reads no register, so a report says what its builder found."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from casework.documents.pdf import html_to_pdf, pdf_timestamp
from casework.documents.render import environment
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


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")  # the byte order mark tells Excel it is UTF-8


def report_pdf(
    *,
    title: str,
    author: str,
    day: date,
    heading: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    notes: Sequence[str] = (),
) -> bytes:
    """A report's PDF (A4 landscape, the letters' fonts); the same data gives the same bytes."""
    created = pdf_timestamp(datetime.combine(day, time(), UTC))
    html = (
        environment()
        .get_template("reports/report.html")
        .render(
            title=title,
            author=author,
            created=created,
            heading=heading,
            columns=columns,
            rows=[["" if cell is None else str(cell) for cell in row] for row in rows],
            notes=notes,
        )
    )
    return html_to_pdf(html)
