"""STARTTLS and TLS from the start, with a sign-in, against aiosmtpd on 127.0.0.1 with a
certificate made for the test (trusted through CASEWORK_SMTP_CA_FILE)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from casework.messages.transports import DeliveryError, Outgoing, SmtpSettings, SmtpTransport
from tests.messages.conftest import Mailbox
from tests.ports import unused_port

OUTGOING = Outgoing("absence:mark:9:email:learner", "sam@example.org", "Sam", "Absent", "Body\n")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def sign_in(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right"
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture(params=["starttls", "tls"])
def secure_server(request, certificate) -> Iterator[tuple[Mailbox, SmtpSettings]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(port=unused_port())
    tls = {"tls_context": context, "require_starttls": True, "auth_required": True}
    if request.param == "tls":
        # aiosmtpd counts only STARTTLS as TLS (it would not offer AUTH): this connection is TLS
        # from its first byte. A wrong password is still refused.
        tls = {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=sign_in,
        **tls,
    )
    controller.start()
    settings = SmtpSettings(
        "127.0.0.1",
        box.port,
        request.param,
        username="casework",
        password="right",
        from_address="attendance@college.example",
        timeout=5,
        ca_file=str(cert),
    )
    yield box, settings
    controller.stop()


def test_a_secured_signed_in_connection_delivers(secure_server):
    box, settings = secure_server
    SmtpTransport(settings).send(OUTGOING)
    assert [m["To"] for m in box.received] == ["Sam <sam@example.org>"]


def test_a_wrong_password_is_retried_not_failed_for_good(secure_server):
    box, settings = secure_server
    with pytest.raises(DeliveryError) as refused:
        SmtpTransport(SmtpSettings(**{**settings.__dict__, "password": "wrong"})).send(OUTGOING)
    assert not refused.value.permanent
    assert "the mail server refused the sign-in: 535" in str(refused.value)
    assert box.received == []


def test_a_certificate_that_is_not_trusted_is_refused(secure_server):
    box, settings = secure_server
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        SmtpTransport(SmtpSettings(**{**settings.__dict__, "ca_file": None})).send(OUTGOING)
    assert box.received == []
