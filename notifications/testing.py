"""A real SMTP server on loopback for tests: aiosmtpd, recording what it receives, and
able to misbehave on cue (refuse a recipient with 451 or 550, drop the connection in
the middle of a batch, answer slowly, insist on a login).

Used by this project's tests and by anyone testing code that sends through the
dispatcher; nothing in the engine imports it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from notifications.catcher import LoopbackController


@dataclass(frozen=True)
class Received:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Script:
    """How the server behaves; change it while the server runs (under ``lock``)."""

    # address -> replies to RCPT, used one by one; "250" or nothing means accept.
    rcpt_replies: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Close the connection, without answering, on the DATA of these message numbers
    # (1-based, counted over the server's life), after keeping the message or not.
    drop_on_data: set[int] = field(default_factory=set)
    keep_dropped: bool = True  # whether a message whose reply was lost was kept
    data_delay: float = 0.0  # seconds to wait before answering each DATA
    # Called with the message number before answering DATA (e.g. to kill a sender).
    on_data: Callable[[int], None] | None = None


class _Recorder:
    def __init__(self, server: RecordingServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        with self.server.lock:
            replies = self.server.script.rcpt_replies.get(address)
            reply = replies.pop(0) if replies else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        script = self.server.script
        with self.server.lock:
            self.server.data_commands += 1
            number = self.server.data_commands
        if script.on_data is not None:
            script.on_data(number)
        if script.data_delay:
            await asyncio.sleep(script.data_delay)
        content = envelope.original_content or envelope.content
        received = Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content))
        if number in script.drop_on_data:
            if script.keep_dropped:
                self._keep(received)
            server.transport.close()  # the client never hears back
            return "421 closing"  # not delivered: the transport is gone
        self._keep(received)
        return "250 OK"

    def _keep(self, received: Received) -> None:
        with self.server.lock:
            self.server.received.append(received)


class RecordingServer:
    """``with RecordingServer() as smtp:`` ... ``smtp.port``, ``smtp.received``."""

    def __init__(self, *, users: dict[str, str] | None = None) -> None:
        self.lock = threading.Lock()
        self.script = Script()
        self.received: list[Received] = []
        self.data_commands = 0
        kwargs: dict[str, Any] = {}
        if users is not None:
            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                             auth_data: Any) -> AuthResult:
                ok = (isinstance(auth_data, LoginPassword)
                      and users.get(auth_data.login.decode()) == auth_data.password.decode())
                return AuthResult(success=ok, handled=False)  # the server answers 235/535
            # AUTH offered over plain text (loopback tests only); not "required", which
            # aiosmtpd warns about without TLS: the client logs in because it is told to.
            kwargs = {"authenticator": authenticate, "auth_require_tls": False}
        self._controller = LoopbackController(_Recorder(self), hostname="127.0.0.1", port=0,
                                               **kwargs)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def by_recipient(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    def message_ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]

    def __enter__(self) -> RecordingServer:
        self._controller.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._controller.stop()
