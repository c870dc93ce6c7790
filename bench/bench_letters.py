"""Letters per second: casework's letter rendering against bare WeasyPrint and LibreOffice.

Builds a fresh database (schema from the migrations, reference data loaded) with one programme
under policy 003-green-labyrinth, its staff, learners with a parent or carer each, sessions and
marks, runs the nightly scan so that it opens a case for every learner (each with its concern
notices to the learner and the parent), and gives some of the cases a verbal warning through the
case service (its letters carry an action plan). Then it times, on the same letters:

1. bare WeasyPrint, one process: the letters' HTML (built beforehand with ``letter_html`` from
   ``letter_data``, outside the timing) through ``weasyprint.HTML(...).write_pdf`` one at a time;
2. casework one at a time: ``render_jobs(pending_jobs())`` in this process (letter data from
   the database, HTML, PDF, stored in the ``letter`` table, job marked);
3. bare WeasyPrint on N processes: the same HTML in spawned worker processes, 25 a task;
4. casework in bulk: the ``casework render-letters --workers N`` command;
5. LibreOffice: the same letters written as DOCX files (as a mail merge would), converted by
   ``soffice --headless --convert-to pdf`` in one batch, and in N batches side by side.

Every stored letter's hash is checked against its bytes, and its bytes against bare WeasyPrint's
output for the same HTML.

Usage: python bench/bench_letters.py [--database sqlite|postgresql] [--cases N]
See bench/README.md.
"""

# Only the standard library is imported at the top: the spawned worker processes of the bulk
# runs import this module again (as __mp_main__), and the bare WeasyPrint workers must not pay
# for importing casework, Flask and SQLAlchemy.
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import benchkit
from benchkit import RESULTS_DIR, PhaseClock, code_version, profiled, record, say, stopwatch

POSTGRESQL_ENV = "CASEWORK_BENCH_LETTERS_POSTGRESQL_URL"
REDIS_ENV = "CASEWORK_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"  # the tests use 11-15
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/casework_bench_letters"

POLICY_KEY = "003-green-labyrinth"  # concern notices to the learner and parent; warnings
TERM_START = datetime(2026, 9, 7, 9, 0)  # a Monday; one session a weekday from here
SESSIONS = 20  # 7 September to 2 October 2026
SCAN_CLOCK = datetime(2026, 10, 2, 18, 0, tzinfo=UTC)  # the evening of the last session
WARNING_CLOCK = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # the mentors act the Monday after
PLAN = {
    "targets": ["Attend every timetabled session", "Tell the mentor by 9:00 if absent"],
    "support": ["Weekly check-in with the mentor", "A bus pass from the bursary"],
    "review_dates": ["2026-10-19", "2026-11-02"],
}
CHUNK = 25  # jobs per task, as casework.cli.letters does
PDF_IDENTIFIER = b"casework-letter"  # casework's html_to_pdf passes it; the bare runs do too
AIM_BULK = 0.90  # bulk letters/s at least 90% of bare WeasyPrint's on the same processes
AIM_LIBREOFFICE = 3.0  # "several times faster than LibreOffice": read as at least 3x

GIVEN = ["Jordan", "Alex", "Sam", "Priya", "Tomasz", "Aisha", "Callum", "Mei", "Ola", "Rhys"]
FAMILY = ["Taylor", "Okafor", "Nowak", "Patel", "Reid", "Hughes", "Chen", "Evans", "Ali", "Byrne"]
STREETS = ["Orchard Close", "Station Road", "Mill Lane", "Church Street", "Victoria Avenue"]


# --- worker processes ----------------------------------------------------------------------------

_base_url: str | None = None
_font_config = None  # one per process, as casework.documents.pdf keeps one per thread


def _bare_start(base_url: str) -> None:
    """Initializer of a bare WeasyPrint worker: WeasyPrint only."""
    global _base_url
    import weasyprint  # noqa: F401

    _base_url = base_url


def bare_render(html: str, base_url: str | None = None) -> bytes:
    """WeasyPrint with nothing around it: the options casework passes, its default fetcher, and
    one font configuration per process (as casework keeps), so the baseline is not handicapped."""
    global _font_config
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    if _font_config is None:  # WeasyPrint's default builds one per document, about 10% slower
        _font_config = FontConfiguration()
    document = HTML(string=html, base_url=base_url or _base_url)
    return document.write_pdf(
        pdf_variant="pdf/ua-1", pdf_identifier=PDF_IDENTIFIER, font_config=_font_config
    )


def _bare_chunk(htmls: list[str]) -> list[bytes]:
    return [bare_render(html) for html in htmls]


def _ready() -> int:
    return os.getpid()


def _casework_ready() -> int:
    import casework.documents.jobs  # noqa: F401  (the first chunk imports it: WeasyPrint)

    return os.getpid()


def worker_startup(initializer: Callable[..., None], initargs: tuple, ready: Callable[[], int]):
    """Seconds for one spawned worker to start, run its initializer and answer a first task."""
    started = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    ) as pool:
        pool.submit(ready).result()
        seconds = time.perf_counter() - started
    return seconds


# --- the data ------------------------------------------------------------------------------------


def teaching_days(count: int) -> list[datetime]:
    days, day = [], TERM_START
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def build(cases: int, warn_every: int, seed: int) -> dict[str, Any]:
    """Programme, staff, learners, contacts, enrolments, sessions and marks by bulk inserts; the
    scan opens a case for every learner; every ``warn_every``-th case gets a verbal warning."""
    import time_machine
    from sqlalchemy import insert, select

    from casework.cases.scan import run_scan
    from casework.cases.service import act
    from casework.extensions import db
    from casework.models import (
        Case,
        CodeSet,
        Contact,
        ContactKind,
        DeliveryMode,
        Enrolment,
        EnrolmentStatus,
        Learner,
        Mark,
        MarkCode,
        Policy,
        Programme,
        ProgrammeRole,
        ProgrammeStaff,
        Role,
        Session,
        SessionKind,
        User,
        UserRole,
        academic_year_of,
    )

    rng = random.Random(seed)
    policy = db.session.scalars(select(Policy).where(Policy.key == POLICY_KEY)).one()
    programme = Programme(code="HSC3", title="Level 3 Health and Social Care", policy=policy)
    head = User(name="Hana Okafor", email="hana.okafor@example.org")
    head.role_rows = [UserRole(role=Role.HEAD_OF_PROGRAMME)]
    mentors = [
        User(name=name, email=f"{name.lower().replace(' ', '.')}@example.org")
        for name in ("Mo Reid", "Kit Evans", "Dana Hughes", "Lee Byrne")
    ]
    for mentor in mentors:
        mentor.role_rows = [UserRole(role=Role.TUTOR_MENTOR)]
    for user in (head, *mentors):
        user.set_password("bench letters")
    db.session.add_all([programme, head, *mentors])
    db.session.flush()
    db.session.add(ProgrammeStaff(programme=programme, user=head, role=ProgrammeRole.HEAD))

    refs = [f"L{n + 1:06d}" for n in range(cases)]
    names = [(rng.choice(GIVEN), rng.choice(FAMILY)) for _ in refs]
    addresses = [
        (f"{rng.randint(1, 120)} {rng.choice(STREETS)}\nExampletown", f"EX{rng.randint(1, 9)} 3AB")
        for _ in refs
    ]
    db.session.execute(
        insert(Learner),
        [
            {
                "learner_ref": ref,
                "given_name": given,
                "family_name": family,
                "date_of_birth": date(2009, 1, 1) + timedelta(days=n % 300),  # 17 in October
                "email": f"{ref.lower()}@learners.example.org",
                "address": address,
                "postcode": postcode,
            }
            for n, (ref, (given, family), (address, postcode)) in enumerate(
                zip(refs, names, addresses, strict=True)
            )
        ],
    )
    learner_ids = dict(db.session.execute(select(Learner.learner_ref, Learner.id)).all())
    db.session.execute(
        insert(Contact),
        [
            {
                "learner_id": learner_ids[ref],
                "kind": ContactKind.PARENT_CARER,
                "name": f"{rng.choice(GIVEN)} {family}",
                "relationship_to_learner": "Parent",
                "address": address,
                "postcode": postcode,
            }
            for ref, (_given, family), (address, postcode) in zip(
                refs, names, addresses, strict=True
            )
        ],
    )
    start = date(2026, 9, 1)
    db.session.execute(
        insert(Enrolment),
        [
            {
                "learner_id": learner_ids[ref],
                "programme_id": programme.id,
                "academic_year": academic_year_of(start),
                "start_date": start,
                "status": EnrolmentStatus.ACTIVE,
                "mentor_id": mentors[n % len(mentors)].id,
            }
            for n, ref in enumerate(refs)
        ],
    )
    enrolment_ids = list(db.session.scalars(select(Enrolment.id).order_by(Enrolment.id)))
    days = teaching_days(SESSIONS)
    db.session.execute(
        insert(Session),
        [
            {
                "session_ref": f"HSC3-{day:%Y%m%d}",
                "programme_id": programme.id,
                "title": f"Workshop {n + 1}",
                "kind": SessionKind.WORKSHOP,
                "delivery_mode": DeliveryMode.FACE_TO_FACE,
                "starts_at": day,
                "ends_at": day + timedelta(hours=3),
                "register_closes_at": day + timedelta(minutes=30),
            }
            for n, day in enumerate(days)
        ],
    )
    session_ids = list(db.session.scalars(select(Session.id).order_by(Session.starts_at)))
    codes = dict(
        db.session.execute(
            select(MarkCode.code, MarkCode.id).where(MarkCode.code_set == CodeSet.FURTHER_EDUCATION)
        ).all()
    )
    marks = []
    for eid in enrolment_ids:
        # Between 3 and 8 unauthorised absences of 20 (85% to 60%), the last two among them
        # (an absence period still open), and up to three late arrivals.
        absent = {SESSIONS - 2, SESSIONS - 1, *rng.sample(range(SESSIONS - 2), rng.randint(1, 6))}
        late = set(rng.sample(sorted(set(range(SESSIONS)) - absent), rng.randint(0, 3)))
        for n, (sid, day) in enumerate(zip(session_ids, days, strict=True)):
            code = "U" if n in absent else "L" if n in late else "P"
            marks.append(
                {
                    "enrolment_id": eid,
                    "session_id": sid,
                    "code_id": codes[code],
                    "minutes_late": rng.randint(2, 25) if code == "L" else None,
                    "recorded_by": "tutor@example.org",
                    "recorded_at": (day + timedelta(minutes=10)).replace(tzinfo=UTC),
                }
            )
    db.session.execute(insert(Mark), marks)
    db.session.commit()

    with time_machine.travel(SCAN_CLOCK, tick=True):
        report = run_scan(SCAN_CLOCK.date())
    if len(report.cases_opened) != cases:
        raise SystemExit(f"the scan opened {len(report.cases_opened)} cases, not {cases}")

    warned = 0
    if warn_every:
        case_ids = sorted(report.cases_opened)[warn_every - 1 :: warn_every]
        mentor_of = {m.id: m for m in mentors}
        with time_machine.travel(WARNING_CLOCK, tick=True):
            for case_id in case_ids:
                case = db.session.get(Case, case_id)
                act(
                    actor=mentor_of[case.enrolment.mentor_id],
                    event="give_verbal_warning",
                    case_id=case_id,
                    expected_version=case.version,
                    note="Talked it through; the plan below was agreed.",
                    data={"action_plan": PLAN},
                    today=WARNING_CLOCK.date(),
                )
                warned += 1
    db.session.remove()
    return {"cases": cases, "verbal_warnings": warned, "marks": len(marks)}


# --- casework's database between runs ------------------------------------------------------------


def reset_letters(dialect: str) -> None:
    """Every job back to pending and the letter table empty, as before the first run."""
    from sqlalchemy import delete, update

    from casework.extensions import db
    from casework.models import Letter, LetterJob, LetterStatus

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/
    from tests.append_only import lifted  # letters are append-only, but for the database's owner

    with lifted(db.session.connection()):
        db.session.execute(delete(Letter))
    db.session.execute(
        update(LetterJob).values(status=LetterStatus.PENDING, attempts=0, last_error=None)
    )
    db.session.commit()
    db.session.remove()
    maintain(dialect)


def maintain(dialect: str) -> None:
    """Outside the timings: SQLite folds its WAL back; PostgreSQL vacuums the letter tables and
    checkpoints, so that neither happens during the next run."""
    from casework.extensions import db

    with db.engine.connect() as connection:
        if dialect == "postgresql":
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("VACUUM ANALYZE letter")
            autocommit.exec_driver_sql("VACUUM ANALYZE letter_job")
            autocommit.exec_driver_sql("CHECKPOINT")
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def check_stored(job_ids: list[int], expected: dict[int, bytes]) -> dict[str, Any]:
    """Every job has exactly one letter whose sha256 is its bytes' and whose bytes are bare
    WeasyPrint's for the same HTML; every job is marked rendered."""
    from sqlalchemy import func, select

    from casework.extensions import db
    from casework.models import Letter, LetterJob, LetterStatus

    rows = db.session.execute(
        select(Letter.job_id, Letter.sha256, Letter.size, Letter.pdf).order_by(Letter.job_id)
    ).all()
    statuses = dict(
        db.session.execute(select(LetterJob.status, func.count()).group_by(LetterJob.status)).all()
    )
    db.session.remove()
    if [row.job_id for row in rows] != sorted(job_ids):
        raise AssertionError(f"{len(rows)} letters stored for {len(job_ids)} jobs")
    if statuses != {LetterStatus.RENDERED: len(job_ids)}:
        raise AssertionError(f"job statuses after the run: {statuses}")
    differ = []
    for row in rows:
        if hashlib.sha256(row.pdf).hexdigest() != row.sha256 or row.size != len(row.pdf):
            raise AssertionError(f"letter of job {row.job_id}: sha256 or size does not match")
        if row.pdf != expected[row.job_id]:
            differ.append(row.job_id)
    return {
        "letters": len(rows),
        "hashes_ok": True,
        "same_as_bare": len(rows) - len(differ),
        "differ_from_bare": differ[:20],
    }


# --- LibreOffice ---------------------------------------------------------------------------------


class LetterText(HTMLParser):
    """A letter's body, block by block, from its HTML: the text a mail-merge template holds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, Any]] = []  # (kind, text or table rows)
        self._in_body = False
        self._section: str | None = None  # header, addressee, meta, signature
        self._kind: str | None = None
        self._text: list[str] = []
        self._rows: list[list[tuple[bool, str]]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "body":
            self._in_body = True
        elif not self._in_body:
            return
        elif tag in ("header", "section"):
            self._section = "header" if tag == "header" else classes[0] if classes else "section"
            if self._section == "signature":
                self.blocks.append(("gap", 10))  # .signature { margin-top: 10mm }
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("p", "h1", "h2", "li", "th", "td"):
            kind = tag
            if tag == "p" and "provider" in classes:
                kind = "provider"
            elif tag == "p" and "provider-contact" in classes:
                kind = "contact"
            elif tag == "p" and self._section in ("addressee", "meta", "signature"):
                kind = "line"
            self._kind, self._text = kind, []

    def handle_endtag(self, tag: str) -> None:
        if not self._in_body:
            return
        if tag in ("header", "section"):
            if tag == "header":
                self.blocks.append(("rule", ""))
            elif self._section in SECTION_GAPS:
                self.blocks.append(("gap", SECTION_GAPS[self._section]))
            self._section = None
        elif tag == "table" and self._rows is not None:
            self.blocks.append(("table", self._rows))
            self._rows = None
        elif tag in ("th", "td") and self._kind and self._rows:
            self._rows[-1].append((tag == "th", " ".join("".join(self._text).split())))
            self._kind = None
        elif tag in ("p", "h1", "h2", "li") and self._kind:
            self.blocks.append((self._kind, " ".join("".join(self._text).split())))
            self._kind = None

    def handle_data(self, data: str) -> None:
        if self._kind is not None:
            self._text.append(data)


SECTION_GAPS = {"addressee": 8, "meta": 6}  # margin-bottom (mm) in the letter's CSS


def letter_blocks(html: str) -> list[tuple[str, Any]]:
    parser = LetterText()
    parser.feed(html)
    parser.close()
    return parser.blocks


def write_docx(path: Path, data: dict[str, Any], html: str) -> None:
    """The letter as a mail merge leaves it: A4, the same margins and font (DejaVu Sans, as the
    PDF embeds), letterhead, recipient, details, body, figures table, signature, and a footer
    with the reference and "Page N of M"."""
    from docx import Document
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt, RGBColor

    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.right_margin = Mm(22), Mm(20)
    section.bottom_margin, section.left_margin = Mm(24), Mm(20)
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = "DejaVu Sans", Pt(11.5)
    normal.font.color.rgb = RGBColor(0x11, 0x11, 0x11)
    normal.paragraph_format.line_spacing = Pt(17.25)  # line-height: 1.5
    normal.paragraph_format.space_after = Pt(11.5)  # a paragraph's 1em margins
    document.core_properties.title = f"{data['title']}: {data['learner_name']}"
    document.core_properties.author = data["provider"]["name"]

    def paragraph(text: str, *, size: float | None = None, bold: bool = False, after: float = 11.5):
        p = document.add_paragraph()
        p.paragraph_format.space_after = Pt(after)
        if size:
            p.paragraph_format.line_spacing = Pt(1.5 * size)
        run = p.add_run(text)
        run.bold = bold
        if size:
            run.font.size = Pt(size)
        return p, run

    for kind, value in letter_blocks(html):
        if kind == "provider":
            _p, run = paragraph(value, size=16, bold=True, after=0)
            run.font.color.rgb = RGBColor(0x1D, 0x4E, 0x89)
        elif kind == "contact":
            _p, run = paragraph(value, size=9.5, after=0)
        elif kind == "rule":  # the letterhead's rule, its padding and margin
            p, _run = paragraph("", size=4, after=Mm(8).pt)
            border = OxmlElement("w:pBdr")
            bottom = OxmlElement("w:bottom")
            for key, val in (("val", "single"), ("sz", "16"), ("space", "1"), ("color", "1D4E89")):
                bottom.set(qn(f"w:{key}"), val)
            border.append(bottom)
            p._p.get_or_add_pPr().append(border)
        elif kind == "gap":
            p, _run = paragraph("", after=0)
            p.paragraph_format.line_spacing = Mm(value)
        elif kind == "line":
            paragraph(value, after=0)
        elif kind == "h1":
            paragraph(value, size=15, bold=True, after=Mm(4).pt)
        elif kind == "h2":
            p, _run = paragraph(value, size=12, bold=True, after=Mm(2).pt)
            p.paragraph_format.space_before = Pt(Mm(6).pt)
        elif kind == "li":
            p = document.add_paragraph(value, style="List Bullet")
            p.paragraph_format.space_after = Pt(0)
        elif kind == "table":
            table = document.add_table(rows=0, cols=2)
            table.style = "Table Grid"
            margins = OxmlElement("w:tblCellMar")  # padding: 1.5mm 3mm
            for side, twips in (("top", 85), ("bottom", 85), ("left", 170), ("right", 170)):
                margin = OxmlElement(f"w:{side}")
                margin.set(qn("w:w"), str(twips))
                margin.set(qn("w:type"), "dxa")
                margins.append(margin)
            table._tbl.tblPr.append(margins)
            for row in value:
                cells = table.add_row().cells
                for cell, (header, text) in zip(cells, row, strict=True):
                    cell.text = ""
                    run = cell.paragraphs[0].add_run(text)
                    run.bold = header
                    cell.paragraphs[0].paragraph_format.space_after = Pt(0)
                    if header:
                        shading = OxmlElement("w:shd")
                        shading.set(qn("w:val"), "clear")
                        shading.set(qn("w:fill"), "EEF2F7")
                        cell._tc.get_or_add_tcPr().append(shading)
            p, _run = paragraph("", after=0)  # the table's 4mm bottom margin
            p.paragraph_format.line_spacing = Mm(4)
        else:
            paragraph(value)

    footer = section.footer.paragraphs[0]
    footer.add_run(f"Reference {data['reference']}\t\tPage ").font.size = Pt(9)
    for instruction, text in (("PAGE", "1"), (None, " of "), ("NUMPAGES", "1")):
        if instruction is None:
            footer.add_run(text).font.size = Pt(9)
            continue
        field = OxmlElement("w:fldSimple")
        field.set(qn("w:instr"), instruction)
        run = OxmlElement("w:r")
        value = OxmlElement("w:t")
        value.text = text
        run.append(value)
        field.append(run)
        footer._p.append(field)
    document.save(str(path))


def soffice_command(soffice: str, profile: Path, outdir: Path, files: list[Path]) -> list[str]:
    # A profile of its own (so no running LibreOffice or other batch shares it); otherwise the
    # plain conversion a mail merge's documents get.
    return [
        soffice,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        str(outdir),
        *map(str, files),
    ]


def run_soffice(batches: list[list[str]]) -> float:
    """Wall seconds for the batches run side by side (one soffice process each)."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for cmd in batches
    ]
    outputs = [p.communicate(timeout=1800)[0] for p in processes]
    seconds = time.perf_counter() - started
    for process, output in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"soffice failed ({process.returncode}): {output.decode()[-2000:]}")
    return seconds


def pdf_pages(data: bytes) -> int:
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        return len(document)
    finally:
        document.close()


def libreoffice_step(
    args: argparse.Namespace, workdir: Path, sample: list[tuple[dict[str, Any], str]]
) -> dict[str, Any]:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise SystemExit(
            "soffice is missing: apt-get install -y --no-install-recommends "
            "libreoffice-writer-nogui (or run with --no-libreoffice)"
        )
    try:
        import docx  # noqa: F401
    except ImportError:
        raise SystemExit(
            "python-docx is missing: .venv/bin/pip install python-docx "
            "(a benchmark-only dependency; or run with --no-libreoffice)"
        ) from None
    version = subprocess.run([soffice, "--version"], capture_output=True, text=True).stdout
    root = workdir / "libreoffice"
    docx_dir = root / "docx"
    docx_dir.mkdir(parents=True)
    files = [docx_dir / f"letter-{n:04d}.docx" for n in range(len(sample))]
    started = time.perf_counter()
    for path, (data, html) in zip(files, sample, strict=True):
        write_docx(path, data, html)
    seconds = time.perf_counter() - started
    say(
        f"  {len(files)} DOCX files written in {seconds:.1f} s (not timed below); {version.strip()}"
    )
    workers = args.workers
    profiles = [root / f"profile-{n}" for n in range(workers)]

    # A new profile's first start builds it (several seconds): done once, outside the timings.
    first_start = run_soffice(
        [soffice_command(soffice, p, root / f"warm-{n}", files[:1]) for n, p in enumerate(profiles)]
    )
    say(f"  first start, building {workers} fresh profile(s): {first_start:.1f} s (not counted)")

    one_file = run_soffice([soffice_command(soffice, profiles[0], root / "one", files[:1])])
    say(f"  one letter, one soffice run (start-up included): {one_file:.2f} s")

    # Batch and side-by-side runs alternate, --repeat times each; the best of each counts.
    halves = [files[n::workers] for n in range(workers)]
    batch_runs: list[float] = []
    parallel_runs: list[float] = []
    for attempt in range(args.repeat):
        batch_dir, parallel_dir = root / f"batch-{attempt}", root / f"parallel-{attempt}"
        batch_runs.append(run_soffice([soffice_command(soffice, profiles[0], batch_dir, files)]))
        say(
            f"  {len(files)} letters, one soffice batch: {batch_runs[-1]:.1f} s = "
            f"{len(files) / batch_runs[-1]:.2f}/s"
        )
        parallel_runs.append(
            run_soffice(
                [
                    soffice_command(soffice, p, parallel_dir, h)
                    for p, h in zip(profiles, halves, strict=True)
                ]
            )
        )
        say(
            f"  {len(files)} letters, {workers} soffice batches side by side: "
            f"{parallel_runs[-1]:.1f} s = {len(files) / parallel_runs[-1]:.2f}/s"
        )

    pages, sizes, dejavu = [], [], 0
    for out_dir in (batch_dir, parallel_dir):
        for path in files:
            pdf = out_dir / (path.stem + ".pdf")
            if not pdf.is_file() or pdf.stat().st_size == 0:
                raise SystemExit(f"LibreOffice did not write {pdf}")
            if out_dir == batch_dir:
                data = pdf.read_bytes()
                pages.append(pdf_pages(data))
                sizes.append(len(data))
                dejavu += b"DejaVuSans" in data
    return {
        "libreoffice_version": version.strip(),
        "libreoffice_letters": len(files),
        "libreoffice_docx_seconds": seconds,
        "libreoffice_first_start_seconds": first_start,
        "libreoffice_one_letter_seconds": one_file,
        "libreoffice_batch_seconds": min(batch_runs),
        "libreoffice_parallel_seconds": min(parallel_runs),
        "libreoffice_runs": {"batch": batch_runs, "parallel": parallel_runs},
        "libreoffice_pages": dict(Counter(pages)),
        "libreoffice_mean_bytes": sum(sizes) / len(sizes),
        "libreoffice_with_dejavu": dejavu,
    }


# --- measuring -----------------------------------------------------------------------------------


def bare_parallel(htmls: list[str], workers: int, base_url: str) -> tuple[float, list[bytes]]:
    """The same HTML on ``workers`` spawned processes, 25 a task, as render-letters does."""
    chunks = [htmls[i : i + CHUNK] for i in range(0, len(htmls), CHUNK)]
    started = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_bare_start,
        initargs=(base_url,),
    ) as pool:
        out = [pdf for chunk in pool.map(_bare_chunk, chunks) for pdf in chunk]
    return time.perf_counter() - started, out


def bench(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from casework import create_app
    from casework.cli.letters import _start_worker as start_casework_worker
    from casework.database import reset_database
    from casework.documents import jobs as jobs_module
    from casework.documents import render as render_module
    from casework.documents.jobs import pending_jobs, render_jobs
    from casework.documents.pdf import BASE_URL
    from casework.documents.render import letter_data, letter_html, letter_pdf
    from casework.extensions import db
    from casework.models import LetterJob

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "RENDER_LETTERS_ON_ACTION": False,
            # The RQ runs' worker processes are given the same key.
            "AUDIT_KEY": hashlib.sha256(b"casework bench letters").hexdigest(),
        }
    )
    results: dict[str, Any] = {}
    with app.app_context():
        dialect = db.engine.dialect.name
        say(f"database: {dialect}, {db.engine.url.render_as_string(hide_password=True)}")
        reset_database()
        seconds, built = stopwatch(lambda: build(args.cases, args.warn_every, args.seed))
        job_ids = pending_jobs()
        templates = Counter(
            db.session.scalars(select(LetterJob.template).where(LetterJob.id.in_(job_ids)))
        )
        say(
            f"  {built['cases']} cases opened by the scan, {built['verbal_warnings']} verbal "
            f"warnings, {len(job_ids)} letter jobs {dict(templates)}; built in {seconds:.1f} s"
        )
        results.update(
            database=dialect,
            server=server_version(dialect),
            setup_seconds=seconds,
            letters=len(job_ids),
            templates=dict(templates),
            **built,
        )

        say("letter data and HTML for every job (outside the timings)")
        started = time.perf_counter()
        rows = [db.session.get(LetterJob, job_id) for job_id in job_ids]
        letters = [letter_data(job.snapshot, job.id) for job in rows]
        data_seconds = time.perf_counter() - started
        htmls = [letter_html(data) for data in letters]
        html_seconds = time.perf_counter() - started - data_seconds
        db.session.remove()
        say(
            f"  letter_data {1000 * data_seconds / len(job_ids):.1f} ms a letter, letter_html "
            f"{1000 * html_seconds / len(job_ids):.2f} ms; HTML "
            f"{sum(map(len, htmls)) / len(htmls):,.0f} characters on average"
        )
        results.update(data_seconds=data_seconds, html_seconds=html_seconds)

        # The first render in a process loads fonts and WeasyPrint's own stylesheets: done here,
        # outside the single-process timings (each spawned worker pays it in its own run).
        letter_pdf(letters[0])
        bare_render(htmls[0], BASE_URL)

        say("start-up of one spawned worker (outside the runs' own timings)")
        casework_start = worker_startup(
            start_casework_worker,
            (app.config["SQLALCHEMY_DATABASE_URI"], os.getpid()),
            _casework_ready,
        )
        bare_start = worker_startup(_bare_start, (BASE_URL,), _ready)
        say(f"  casework worker {casework_start:.2f} s, bare WeasyPrint worker {bare_start:.2f} s")
        results.update(casework_worker_start=casework_start, bare_worker_start=bare_start)

        runner = app.test_cli_runner()
        bulk_command = ["render-letters", "--workers", str(args.workers)]
        expected: dict[int, bytes] = {}
        runs: dict[str, list[float]] = defaultdict(list)
        checks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        phases = PhaseClock()
        pdf_phases = PhaseClock()
        bare_all_same = True
        for attempt in range(args.repeat):
            say(f"round {attempt + 1} of {args.repeat}")

            seconds, pdfs = stopwatch(lambda: [bare_render(html, BASE_URL) for html in htmls])
            runs["bare_single"].append(seconds)
            if not expected:
                expected = dict(zip(job_ids, pdfs, strict=True))
            bare_all_same &= pdfs == [expected[j] for j in job_ids]
            say(f"  bare WeasyPrint, 1 process: {seconds:.1f} s = {len(htmls) / seconds:.1f}/s")

            reset_letters(dialect)
            with (
                phases.watching(
                    jobs_module,
                    {
                        "letter_data": "letter data",
                        "letter_pdf": "HTML and PDF",
                        "_existing": "look for a stored letter",
                    },
                ),
                pdf_phases.watching(render_module, {"html_to_pdf": "PDF"}),
                profiled(f"letters-one-at-a-time-{dialect}", args.profile and attempt == 0, top=20),
            ):
                seconds, (rendered, failed) = stopwatch(lambda: render_jobs(pending_jobs()))
            db.session.remove()
            if (rendered, failed) != (len(job_ids), 0):
                raise AssertionError(f"render_jobs: {rendered} rendered, {failed} failed")
            runs["one_at_a_time"].append(seconds)
            checks["one_at_a_time"].append(check_stored(job_ids, expected))
            say(f"  casework render_jobs, 1 process: {seconds:.1f} s = {rendered / seconds:.1f}/s")

            seconds, pdfs = bare_parallel(htmls, args.workers, BASE_URL)
            runs["bare_parallel"].append(seconds)
            bare_all_same &= pdfs == [expected[j] for j in job_ids]
            say(
                f"  bare WeasyPrint, {args.workers} processes: {seconds:.1f} s = "
                f"{len(htmls) / seconds:.1f}/s"
            )

            reset_letters(dialect)
            seconds, outcome = stopwatch(lambda: runner.invoke(args=bulk_command))
            db.session.remove()
            if outcome.exit_code != 0 or outcome.exception is not None:
                raise AssertionError(f"render-letters failed: {outcome.output[-2000:]}")
            if f"Rendered {len(job_ids)} letter(s); 0 failed" not in outcome.output:
                raise AssertionError(f"render-letters said: {outcome.output[-500:]}")
            runs["bulk"].append(seconds)
            checks["bulk"].append(check_stored(job_ids, expected))
            say(
                f"  casework render-letters --workers {args.workers}: {seconds:.1f} s = "
                f"{len(job_ids) / seconds:.1f}/s"
            )

        total = len(job_ids) * args.repeat
        results.update(
            runs=dict(runs),
            checks={k: v[-1] | {"runs": len(v)} for k, v in checks.items()},
            all_same_as_bare=all(
                c["same_as_bare"] == len(job_ids) for v in checks.values() for c in v
            ),
            bare_deterministic=bare_all_same,
            one_at_a_time_phases_ms={
                "letter data": 1000 * phases.seconds["letter data"] / total,
                "HTML (Jinja)": 1000
                * (phases.seconds["HTML and PDF"] - pdf_phases.seconds["PDF"])
                / total,
                "PDF (WeasyPrint)": 1000 * pdf_phases.seconds["PDF"] / total,
                "look for a stored letter": 1000
                * phases.seconds["look for a stored letter"]
                / total,
                "the rest (load the job, store, commit)": 1000
                * (
                    sum(runs["one_at_a_time"])
                    - phases.seconds["letter data"]
                    - phases.seconds["HTML and PDF"]
                    - phases.seconds["look for a stored letter"]
                )
                / total,
            },
            pdf_pages=dict(Counter(pdf_pages(pdf) for pdf in expected.values())),
            pdf_mean_bytes=sum(map(len, expected.values())) / len(expected),
        )
        db.session.remove()

    if args.rq_workers:
        results["rq"] = rq_runs(args, app, job_ids, htmls, expected)
    if args.no_libreoffice:
        return results
    say("LibreOffice: the same letters as DOCX, converted by soffice --headless --convert-to pdf")
    step = max(1, len(job_ids) // args.libreoffice_letters)
    sample = list(zip(letters, htmls, strict=True))[::step][: args.libreoffice_letters]
    results.update(libreoffice_step(args, workdir, sample))
    sample_pages = Counter(pdf_pages(expected[job_ids[n]]) for n in range(0, len(job_ids), step))
    results["libreoffice_sample_weasyprint_pages"] = dict(sample_pages)
    return results


def rq_runs(
    args: argparse.Namespace, app: Any, job_ids: list[int], htmls: list[str], expected: dict
) -> list[dict[str, Any]]:
    """Letters through the job queue: every job enqueued (as the scan's command does after its
    commit), then N ``casework worker --burst`` processes started together, timed until the last
    has emptied the queue and exited; against bare WeasyPrint on N spawned processes, run next
    to it. Both include their processes' start-up."""
    from redis import Redis

    from casework.documents.pdf import BASE_URL
    from casework.extensions import db
    from casework.jobs.queues import enqueue_letters

    redis = Redis.from_url(args.redis_url)
    app.config["REDIS_URL"] = args.redis_url  # enqueue_letters queues only with Redis configured
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "CASEWORK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CASEWORK_REDIS_URL": args.redis_url,
        "CASEWORK_AUDIT_KEY": app.config["AUDIT_KEY"],
        "CASEWORK_SECRET_KEY": "bench",
        "CASEWORK_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-c", "from casework.cli import main; main()"]
    runs = []
    for workers in args.rq_workers:
        say(f"RQ: {workers} casework worker(s) against bare WeasyPrint on {workers} process(es)")
        bare_seconds, pdfs = bare_parallel(htmls, workers, BASE_URL)
        if pdfs != [expected[j] for j in job_ids]:
            raise AssertionError("bare WeasyPrint gave different bytes")
        with app.app_context():
            reset_letters(db.engine.dialect.name)
            redis.flushdb()
            if not enqueue_letters(job_ids):
                raise AssertionError("the letters were not queued: is REDIS_URL set?")
            started = time.perf_counter()
            processes = [
                subprocess.Popen(
                    [*command, "worker", "--burst", "--queue", "letters"], env=environment
                )
                for _ in range(workers)
            ]
            codes = [process.wait() for process in processes]
            seconds = time.perf_counter() - started
            if any(codes):
                raise AssertionError(f"casework worker exited with {codes}")
            check = check_stored(job_ids, expected)
            db.session.remove()
        if check["same_as_bare"] != len(job_ids):
            raise AssertionError(f"RQ run stored {check}")
        say(
            f"  casework worker x {workers}: {seconds:.1f} s = {len(job_ids) / seconds:.1f}/s; "
            f"bare WeasyPrint x {workers}: {bare_seconds:.1f} s = "
            f"{len(job_ids) / bare_seconds:.1f}/s; ratio {bare_seconds / seconds:.2f}x"
        )
        runs.append({"workers": workers, "seconds": seconds, "bare_seconds": bare_seconds})
    redis.flushdb()
    return runs


def server_version(dialect: str) -> str:
    from sqlalchemy import text

    from casework.extensions import db

    if dialect == "postgresql":
        return "PostgreSQL " + db.session.execute(text("SHOW server_version")).scalar_one()
    return "SQLite " + db.session.execute(text("SELECT sqlite_version()")).scalar_one()


def prefixed(runs: dict[str, list[float]]) -> dict[str, list[float]]:
    return {f"libreoffice_{k}": v for k, v in runs.items()}


def report(r: dict[str, Any]) -> str:
    n, workers = r["letters"], r["workers"]
    best = {k: min(v) for k, v in r["runs"].items()}
    rate = {k: n / s for k, s in best.items()}

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**no**"

    def secs(value: float) -> str:
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"

    def pages(counts: dict[Any, int]) -> str:
        return ", ".join(f"{v:,} of {k} pages" for k, v in sorted(counts.items()))

    one_ratio = rate["one_at_a_time"] / rate["bare_single"]
    bulk_ratio = rate["bulk"] / rate["bare_parallel"]
    lines = [
        f"**{r['database']}** ({r['server']}); {n:,} letters ({r['cases']:,} cases: "
        + ", ".join(f"{count:,} {name}" for name, count in sorted(r["templates"].items()))
        + f"); best of {len(r['runs']['bulk'])} runs; casework {r['commit']}; {r['machine']}",
        "",
        "| path | processes | letters | seconds | letters/s | against | aim | met |",
        "|---|---:|---:|---:|---:|---|---|---|",
        f"| bare WeasyPrint (`HTML(string).write_pdf`) | 1 | {n:,} | "
        f"{secs(best['bare_single'])} | {rate['bare_single']:.1f} | baseline | | |",
        f"| casework one at a time (`render_jobs`) | 1 | {n:,} | "
        f"{secs(best['one_at_a_time'])} | {rate['one_at_a_time']:.1f} | "
        f"{one_ratio:.2f}x bare WeasyPrint on 1 process | | |",
        f"| bare WeasyPrint, spawned pool | {workers} | {n:,} | {secs(best['bare_parallel'])} | "
        f"{rate['bare_parallel']:.1f} | baseline | | |",
        f"| casework bulk (`render-letters --workers {workers}`) | {workers} | {n:,} | "
        f"{secs(best['bulk'])} | {rate['bulk']:.1f} | {bulk_ratio:.2f}x bare WeasyPrint on "
        f"{workers} processes | >= {AIM_BULK:.2f}x | {verdict(bulk_ratio >= AIM_BULK)} |",
    ]
    if "libreoffice_batch_seconds" in r:
        m = r["libreoffice_letters"]
        lo_rate = m / r["libreoffice_batch_seconds"]
        lo_parallel = m / r["libreoffice_parallel_seconds"]
        lo_one = 1 / r["libreoffice_one_letter_seconds"]
        lines += [
            f"| LibreOffice, one `soffice` run for a single letter | 1 | 1 | "
            f"{secs(r['libreoffice_one_letter_seconds'])} | {lo_one:.1f} | casework one at a "
            f"time {rate['one_at_a_time'] / lo_one:.1f}x its speed | | |",
            f"| LibreOffice, one `soffice --convert-to pdf` batch of DOCX | 1 | {m:,} | "
            f"{secs(r['libreoffice_batch_seconds'])} | {lo_rate:.1f} | casework bulk "
            f"{rate['bulk'] / lo_rate:.2f}x its speed (bare WeasyPrint on {workers} processes "
            f"{rate['bare_parallel'] / lo_rate:.2f}x) | >= {AIM_LIBREOFFICE:.0f}x | "
            f"{verdict(rate['bulk'] / lo_rate >= AIM_LIBREOFFICE)} |",
            f"| LibreOffice, {workers} batches side by side | {workers} | {m:,} | "
            f"{secs(r['libreoffice_parallel_seconds'])} | {lo_parallel:.1f} | casework bulk "
            f"{rate['bulk'] / lo_parallel:.2f}x its speed (bare WeasyPrint "
            f"{rate['bare_parallel'] / lo_parallel:.2f}x) | | |",
        ]
    for run in r.get("rq", []):
        count, seconds, bare = run["workers"], run["seconds"], run["bare_seconds"]
        lines += [
            f"| bare WeasyPrint, spawned pool (start-up included) | {count} | {n:,} | "
            f"{secs(bare)} | {n / bare:.1f} | baseline | | |",
            f"| casework on RQ: `casework worker --burst` x {count} (start-up included) | "
            f"{count} | {n:,} | {secs(seconds)} | {n / seconds:.1f} | {bare / seconds:.2f}x "
            f"bare WeasyPrint on {count} process{'es' if count > 1 else ''} | | |",
        ]
    lines += [
        "",
        "All runs (s): "
        + "; ".join(
            f"{k} " + ", ".join(f"{s:.1f}" for s in v)
            for k, v in (r["runs"] | prefixed(r.get("libreoffice_runs", {}))).items()
        )
        + ".",
        "One at a time, ms a letter: "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["one_at_a_time_phases_ms"].items())
        + f". Building all the letters' data and HTML beforehand: letter_data "
        f"{1000 * r['data_seconds'] / n:.1f} ms, letter_html {1000 * r['html_seconds'] / n:.2f} ms"
        " a letter.",
        f"Start-up of one spawned worker: casework {r['casework_worker_start']:.2f} s, bare "
        f"WeasyPrint {r['bare_worker_start']:.2f} s.",
        f"Checks: every stored letter's sha256 matches its bytes and there is one letter per job "
        f"after each run; stored bytes identical to bare WeasyPrint's for the same HTML: "
        f"{verdict(r['all_same_as_bare'])} ("
        + ", ".join(
            f"{k} {c['same_as_bare']:,} of {c['letters']:,}" for k, c in r["checks"].items()
        )
        + f"); bare WeasyPrint the same bytes every run: {verdict(r['bare_deterministic'])}. "
        f"WeasyPrint PDFs: {pages(r['pdf_pages'])}, {r['pdf_mean_bytes'] / 1024:.1f} KiB on "
        "average.",
    ]
    if "libreoffice_batch_seconds" in r:
        further = (r["libreoffice_batch_seconds"] - r["libreoffice_one_letter_seconds"]) / max(
            1, r["libreoffice_letters"] - 1
        )
        lines.append(
            f"LibreOffice ({r['libreoffice_version']}): one letter in its own soffice run "
            f"{r['libreoffice_one_letter_seconds']:.2f} s (start-up included), each further "
            f"letter in a batch {1000 * further:.0f} ms; first start with a "
            f"new profile {r['libreoffice_first_start_seconds']:.1f} s (not counted); its PDFs: "
            f"{pages(r['libreoffice_pages'])} (WeasyPrint's for the same letters: "
            f"{pages(r['libreoffice_sample_weasyprint_pages'])}), "
            f"{r['libreoffice_mean_bytes'] / 1024:.1f} KiB on average, DejaVu Sans embedded in "
            f"{r['libreoffice_with_dejavu']} of {r['libreoffice_letters']}."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchkit.add_run_options(parser, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL, "letters")
    parser.add_argument("--cases", type=int, default=240, help="cases the scan opens (240)")
    parser.add_argument(
        "--warn-every",
        type=int,
        default=4,
        help="every Nth case gets a verbal warning (4; 0 for none)",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes for the bulk runs (2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the four runs (3)")
    parser.add_argument(
        "--libreoffice-letters", type=int, default=100, help="letters LibreOffice converts (100)"
    )
    parser.add_argument("--no-libreoffice", action="store_true", help="skip LibreOffice")
    parser.add_argument(
        "--rq-workers",
        default="1,2,4",
        help="RQ worker counts to time against bare WeasyPrint on as many processes (1,2,4; "
        "'' for none)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_ENV, DEFAULT_REDIS_URL),
        help=f"a Redis database this may empty (default ${REDIS_ENV}, else {DEFAULT_REDIS_URL})",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the first one-at-a-time run"
    )
    args = parser.parse_args(argv)
    try:
        args.rq_workers = [int(n) for n in args.rq_workers.split(",") if n.strip()]
    except ValueError:
        parser.error("--rq-workers takes whole numbers separated by commas, e.g. 1,2,4")
    if args.rq_workers and min(args.rq_workers) < 1:
        parser.error("--rq-workers counts must be positive")
    if min(args.cases, args.workers, args.repeat, args.libreoffice_letters) < 1:
        parser.error("counts must be positive")
    if args.warn_every < 0:
        parser.error("--warn-every must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        saved = (RESULTS_DIR / "letters.jsonl").read_text().splitlines()
        for line in saved[-args.report :]:
            print(report(json.loads(line)) + "\n")
        return 0
    # Before the run: the code imported is the code at this point.
    version = code_version(("casework", "templates"))
    workdir = Path(tempfile.mkdtemp(prefix="casework-bench-letters-"))
    try:
        url = benchkit.database_url(args, workdir, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL)
        results = bench(args, url, workdir)
    finally:
        if args.keep:
            say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    record(
        results,
        "letters",
        save=not args.no_save,
        commit=version,
        workers=args.workers,
        seed=args.seed,
        profiled=args.profile,
    )
    print("\n" + report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
