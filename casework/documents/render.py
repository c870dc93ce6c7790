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
PREVIEW = "PREVIEW"


class LetterRefused(Exception):
    """A letter that must not go out as it stands; the message says why in staff words."""


def _long_date(value: date | str | None) -> str:
    if value is None:
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {day:%B %Y}"


def _sentence(value: str | None) -> str:
    """Text inserted as a sentence of its own: a capital first, one full stop at the end."""
    text = (value or "").strip().rstrip(".").rstrip()
    return f"{text[:1].upper()}{text[1:]}." if text else ""


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
    env.filters["sentence"] = _sentence
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


def letter_data(snapshot: dict[str, Any] | None, job_id: int | None) -> dict[str, Any]:
    """What the template sees: the job's snapshot, checked, with the letter's reference (case,
    event number and job: unique and readable; "PREVIEW" for a letter not issued)."""
    if snapshot is None:
        raise LetterRefused(
            "This letter was recorded before letters kept what their event saw, so it cannot be "
            "written now without guessing."
        )
    if not (snapshot.get("contact") or {}).get("name"):
        # The snapshot is the event's: a contact named later cannot be added to this letter.
        raise LetterRefused(
            "This letter names no one to reply to, so it was not sent: when its step was taken "
            "the learner had no tutor or mentor, the programme no head of programme and the "
            "policy no attendance contact. Set one up so that the case's next letters name them."
        )
    reference = PREVIEW if job_id is None else f"{snapshot['case_ref']}-{job_id:06d}"
    return {**snapshot, "reference": reference}


def preview_pdf(snapshot: dict[str, Any]) -> bytes:
    """A would-be letter's PDF, marked as a preview and never issued."""
    data = letter_data(snapshot, None)
    return letter_pdf({**data, "title": f"Preview, not sent: {data['title']}"})


def letter_html(data: dict[str, Any]) -> str:
    created = pdf_timestamp(datetime.combine(date.fromisoformat(data["date"]), time(), UTC))
    return (
        environment()
        .get_template(f"letters/{data['template']}.html")
        .render(letter=data, created=created)
    )


def letter_pdf(data: dict[str, Any], *, fetcher: AssetOnlyFetcher | None = None) -> bytes:
    return html_to_pdf(letter_html(data), fetcher=fetcher)
