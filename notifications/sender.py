"""One SMTP connection (aiosmtplib), and what each failure means for a message.

The mapping of failures (shared/research/libraries.md, section 3):

| what happened | for the message | for the connection |
| --- | --- | --- |
| 250 | sent | reused |
| 4xx on MAIL, RCPT or DATA (451, 452...) | retried later with backoff | reused |
| 421, dropped connection, timeout | retried later with backoff | closed, reopened |
| 5xx on RCPT or DATA (550 5.1.1...) | dead letter | reused |
| 5xx on MAIL FROM (the sender refused) | given back untried | alert: the configuration is wrong |
| cannot connect (refused, timeout, 4xx greeting) | given back untried | the dispatcher backs off |
| login refused, TLS not possible | given back untried | alert: the configuration is wrong |

A message that was never handed to the server does not use up an attempt: an SMTP
server that is down for a night must not turn a night's mail into dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from enum import StrEnum

import aiosmtplib

from notifications.compose import Sender
from workflow.settings import Settings


class SendStatus(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # try this message again later
    PERMANENT = "permanent"  # never deliverable as it is: a dead letter
    MISCONFIGURED = "misconfigured"  # nothing can be sent until an admin fixes settings


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    error: str | None = None
    reconnect: bool = False  # the connection cannot be trusted any more


class ConnectFailed(Exception):
    """The server could not be reached or refused to talk; try again later."""


class Misconfigured(Exception):
    """The server refuses the credentials, the TLS set-up or the sender: alert an admin."""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:500]


class SmtpConnection:
    """A lazily opened, reused connection to the configured SMTP server."""

    def __init__(self, settings: Settings, sender: Sender) -> None:
        self.settings = settings
        self.sender = sender
        self._smtp: aiosmtplib.SMTP | None = None
        self._mail_from = b"FROM:<" + sender.address.encode("ascii") + b">"
        self.opened = 0  # connections opened (for the report and the tests)

    @property
    def where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    @property
    def is_open(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def open(self) -> None:
        """Connect, say EHLO, upgrade to TLS as configured, log in if a user is set."""
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_tls == "tls",
            # "none" means none: aiosmtplib would otherwise upgrade whenever offered.
            start_tls=True if s.smtp_tls == "starttls" else False,  # noqa: SIM210
            validate_certs=s.smtp_validate_certs,
            local_hostname=s.smtp_local_hostname or self.sender.domain,
            username=s.smtp_user or None, password=s.smtp_password or None,
        )
        try:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:  # no TLS, no login: say hello ourselves
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise Misconfigured(f"the SMTP server {self.where} refused the login of "
                                f"{s.smtp_user!r} ({exc.code} {exc.message}); check "
                                "KPI_SMTP_USER and KPI_SMTP_PASSWORD") from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise Misconfigured(f"the SMTP server {self.where} does not support what the "
                                f"settings ask for: {_describe(exc)}; check smtp_tls and "
                                "smtp_user") from None
        except ssl.SSLError as exc:
            raise Misconfigured(f"TLS with {self.where} failed: {_describe(exc)}; check "
                                "smtp_tls (tls for port 465, starttls for 587) and the "
                                "server's certificate") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot reach the SMTP server {self.where}: "
                                f"{_describe(exc)}") from None
        self._smtp = smtp
        self.opened += 1

    async def send(self, to_address: str, data: bytes) -> SendResult:
        """Send one message; classify any failure (the connection must be open).

        MAIL, RCPT and DATA are sent one by one rather than with ``sendmail``: the
        addresses were checked when the message was composed (one plain ASCII
        address each), and ``sendmail`` parses each of them twice more with the
        ``email`` package, which costs the client more CPU than the protocol.
        """
        smtp = self._smtp
        assert smtp is not None, "open() first"
        try:
            async with asyncio.timeout(self.settings.smtp_send_timeout_seconds):
                reply = await smtp.execute_command(b"MAIL", self._mail_from)
                if reply.code != 250:
                    return await self._refused(reply.code, reply.message, sender=True)
                reply = await smtp.execute_command(
                    b"RCPT", b"TO:<" + to_address.encode("ascii") + b">")
                if reply.code not in (250, 251):
                    return await self._refused(reply.code, reply.message, sender=False)
                await smtp.data(data)
        except aiosmtplib.SMTPDataError as exc:
            if exc.code == 421:  # the server is closing the connection
                return SendResult(SendStatus.TRANSIENT, f"{exc.code} {exc.message}",
                                  reconnect=True)
            await self._reset()
            return _by_code(exc.code, f"message refused: {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Dropped, reset or timed out in the middle: whether the server kept the
            # message is unknown, so it is sent again later (same Message-ID).
            return SendResult(SendStatus.TRANSIENT, f"connection lost while sending: "
                              f"{_describe(exc)}", reconnect=True)
        return SendResult(SendStatus.SENT)

    async def _refused(self, code: int, message: str, *, sender: bool) -> SendResult:
        if code == 421:  # closing: aiosmtplib has dropped the connection already
            return SendResult(SendStatus.TRANSIENT, f"{code} {message}", reconnect=True)
        await self._reset()
        if not sender:
            return _by_code(code, f"recipient refused: {code} {message}")
        if 400 <= code < 500:
            return SendResult(SendStatus.TRANSIENT, f"sender refused for now: {code} {message}")
        return SendResult(SendStatus.MISCONFIGURED, f"the SMTP server {self.where} refuses "
                          f"the sender {self.sender.address!r}: {code} {message}; check "
                          "mail_from (KPI_MAIL_FROM)")

    async def _reset(self) -> None:
        """RSET after a refusal, so the next message starts a clean transaction."""
        if self._smtp is not None:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await self._smtp.rset()

    async def close(self) -> None:
        """QUIT politely when possible; drop the connection in any case."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                async with asyncio.timeout(5):
                    await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            smtp.close()


def _by_code(code: int, text: str) -> SendResult:
    if 400 <= code < 500:
        return SendResult(SendStatus.TRANSIENT, text)
    return SendResult(SendStatus.PERMANENT, text)
