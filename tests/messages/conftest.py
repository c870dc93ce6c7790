"""Delivery tests' fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1 whose handler can refuse,
hold or drop a message, and outbox messages to send; for the reports, a school-age pupil of a
team's programme with a main school and a parent, and marks recorded at a given UK time."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from casework.extensions import db
from casework.fields import UK
from casework.messages.transports import LogTransport, SmtpSettings, SmtpTransport
from casework.models import (
    ContactKind,
    Enrolment,
    Mark,
    MessageChannel,
    MessageKind,
    OutboxMessage,
    Report,
    Session,
    queue_message,
)
from tests.ports import unused_port

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TIMEOUT = 1.0  # seconds the client waits for the server in these tests (a held handler)


@dataclass
class Mailbox:
    """The server's handler. ``refuse[address]``: the reply to RCPT; ``hold_rcpt`` or
    ``hold_data``: addresses whose RCPT or DATA waits (``entered`` set) until ``release``;
    ``drop_data``: addresses whose connection is closed once the message is in, unanswered."""

    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # as it came over the wire
    refuse: dict[str, str] = field(default_factory=dict)
    hold_rcpt: set[str] = field(default_factory=set)
    hold_data: set[str] = field(default_factory=set)
    drop_data: set[str] = field(default_factory=set)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if address in m["To"]]

    async def _hold(self) -> None:
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if address in self.hold_rcpt:
            await self._hold()
            return "421 closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.received.append(message)
        self.raw.append(envelope.original_content or envelope.content)
        if set(envelope.rcpt_tos) & self.hold_data:
            await self._hold()
        if set(envelope.rcpt_tos) & self.drop_data:
            server.transport.close()
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=unused_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    box.release.set()
    controller.stop()


@pytest.fixture
def smtp(mailbox) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=mailbox.port,
        security="none",
        from_address="attendance@college.example",
        timeout=TIMEOUT,
    )


@pytest.fixture
def transports(smtp):
    return {
        MessageChannel.EMAIL: SmtpTransport(smtp),
        MessageChannel.SMS: LogTransport(MessageChannel.SMS),
    }


def message(key: str, address: str = "pat@example.org", **fields) -> OutboxMessage:
    """Queue (and commit) an absence email due at NOW."""
    fields = {
        "kind": MessageKind.ABSENCE,
        "channel": MessageChannel.EMAIL,
        "recipient_kind": "parent_carer",
        "recipient_name": "Pat Parent",
        "address": address,
        "subject": "Sam was absent this morning",
        "body": "Sam was marked absent at 09:15.\n",
        "due_at": NOW,
        **fields,
    }
    row = queue_message(key=key, **fields)
    db.session.commit()
    return row


def start_sender(app, tmp_path, **settings: str) -> subprocess.Popen:
    """``casework send-due`` in a process of its own, on the test's database, with these
    CASEWORK_* settings; its output goes to ``sender.log``."""
    env = {**os.environ, "CASEWORK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], **settings}
    with (tmp_path / "sender.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "from casework.cli import main; main()", "send-due"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_inside(event: threading.Event, sender: subprocess.Popen, log) -> None:
    """Until the server says the sender is inside a send; fails at once if the sender ended."""
    for _ in range(1200):  # two minutes at most
        if event.wait(timeout=0.1):
            return
        if sender.poll() is not None:
            pytest.fail(f"the sender ended before the server held it: {log.read_text()}")
    pytest.fail("the sender never reached the server")


SCHOOL_A = "office@school-a.example.org"
SCHOOL_B = "office@school-b.example.org"


def uk(*parts: int) -> datetime:
    """A UK wall-clock time as the aware instant it is."""
    return datetime(*parts, tzinfo=UK)


def csv_rows(report: Report) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(report.csv.decode("utf-8-sig"))))


def pdf_text(report: Report) -> str:
    pages = PdfReader(io.BytesIO(report.pdf)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


@pytest.fixture
def pupil(make):
    """``pupil(team, name, school=SCHOOL_A, born=...)``: a pupil on the team's programme with a
    main school (whose email may be None) and a parent with a phone number."""

    def add(t, family_name: str, *, school: str | None = SCHOOL_A, born=date(2011, 5, 1), **kw):
        enrolment = t.learner(born=born, **kw)
        enrolment.learner.family_name = family_name
        name = "School B" if school == SCHOOL_B else "School A"
        make.contact(enrolment.learner, ContactKind.MAIN_SCHOOL, name=name, email=school)
        make.contact(enrolment.learner, ContactKind.PARENT_CARER, phone="07700 900123")
        return enrolment

    return add


@pytest.fixture
def mark_at(make):
    """``mark_at(enrolment, session, code, at)``: a mark recorded at the UK time ``at``."""

    def add(enrolment: Enrolment, session: Session, code: str, at: datetime, **kw) -> Mark:
        return make.mark(enrolment, session, code, recorded_at=at, **kw)

    return add
