"""Messages at college scale: the day's absence alerts queued by the register import, sent by
``send_due``, and the day's reports built, each next to a baseline measured in the same run.

Builds the registers benchmark's world (10,000 learners x 240 sessions: 2.4 million marks, the
history loaded by the driver's bulk insert), gives every learner a parent or carer with a phone
and an email (and the apprentices an employer), then, on the clock of the last teaching day:
1. imports that day's register (two sessions a programme) holding ``--absences`` absences, and
   times the alerts it queues (``queue_absence_notices``) against the whole import;
2. sends everything due (``send_due``): email to an SMTP server this process starts on
   127.0.0.1 (aiosmtpd), texts to a transport that only counts, against bare ``smtplib``
   handing the same emails to the same server, one connection each as casework does;
3. builds the reports due at the end of that day (``build_due``) against the attendance figures
   of every enrolment (what the reports are built from).

Usage: python bench/bench_messages.py --database sqlite|postgresql [--learners N --sessions M]
See bench/README.md.
"""

from __future__ import annotations

import argparse
import random
import smtplib
import sys
from collections import Counter
from datetime import UTC, datetime, time
from typing import Any

import benchkit
import time_machine
from aiosmtpd.controller import Controller
from bench_registers import (
    LOCAL_ZONE,
    build_world,
    driver_insert,
    generate_register,
    maintain,
    run_figures,
    server_version,
)
from benchkit import PhaseClock, code_version, free_port, profiled, record, say, stopwatch
from sqlalchemy import func, insert, select, update

from casework import create_app
from casework.database import reset_database
from casework.extensions import db
from casework.messages import reports as reports_module
from casework.messages.sender import send_due
from casework.messages.transports import Outgoing, SmtpSettings, SmtpTransport
from casework.models import (
    Contact,
    ContactKind,
    Enrolment,
    Learner,
    MessageChannel,
    MessageStatus,
    OutboxMessage,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Report,
    Role,
    User,
    UserRole,
)
from casework.registers import importing as importing_module
from casework.registers.importing import COLUMNS, import_register

POSTGRESQL_ENV = "CASEWORK_BENCH_MESSAGES_POSTGRESQL_URL"
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/casework_bench_messages"
APPRENTICE_POLICY = "001-sts"  # employers are told of every unauthorised absence


class Sink:
    """An SMTP server's handler that accepts and counts every message."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 OK"


class CountingTexts:
    """Texts go nowhere: GOV.UK Notify is on the internet, and this measures casework."""

    can_look_up = False

    def __init__(self) -> None:
        self.sent = 0

    def send(self, outgoing: Outgoing, handing_over: Any = None) -> str:
        self.sent += 1
        return f"bench-{self.sent}"

    def already_sent(self, outgoing: Outgoing) -> None:
        return None


def add_people(world: Any) -> dict[str, int]:
    """Everyone the day's messages and reports go to: each learner's own email and mobile (a
    learner 18 or over is texted themselves), a parent or carer with both, an employer with an
    email for each apprentice (learners on the apprenticeship policy's programmes), and a head
    of programme for each programme (the staff reports)."""
    learner_of = dict(db.session.execute(select(Enrolment.id, Enrolment.learner_id)).all())
    db.session.execute(
        update(Learner),
        [
            {"id": learner_of[e], "email": f"learner{n + 1}@example.org", "phone": _mobile(n, 1)}
            for n, e in enumerate(world.enrolment_ids)
        ],
    )
    apprentice_programmes = set(
        db.session.scalars(select(Programme.id).where(Programme.policy.has(key=APPRENTICE_POLICY)))
    )
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.programme_id.in_(apprentice_programmes))
        .values(is_apprentice=True)
    )
    rows = []
    employers = 0
    for n, enrolment_id in enumerate(world.enrolment_ids):
        learner_id = learner_of[enrolment_id]
        rows.append(
            {
                "learner_id": learner_id,
                "kind": ContactKind.PARENT_CARER,
                "name": f"Parent {n + 1}",
                "email": f"parent{n + 1}@example.org",
                "phone": _mobile(n, 2),
            }
        )
        if world.programme_ids[n % len(world.programme_ids)] in apprentice_programmes:
            employers += 1
            rows.append(
                {
                    "learner_id": learner_id,
                    "kind": ContactKind.EMPLOYER,
                    "name": f"Employer {n + 1}",
                    "email": f"employer{n + 1}@example.org",
                }
            )
    db.session.execute(insert(Contact), rows)
    for p, programme_id in enumerate(world.programme_ids):
        head = User(name=f"Head {p + 1}", email=f"head{p + 1}@example.org")
        head.set_password(f"bench head {p + 1}")
        head.role_rows = [UserRole(role=Role.HEAD_OF_PROGRAMME)]
        db.session.add(head)
        db.session.flush()
        db.session.add(
            ProgrammeStaff(programme_id=programme_id, user_id=head.id, role=ProgrammeRole.HEAD)
        )
    db.session.commit()
    return {"parents": len(world.enrolment_ids), "employers": employers}


def _mobile(n: int, who: int) -> str:
    return f"07{who}00{n + 1:06d}"


def day_register(world: Any, day_sessions: list[Any], absences: int, seed: int) -> bytes:
    """The day's register: every learner of each session marked, ``absences`` of them absent
    (most unauthorised, some reported by a parent as illness), the rest present."""
    rng = random.Random(seed)
    programmes = len(world.programme_ids)
    slots = [
        (session, n)
        for session in day_sessions
        for n in range(session.programme_index, len(world.learner_refs), programmes)
    ]
    absent = set(rng.sample(range(len(slots)), absences))
    lines = [",".join(COLUMNS)]
    for index, (session, n) in enumerate(slots):
        code, reason = "P", ""
        if index in absent:
            draw = rng.random()
            code, reason = (
                ("A", "illness") if draw < 0.3 else ("N", "") if draw < 0.4 else ("U", "")
            )
        lines.append(
            f"{world.learner_refs[n]},{session.ref},{code},,{reason},,"
            f"{session.recorded_by},{session.recorded_at_local}"
        )
    lines.append("")
    return "\r\n".join(lines).encode()


def outbox_counts() -> dict[str, int]:
    rows = db.session.execute(
        select(
            OutboxMessage.kind, OutboxMessage.channel, OutboxMessage.status, func.count()
        ).group_by(OutboxMessage.kind, OutboxMessage.channel, OutboxMessage.status)
    ).all()
    return {f"{k.value}/{c.value}/{s.value}": n for k, c, s, n in rows}


def bare_smtp(port: int, outgoing: list[Outgoing]) -> float:
    """The same emails handed to the same server by smtplib alone, one connection each."""
    transport = SmtpTransport(SmtpSettings.from_config(smtp_config(port)))
    messages = [(o.address, transport.email(o)) for o in outgoing]

    def send_all() -> None:
        for address, message in messages:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.send_message(message, "casework@example.org", [address])

    return stopwatch(send_all)[0]


def smtp_config(port: int) -> dict[str, Any]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "casework@example.org",
    }


def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    sink = Sink()
    port = free_port()  # aiosmtpd checks its own port by connecting, so not port 0
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", **smtp_config(port)})
    results: dict[str, Any] = {}
    try:
        with app.app_context():
            dialect = db.engine.dialect.name
            say(f"database: {dialect}; SMTP server on 127.0.0.1:{port}")
            reset_database()
            world = build_world(args.learners, args.sessions, args.programmes)
            contacts = add_people(world)
            register = generate_register(world, args.seed)
            day = world.sessions[-1].starts_at.date()
            day_ids = {s.id for s in world.sessions if s.starts_at.date() == day}
            history = [row for row in register.driver_rows if row[1] not in day_ids]
            say(f"history: {len(history):,} marks before {day} by the driver's bulk insert")
            driver_insert(dialect, history)
            del register, history
            maintain(dialect)
            day_sessions = [s for s in world.sessions if s.id in day_ids]
            data = day_register(world, day_sessions, args.absences, args.seed)
            results.update(
                database=dialect,
                server=server_version(dialect),
                learners=args.learners,
                sessions=args.sessions,
                absences=args.absences,
                day=day.isoformat(),
                contacts=contacts,
            )

            evening = datetime.combine(day, time(18, 0), LOCAL_ZONE).astimezone(UTC)
            with time_machine.travel(evening, tick=True):
                say(f"import of the day's register ({len(day_sessions)} sessions) at {evening}")
                clock = PhaseClock()
                with clock.watching(importing_module, {"queue_absence_notices": "notices"}):
                    seconds, result = stopwatch(
                        lambda: import_register(data, filename="day.csv", imported_by="bench")
                    )
                db.session.remove()
                queued = outbox_counts()
                messages = sum(queued.values())
                notices = clock.seconds["notices"]
                say(f"  {seconds:.2f} s ({result}); alerts {notices:.2f} s: {queued}")
                results.update(
                    import_seconds=seconds,
                    notices_seconds=notices,
                    messages_queued=messages,
                    queued=queued,
                )
                maintain(dialect)

                say("send_due: everything due")
                texts = CountingTexts()
                email = SmtpTransport(SmtpSettings.from_config(app.config))
                both = {MessageChannel.EMAIL: email, MessageChannel.SMS: texts}
                with profiled(f"send-due-{dialect}", args.profile):
                    seconds, summary = stopwatch(lambda: send_due(transports=both))
                db.session.remove()
                sent = db.session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == MessageStatus.SENT)
                )
                emails = sink.received
                say(f"  {seconds:.2f} s: {summary}; {emails} emails received, {texts.sent} texts")
                assert emails + texts.sent == sent, (emails, texts.sent, sent)
                again = send_due(transports=both)
                assert sink.received == emails and again.sent == 0, again

                say("bare smtplib: the same emails to the same server")
                rows = db.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.channel == MessageChannel.EMAIL)
                ).all()
                bare = bare_smtp(
                    port,
                    [
                        Outgoing(
                            key=m.key,
                            name=m.recipient_name,
                            address=m.address or "",
                            subject=m.subject,
                            body=m.body,
                            attachments=(),
                        )
                        for m in rows
                        if m.status == MessageStatus.SENT
                    ],
                )
                say(f"  {bare:.2f} s")
                results.update(
                    send_seconds=seconds,
                    sent=sent,
                    emails=emails,
                    texts=texts.sent,
                    bare_smtp_seconds=bare,
                )
                maintain(dialect)

                say("the day's reports, each for every programme whose policy calls for it")
                names, per_report = Counter(), {}
                rows_in = 0
                pdf_clock = PhaseClock()
                for name in reports_module.NAMES:
                    with pdf_clock.watching(reports_module, {"report_pdf": "pdf"}):
                        seconds, built = stopwatch(
                            lambda name=name: reports_module.build(name, day, queue=True)
                        )
                    if built:
                        per_report[name] = seconds
                        names[name] = len(built)
                        rows_in += sum(r.rows for r in built)
                        say(f"  {name}: {len(built)} built, {seconds:.2f} s")
                seconds = sum(per_report.values())
                again = stopwatch(lambda: [reports_module.build(n, day) for n in names])[1]
                assert (
                    sum(len(a) for a in again)
                    == sum(names.values())
                    == db.session.scalar(select(func.count()).select_from(Report))
                ), again
                say("attendance figures of every enrolment (what the reports read)")
                figures_seconds, figures = stopwatch(lambda: run_figures(day))
                say(f"  {figures_seconds:.2f} s for {len(figures):,} enrolments")
                results.update(
                    reports_seconds=seconds,
                    reports_pdf_seconds=pdf_clock.seconds["pdf"],
                    report_seconds=per_report,
                    reports=dict(names),
                    report_rows=rows_in,
                    figures_seconds=figures_seconds,
                )
    finally:
        controller.stop()
    return results


def report(r: dict[str, Any]) -> str:
    rate = r["messages_queued"] / r["notices_seconds"]
    send_rate = r["sent"] / r["send_seconds"]
    bare_rate = r["emails"] / r["bare_smtp_seconds"]
    return "\n".join(
        [
            f"### Messages on {r['database']} ({r['server']}): {r['learners']:,} learners,"
            f" {r['absences']:,} absences on {r['day']}",
            "",
            "| step | casework | baseline | ratio |",
            "|---|---|---|---|",
            f"| day's import, alerts queued | {r['messages_queued']:,} messages in"
            f" {r['notices_seconds']:.2f} s = {rate:,.0f}/s | the whole import"
            f" {r['import_seconds']:.2f} s | alerts are"
            f" {r['notices_seconds'] / r['import_seconds']:.2f} of it |",
            f"| send_due | {r['sent']:,} sent ({r['emails']:,} emails) in {r['send_seconds']:.2f} s"
            f" = {send_rate:,.0f}/s | bare smtplib {r['emails']:,} emails in"
            f" {r['bare_smtp_seconds']:.2f} s = {bare_rate:,.0f}/s |"
            f" {send_rate / bare_rate:.2f}x its speed |",
            f"| the day's reports ({', '.join(r['reports'])}) |"
            f" {sum(r['reports'].values())} reports,"
            f" {r['report_rows']:,} rows in {r['reports_seconds']:.2f} s (PDF"
            f" {r['reports_pdf_seconds']:.2f} s) | figures of every"
            f" enrolment {r['figures_seconds']:.2f} s |"
            f" {r['reports_seconds'] / r['figures_seconds']:.2f}x |",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchkit.add_run_options(parser, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL, "messages")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=240)
    parser.add_argument("--programmes", type=int, default=10)
    parser.add_argument("--absences", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="cProfile send_due (inflated)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        benchkit.print_saved("messages", args.report, report)
        return 0
    version = code_version()
    with benchkit.work_directory("casework-bench-messages-", args.keep) as workdir:
        url = benchkit.database_url(args, workdir, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL)
        results = bench(args, url)
    record(results, "messages", save=not args.no_save, commit=version, seed=args.seed)
    print("\n" + report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
