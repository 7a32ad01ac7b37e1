"""The demo's mail catcher: an SMTP server on loopback that keeps what it receives.

`kpi demo` starts one (``MailCatcher``), points the dispatcher at it, and every
message lands as one ``.eml`` file in the demo's folder, so the demo's emails can be
read with any mail client or by the web app (``list_caught``, ``read_caught``).
Each file is the message exactly as received, with ``X-Caught-*`` lines on top
naming the envelope (who it was really delivered to).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from workflow.errors import NotFound

_ID = re.compile(r"^\d{6}$")


class LoopbackController(Controller):
    """aiosmtpd's Controller on a port the OS picks (port 0): no race for a free port."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Keeper:
    """aiosmtpd handler: write each message to ``folder/NNNNNN.eml``, atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        existing = [int(p.stem) for p in folder.glob("*.eml") if _ID.match(p.stem)]
        self.next = max(existing, default=0) + 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        head = (f"X-Caught-Mail-From: {envelope.mail_from}\r\n"
                f"X-Caught-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n").encode("ascii",
                                                                                 "replace")
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        with self.lock:
            number, self.next = self.next, self.next + 1
        tmp = self.folder / f".{number:06d}.tmp"
        tmp.write_bytes(head + data)
        os.replace(tmp, self.folder / f"{number:06d}.eml")
        return "250 OK caught"


class MailCatcher:
    """An SMTP server on 127.0.0.1 keeping every message in ``folder``; a context manager."""

    def __init__(self, folder: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._controller = LoopbackController(_Keeper(self.folder), hostname=host, port=port)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> MailCatcher:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@dataclass(frozen=True)
class CaughtSummary:
    """One caught message as a list shows it."""

    id: str  # "000012": the file's name without .eml
    to: str
    envelope_to: str
    subject: str
    date: str
    message_id: str
    event: str
    size: int


@dataclass(frozen=True)
class CaughtMessage:
    summary: CaughtSummary
    text: str
    html: str
    raw: bytes


def _summary(path: Path, headers: Any) -> CaughtSummary:
    return CaughtSummary(
        id=path.stem, to=str(headers.get("To", "")),
        envelope_to=str(headers.get("X-Caught-Rcpt-To", "")),
        subject=str(headers.get("Subject", "")), date=str(headers.get("Date", "")),
        message_id=str(headers.get("Message-ID", "")),
        event=str(headers.get("X-KPI-Event", "")), size=path.stat().st_size)


def list_caught(folder: str | Path) -> list[CaughtSummary]:
    """Every message caught in ``folder``, oldest first (an empty list if none yet)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    parser = BytesHeaderParser(policy=policy.default)
    out = []
    for path in sorted(root.glob("*.eml")):
        if _ID.match(path.stem):
            with path.open("rb") as fh:
                out.append(_summary(path, parser.parse(fh)))
    return out


def read_caught(folder: str | Path, message_id: str) -> CaughtMessage:
    """One caught message with its text and HTML parts; NotFound for an unknown id."""
    if not _ID.match(message_id):
        raise NotFound(f"caught message {message_id!r}: ids are six digits, as listed")
    path = Path(folder) / f"{message_id}.eml"
    if not path.is_file():
        raise NotFound(f"no caught message {message_id} in {folder}")
    raw = path.read_bytes()
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    return CaughtMessage(
        _summary(path, msg),
        text_part.get_content() if text_part is not None else "",
        html_part.get_content() if html_part is not None else "",
        raw)
