"""Sample letters: every letter type for one made-up learner, under a formal policy and a
supportive one, for people to look at (``casework letters-sample``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pypdfium2

from casework.documents.letter_schema import LetterSchema
from casework.documents.render import letter_pdf
from casework.documents.titles import SUPPORT_LETTERS, TITLES, title_of
from casework.machines.workflow import Event

DAY = date(2026, 11, 20)
PLAN = {
    "targets": ["Attend every timetabled session", "Tell the mentor by 9:00 if absent"],
    "support": ["Weekly check-in with the mentor", "A bus pass from the bursary"],
    "review_dates": [date(2026, 12, 4), date(2026, 12, 18)],
}
PANEL = {
    "date": date(2026, 12, 10),
    "time": "10:00",
    "place": "Meeting room 2, main building",
    "members": ["Head of Programme", "Head of Learning Support"],
}


def _base(template: str, supportive: bool, provider: str) -> dict[str, Any]:
    supportive = supportive or template in SUPPORT_LETTERS
    return {
        "template": template,
        "title": title_of(template, supportive, below_threshold=False),
        "reference": f"SAMPLE-{list(TITLES).index(template) + 1:02d}",
        "date": DAY,
        "supportive": supportive,
        "provider": {
            "name": provider,
            "address": "1 Example Street, Exampletown EX1 2MP",
            "phone": "01632 960000",
            "email": "attendance@example.org",
            "website": None,
        },
        "recipient": {
            "kind": "parent_carer",
            "name": "Alex Taylor",
            "address_lines": ["12 Orchard Close", "Exampletown"],
            "postcode": "EX2 3AB",
        },
        "learner_name": "Jordan Taylor",
        "learner_ref": "L004217",
        "programme": "Level 3 Health and Social Care (HSC3)",
        "figures": {
            "as_at": DAY,
            "attendance_percent": 84.6,
            "punctuality_percent": 95.5,
            "possible": 52,
            "attended": 44,
            "sessions_missed": 8,
            "unauthorised": 6,
            "unexplained": 6,
            "threshold": "below 90%",
            "below_threshold": True,
            "target_percent": 100,
        },
        "steps": [event.value for event in Event],  # every step: the sample names them all
        "what_happened": template.replace("_", " "),
        "stage": "",
        "note": "Discussed with Jordan and their parent.",
        "next_step_by": PANEL["date"] if template == "panel_invitation" else date(2026, 12, 4),
        "plan": PLAN,
        "panel": PANEL if template == "panel_invitation" else None,
        "outcome": "Jordan will carry on with the support below."
        if template in ("final_written_warning", "panel_outcome")
        else None,
        "reason": "The action plan was not kept." if template == "withdrawal" else None,
        "exit_strategy": None,
        "appeal_by": date(2026, 12, 4) if template == "withdrawal" else None,
        "sender_name": "Hana Okafor",
        "sender_role": "Head of Programme",
        "contact": {
            "name": "Mo Reid",
            "role": "tutor and mentor",
            "email": "mo.reid@example.org",
            "phone": None,
        },
    }


def _closing(data: dict[str, Any]) -> dict[str, Any]:
    """A case is closed with thanks once attendance is back on track: the sample shows that."""
    back_on_track = {"attendance_percent": 92.3, "attended": 48, "sessions_missed": 4}
    figures = {
        **data["figures"],
        **back_on_track,
        "unauthorised": 2,
        "unexplained": 2,
        "below_threshold": False,
    }
    return {**data, "figures": figures}


def sample_letters() -> list[tuple[str, dict[str, Any]]]:
    """(file stem, letter data) for every type, formal and supportive."""
    out = []
    for tone, supportive, provider in (
        ("formal", False, "Green Labyrinth"),
        ("supportive", True, "NXT GEN Engagement"),
    ):
        for template in TITLES:
            data = _base(template, supportive, provider)
            if template == "closing_letter":
                data = _closing(data)
            out.append((f"{tone}-{template}", LetterSchema().dump(data)))
    return out


def write_samples(out_dir: Path, *, dpi: int = 100) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, data in sample_letters():
        pdf_path = out_dir / f"{stem}.pdf"
        pdf_path.write_bytes(letter_pdf(data))
        written.append(pdf_path)
        document = pypdfium2.PdfDocument(str(pdf_path))
        try:
            for number, page in enumerate(document, start=1):
                png = out_dir / f"{stem}-page{number}.png"
                page.render(scale=dpi / 72).to_pil().save(png)
                written.append(png)
        finally:
            document.close()
    return written
