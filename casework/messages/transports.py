"""How a message leaves casework: SMTP for email, GOV.UK Notify for text messages, and a
development transport that only logs (the default for a channel with nothing configured).

Every transport raises ``DeliveryError`` (``permanent`` when retrying cannot help, e.g. the
server refused the recipient) or ``OutcomeUnknown`` (the message may have been handed over: the
connection dropped after the end of the message was sent, before the server's answer)."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, make_msgid
from functools import cached_property
from typing import Any, Protocol

from casework.models import MessageChannel

log = logging.getLogger(__name__)

SMTP_SECURITY = ("starttls", "tls", "none")
NOTIFY_URL = "https://api.notifications.service.gov.uk"


class DeliveryError(Exception):
    """Not delivered. ``permanent``: do not retry (the message fails at once)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class OutcomeUnknown(Exception):
    """The server may or may not have the message: resending could deliver it twice."""


class TransportConfigError(ValueError):
    """The delivery settings are wrong: the message says which setting and what it takes."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """One message as a transport sees it."""

    key: str  # the outbox key: the idempotency key (Notify's reference, the email's Message-ID)
    address: str
    name: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = field(default=())


def _nothing() -> None:
    pass


class Transport(Protocol):
    # Whether ``already_sent`` can really tell (then a message whose outcome was unknown is
    # retried safely); where it cannot, such a message is not resent.
    can_look_up: bool

    def send(self, outgoing: Outgoing, handing_over: Callable[[], None] = _nothing) -> str | None:
        """Hand the message over; returns the provider's reference for it, if any. Calls
        ``handing_over`` just before the point past which the provider may have it."""

    def already_sent(self, outgoing: Outgoing) -> str | None:
        """Before a retry: the provider's reference if it has this message already, else None
        (None too where the provider cannot tell)."""


def message_id(key: str, domain: str) -> str:
    """The same Message-ID for every attempt at one outbox row, so a receiver that sees two
    copies (an attempt whose outcome was unknown, resent by staff) can tell they are one."""
    safe = "".join(c if c.isalnum() or c in "-." else "." for c in key)
    return f"<{safe}@{domain}>"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    from_address: str = "casework@localhost"
    from_name: str = "Casework"
    timeout: float = 30.0
    ca_file: str | None = None  # trust this CA too (an internal relay's own certificate)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        security = str(config.get("SMTP_SECURITY", "starttls")).lower()
        if security not in SMTP_SECURITY:
            raise TransportConfigError(
                f"CASEWORK_SMTP_SECURITY is {security!r}: use one of {', '.join(SMTP_SECURITY)}"
            )
        try:
            port = int(config.get("SMTP_PORT", 465 if security == "tls" else 587))
            timeout = float(config.get("SMTP_TIMEOUT", 30))
        except (TypeError, ValueError) as exc:
            raise TransportConfigError(
                f"CASEWORK_SMTP_PORT and CASEWORK_SMTP_TIMEOUT take numbers: {exc}"
            ) from exc
        return cls(
            host=str(config["SMTP_HOST"]),
            port=port,
            security=security,
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            from_address=str(config.get("SMTP_FROM", "casework@localhost")),
            from_name=str(config.get("SMTP_FROM_NAME", "Casework")),
            timeout=timeout,
            ca_file=config.get("SMTP_CA_FILE") or None,
        )


class SmtpTransport:
    """Email through one SMTP server, one connection per message (a minute's batch is small)."""

    can_look_up = False

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def email(self, outgoing: Outgoing) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["From"] = formataddr((s.from_name, s.from_address))
        message["To"] = formataddr((outgoing.name, outgoing.address))
        message["Subject"] = outgoing.subject
        domain = s.from_address.rpartition("@")[2] or "casework.invalid"
        message["Message-ID"] = message_id(outgoing.key, domain)
        # Quoted-printable: seven-bit safe for any server, still readable (names like Zoë).
        message.set_content(outgoing.body, cte="quoted-printable")
        for a in outgoing.attachments:
            maintype, _slash, subtype = a.content_type.partition("/")
            message.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
        return message

    def send(self, outgoing: Outgoing, handing_over: Callable[[], None] = _nothing) -> str | None:
        message = self.email(outgoing)
        try:
            with self._connect() as smtp:
                self._hand_over(
                    smtp, message, self.settings.from_address, outgoing.address, handing_over
                )
        except (DeliveryError, OutcomeUnknown):
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _refused(code, text, "the mail server refused the recipient") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # The settings' fault, not the message's: retried, so mail flows once they are fixed.
            raise DeliveryError(f"the mail server refused the sign-in: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _refused(exc.smtp_code, exc.smtp_error, "the mail server refused it") from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, TLS...
            raise DeliveryError(f"the mail server failed us: {_describe(exc)}") from exc
        return message["Message-ID"]

    def already_sent(self, outgoing: Outgoing) -> str | None:
        return None  # SMTP cannot be asked

    @cached_property
    def _tls(self) -> ssl.SSLContext:
        # The server's certificate is always checked, against the system's CAs (and ca_file).
        # Made once: loading the CAs costs more than a message on a local relay.
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=self._tls
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.security == "starttls":
                smtp.starttls(context=self._tls)
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    @staticmethod
    def _hand_over(
        smtp: smtplib.SMTP,
        message: EmailMessage,
        sender: str,
        address: str,
        handing_over: Callable[[], None],
    ) -> None:
        """MAIL, RCPT and DATA, with the one moment that cannot be retried told apart: once the
        message's final ``.`` is written, a dropped connection or a timeout leaves it unknown
        whether the server took it (before that, the server discards a partial message)."""
        smtp.ehlo_or_helo_if_needed()
        code, text = smtp.mail(sender)
        if code != 250:
            raise _refused(code, text, "the mail server refused the sender")
        code, text = smtp.rcpt(address)
        if code not in (250, 251):
            raise _refused(code, text, "the mail server refused the recipient")
        code, text = smtp.docmd("data")
        if code != 354:
            raise _refused(code, text, "the mail server refused the message")
        # CRLF line ends, and a line starting with "." doubled (RFC 5321 section 4.5.2).
        payload = re.sub(rb"(?m)^\.", b"..", message.as_bytes(policy=SMTP_POLICY))
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        handing_over()
        smtp.send(payload + b".\r\n")
        try:
            code, text = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise OutcomeUnknown(
                "the connection dropped after the whole message was sent, before the mail "
                f"server confirmed it: {_describe(exc)}"
            ) from exc
        if code != 250:
            raise _refused(code, text, "the mail server refused the message")


def _refused(code: int, text: bytes | str, what: str) -> DeliveryError:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    # 5xx: the server will never take it (RFC 5321); 4xx: try again later.
    return DeliveryError(f"{what}: {code} {text}".strip(), permanent=500 <= code < 600)


def _describe(exc: BaseException) -> str:
    # smtplib reports a read that timed out as a disconnection "timed out".
    if isinstance(exc, socket.timeout | TimeoutError) or "timed out" in str(exc):
        return "no answer within the configured timeout"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class NotifySettings:
    api_key: str
    sms_template_id: str
    base_url: str = NOTIFY_URL
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotifySettings:
        template = config.get("NOTIFY_SMS_TEMPLATE_ID")
        if not template:
            raise TransportConfigError(
                "CASEWORK_NOTIFY_SMS_TEMPLATE_ID is not set: give the id of a Notify text "
                "message template whose whole content is ((body))"
            )
        return cls(
            api_key=str(config["NOTIFY_API_KEY"]),
            sms_template_id=str(template),
            base_url=str(config.get("NOTIFY_BASE_URL") or NOTIFY_URL),
            timeout=float(config.get("NOTIFY_TIMEOUT", 30)),
        )


class NotifyTransport:
    """Text messages through GOV.UK Notify. The outbox key is Notify's ``reference``: a retry
    first asks Notify for a notification with that reference, so it never sends twice."""

    can_look_up = True

    def __init__(self, settings: NotifySettings) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        self.settings = settings
        self.client = NotificationsAPIClient(
            settings.api_key, base_url=settings.base_url, timeout=settings.timeout
        )

    def send(self, outgoing: Outgoing, handing_over: Callable[[], None] = _nothing) -> str | None:
        from notifications_python_client.errors import APIError

        handing_over()
        try:
            response = self.client.send_sms_notification(
                phone_number=outgoing.address,
                template_id=self.settings.sms_template_id,
                personalisation={"body": outgoing.body},
                reference=outgoing.key,
            )
        except APIError as exc:
            status = exc.status_code
            # 400 (a bad number, a bad template) and 403 (a bad key) will not change on retry;
            # 429 (rate limit) and 5xx will, and a retry asks Notify first.
            permanent = 400 <= status < 500 and status != 429
            raise DeliveryError(f"GOV.UK Notify answered {exc}", permanent=permanent) from exc
        return str(response.get("id"))

    def already_sent(self, outgoing: Outgoing) -> str | None:
        from notifications_python_client.errors import APIError

        try:
            found = self.client.get_all_notifications(reference=outgoing.key)
        except APIError as exc:
            # Unknown: sending now could send twice, so this attempt fails and is retried.
            raise DeliveryError(f"could not ask GOV.UK Notify what it has: {exc}") from exc
        for notification in found.get("notifications", []):
            if notification.get("reference") == outgoing.key:
                return str(notification.get("id"))
        return None


class LogTransport:
    """Development: logs the message instead of sending it (nothing configured for a channel)."""

    can_look_up = False

    def __init__(self, channel: MessageChannel, level: int = logging.INFO) -> None:
        self.channel = channel
        self.level = level  # the demo's made-up day logs below INFO: its summary says it all

    def send(self, outgoing: Outgoing, handing_over: Callable[[], None] = _nothing) -> str | None:
        # No handing over to mark: a log line cannot be half written to anyone.
        log.log(
            self.level,
            "%s to %s <%s> (not sent: no %s configured): %s [%d attachment(s)]",
            self.channel.value,
            outgoing.name,
            outgoing.address,
            "SMTP server" if self.channel == MessageChannel.EMAIL else "GOV.UK Notify key",
            outgoing.subject,
            len(outgoing.attachments),
        )
        return f"logged:{make_msgid()}"

    def already_sent(self, outgoing: Outgoing) -> str | None:
        return None


def transports_from(config: Mapping[str, Any]) -> dict[MessageChannel, Transport]:
    """The transport for each channel, from the app's configuration (CASEWORK_SMTP_*,
    CASEWORK_NOTIFY_*); a channel with nothing configured only logs."""
    email: Transport = (
        SmtpTransport(SmtpSettings.from_config(config))
        if config.get("SMTP_HOST")
        else LogTransport(MessageChannel.EMAIL)
    )
    sms: Transport = (
        NotifyTransport(NotifySettings.from_config(config))
        if config.get("NOTIFY_API_KEY")
        else LogTransport(MessageChannel.SMS)
    )
    return {MessageChannel.EMAIL: email, MessageChannel.SMS: sms}
