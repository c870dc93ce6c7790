"""Letters: plain data through Jinja (autoescaped, strict) to HTML, then to PDF."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from casework.documents.pdf import AssetOnlyFetcher, html_to_pdf, pdf_timestamp
from casework.paths import templates_dir

LAYOUT = "letters/layout.html"


def _long_date(value: date | str | None) -> str:
    if value is None:
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {day:%B %Y}"


def _percent(value: float | None) -> str:
    return "not yet known" if value is None else f"{value:.1f}%"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["long_date"] = _long_date
    env.filters["percent"] = _percent
    return env


@cache
def template_version(template: str) -> str:
    """A hash of the template, the layout it extends and the part it includes: a new version
    renders a new letter."""
    digest = hashlib.sha256()
    for name in (LAYOUT, "letters/_plan.html", f"letters/{template}.html"):
        source, _filename, _uptodate = environment().loader.get_source(environment(), name)
        digest.update(source.encode())
    return digest.hexdigest()[:16]


def letter_html(data: dict[str, Any]) -> str:
    created = pdf_timestamp(datetime.combine(date.fromisoformat(data["date"]), time(), UTC))
    return (
        environment()
        .get_template(f"letters/{data['template']}.html")
        .render(letter=data, created=created)
    )


def letter_pdf(data: dict[str, Any], *, fetcher: AssetOnlyFetcher | None = None) -> bytes:
    return html_to_pdf(letter_html(data), fetcher=fetcher)
