"""Outgoing email over SMTP (MOSPAY_SMTP_URL): merchant invites and resets, alert notices, reports.

One URL says where and how:
- `smtp://[user:password@]host[:587][?from=addr]`: STARTTLS, required. The one exception is a relay
  on the loopback address (a local MTA or a test sink), where STARTTLS is used only when offered.
- `smtps://[user:password@]host[:465][?from=addr]`: TLS from the first byte.
Nothing here logs a message's body (invites and resets carry one-time links).
"""

from __future__ import annotations

import dataclasses
import email.message
import email.utils
import ipaddress
import smtplib
import socket
import ssl
from urllib.parse import parse_qs, unquote, urlsplit


class MailError(Exception):
    """The message was not handed to the relay; the text says why, without secrets."""


@dataclasses.dataclass(frozen=True)
class Relay:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None = dataclasses.field(repr=False)
    sender: str

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_url(url: str) -> Relay:
    """The relay MOSPAY_SMTP_URL names; ValueError with a one-line reason when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// (STARTTLS) or smtps:// (TLS)")
    if not parts.hostname:
        raise ValueError("must name a host, like smtp://user:password@mail.example.com:587")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise ValueError("has an invalid port") from None
    query = parse_qs(parts.query)
    sender = query.get("from", [f"mospay@{socket.gethostname()}"])[0]
    if "@" not in sender or any(c in sender for c in "\r\n<>, "):
        raise ValueError("?from= must be one plain address, like ?from=payments@example.com")
    return Relay(parts.scheme, parts.hostname, port, unquote(parts.username) if parts.username else None,
                 unquote(parts.password) if parts.password else None, sender)


class Mailer:
    """Sends one plain-text message at a time; `enabled` is False without MOSPAY_SMTP_URL."""

    def __init__(self, url: str | None, *, timeout_s: float = 10.0):
        self._relay = parse_url(url) if url else None
        self._timeout_s = timeout_s

    @property
    def enabled(self) -> bool:
        return self._relay is not None

    def send(self, to: list[str] | str, subject: str, body: str, *, attachments=()) -> None:
        """attachments: (filename, "type/subtype", bytes) each, e.g. a statement's CSV."""
        relay = self._relay
        if relay is None:
            raise MailError("email is not configured (MOSPAY_SMTP_URL)")
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients or any(not _plain_address(r) for r in recipients):
            raise MailError("every recipient must be one plain address")
        message = email.message.EmailMessage()
        message["From"], message["To"] = relay.sender, ", ".join(recipients)
        message["Subject"] = " ".join(subject.split())  # no header injection through a subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain=relay.sender.rsplit("@", 1)[1])
        message.set_content(body)
        for name, media, data in attachments:
            maintype, _, subtype = media.partition("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        try:
            with self._connect(relay) as smtp:
                if relay.username:
                    smtp.login(relay.username, relay.password or "")
                smtp.send_message(message, from_addr=relay.sender, to_addrs=recipients)
        except MailError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            # The exception's text names the relay's answer, never the password (login's text is the reply).
            raise MailError(f"{relay.host}:{relay.port}: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _connect(self, relay: Relay) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if relay.scheme == "smtps":
            return smtplib.SMTP_SSL(relay.host, relay.port, timeout=self._timeout_s, context=context)
        smtp = smtplib.SMTP(relay.host, relay.port, timeout=self._timeout_s)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif not relay.loopback:
                raise MailError(f"{relay.host}:{relay.port} does not offer STARTTLS; refusing to send in clear")
        except BaseException:
            smtp.close()
            raise
        return smtp


def _plain_address(value: str) -> bool:
    return (isinstance(value, str) and 3 <= len(value) <= 254 and value.count("@") == 1
            and not any(c in value for c in "\r\n<>,; \t\"'"))
