"""The SMTP transport against a real server on 127.0.0.1: what arrives, and each way it fails."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from dataclasses import replace

import pytest

from casework.messages.transports import (
    Attachment,
    DeliveryError,
    OutcomeUnknown,
    Outgoing,
    SmtpSettings,
    SmtpTransport,
    TransportConfigError,
)

OUTGOING = Outgoing(
    key="absence:mark:7:email:contact:3",
    address="pat@example.org",
    name="Zoë Parent",
    subject="Siân was absent",
    body="Siân was marked absent at 09:15.\n.A line that starts with a dot\n",
    attachments=(Attachment("note.pdf", "application/pdf", b"%PDF-1.7\n\x00\xff binary"),),
)


def test_the_message_arrives_as_sent(mailbox, smtp):
    ref = SmtpTransport(smtp).send(OUTGOING)

    [got] = mailbox.received
    assert mailbox.raw[0].isascii()  # seven-bit clean: any server takes it
    assert got["To"] == "Zoë Parent <pat@example.org>"
    assert got["From"] == "Casework <attendance@college.example>"
    assert got["Subject"] == "Siân was absent"
    assert got["Message-ID"] == ref == "<absence.mark.7.email.contact.3@college.example>"
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == OUTGOING.body
    [attachment] = got.iter_attachments()
    assert attachment.get_filename() == "note.pdf"
    assert attachment.get_content() == OUTGOING.attachments[0].data


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        ("550 5.1.1 No such user here", True),
        ("553 Mailbox name not allowed", True),
        ("451 4.3.0 Try again later", False),
        ("452 Too many recipients", False),
    ],
)
def test_a_refused_recipient_fails_permanently_only_on_5xx(mailbox, smtp, reply, permanent):
    mailbox.refuse["pat@example.org"] = reply

    with pytest.raises(DeliveryError) as refused:
        SmtpTransport(smtp).send(OUTGOING)

    assert refused.value.permanent is permanent
    assert reply.split()[0] in str(refused.value)
    assert mailbox.received == []


def test_a_server_that_does_not_answer_times_out_as_a_retryable_failure(mailbox, smtp):
    mailbox.hold_rcpt.add("pat@example.org")

    with pytest.raises(DeliveryError) as slow:
        SmtpTransport(smtp).send(OUTGOING)

    assert not slow.value.permanent
    assert "no answer within the configured timeout" in str(slow.value)
    assert mailbox.entered.is_set()


@pytest.mark.parametrize("fault", ["drop_data", "hold_data"])
def test_a_connection_lost_after_the_message_is_in_leaves_the_outcome_unknown(mailbox, smtp, fault):
    getattr(mailbox, fault).add("pat@example.org")
    handed_over = []

    with pytest.raises(OutcomeUnknown):
        SmtpTransport(smtp).send(OUTGOING, lambda: handed_over.append(True))

    assert handed_over == [True]
    assert len(mailbox.received) == 1  # the server has it: resending would deliver it twice


def test_no_server_is_a_retryable_failure(smtp):
    closed = SmtpSettings(host="127.0.0.1", port=1, security="none", timeout=1)
    with pytest.raises(DeliveryError) as refused:
        SmtpTransport(closed).send(OUTGOING)
    assert not refused.value.permanent
    assert "the mail server failed us: ConnectionRefusedError" in str(refused.value)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"SMTP_HOST": "mail", "SMTP_SECURITY": "ssl"}, "CASEWORK_SMTP_SECURITY is 'ssl'"),
        ({"SMTP_HOST": "mail", "SMTP_PORT": "twenty-five"}, "take numbers"),
    ],
)
def test_bad_settings_say_which_and_what_they_take(config, words):
    with pytest.raises(TransportConfigError, match=words):
        SmtpSettings.from_config(config)


def test_settings_from_config_default_to_starttls_on_587():
    settings = SmtpSettings.from_config({"SMTP_HOST": "mail.example.org", "SMTP_FROM": "a@b.c"})
    assert (settings.port, settings.security, settings.from_address) == (587, "starttls", "a@b.c")
    assert SmtpSettings.from_config({"SMTP_HOST": "m", "SMTP_SECURITY": "tls"}).port == 465


class MidMessageDrop(socketserver.BaseRequestHandler):
    """A server that takes MAIL, RCPT and DATA, reads the start of the message and resets the
    connection: the message's end never arrives, so nothing was delivered."""

    def handle(self) -> None:
        conn = self.request
        reader = conn.makefile("rb")
        conn.sendall(b"220 drop.example ESMTP\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250 drop.example\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                reader.read(64 * 1024)
                # RST, not FIN: the client's next write fails, it does not wait for an answer.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            else:
                conn.sendall(b"250 OK\r\n")


def test_a_connection_dropped_mid_message_is_a_retryable_failure():
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), MidMessageDrop) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        settings = SmtpSettings("127.0.0.1", server.server_address[1], "none", timeout=10)
        # Far more than the loopback socket buffers hold: the write is still going at the reset.
        big = Attachment("big.pdf", "application/pdf", bytes(24 * 2**20))
        try:
            with pytest.raises(DeliveryError) as dropped:
                SmtpTransport(settings).send(replace(OUTGOING, attachments=(big,)))
        finally:
            server.shutdown()

    assert not dropped.value.permanent
    assert "SMTPServerDisconnected" in str(dropped.value)
