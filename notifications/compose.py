"""Turning a rendered email into the bytes sent over SMTP.

The structure is always the same: ``multipart/alternative`` with a ``text/plain``
part first and a ``text/html`` part second (RFC 2046: the preferred part last), both
UTF-8 in base64. Headers carry a stable ``Message-ID`` (from the outbox row, so a
copy sent again after a crash can be recognised), ``Date``, ``Auto-Submitted:
auto-generated`` (RFC 3834: no auto-replies, no vacation notices), and non-ASCII text
(names, Vietnamese subjects) as RFC 2047 encoded words.

Why not ``email.message.EmailMessage``: building and serialising one costs 2-5 ms
on the machines measured (shared/research/libraries.md, section 6: the stdlib
``email`` package, not SMTP, is the bottleneck), more than the SMTP exchange
itself. Every encoding here is still the standard library's (``email.header``,
``email.utils``, ``base64``); only the fixed layout is written out, and the tests
parse every message back with the ``email`` package and check it has no defects.

Header injection: every value that reaches a header goes through ``one_line``
(control and line-separator characters become spaces) and is then encoded, so a
name like ``"Eve\\r\\nBcc: x@y"`` stays inside its own header. Addresses are checked
to be exactly one plain ``local@domain``; anything else is refused (``BadAddress``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from notifications.render import Rendered, one_line
from workflow.errors import ConfigError, DeliveryError

# A plain address: no display name, no comments, no spaces, no second address.
_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


class BadAddress(DeliveryError):
    """An address that cannot be put in an envelope or a header; never retried."""

    def __init__(self, address: str, why: str) -> None:
        self.address = address
        super().__init__(f"address {address!r} cannot be used: {why}")


@dataclass(frozen=True)
class Sender:
    """The From of every message, checked once when the dispatcher starts."""

    name: str
    address: str

    @classmethod
    def parse(cls, mail_from: str) -> Sender:
        name, address = parseaddr(mail_from)
        try:
            check_address(address)
        except BadAddress as exc:
            raise ConfigError(f"mail_from {mail_from!r} (KPI_MAIL_FROM): {exc}") from None
        return cls(one_line(name), address)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def check_address(address: str) -> str:
    """``address`` if it is one plain ``local@domain`` in ASCII; BadAddress otherwise."""
    if not address or len(address) > 320:
        raise BadAddress(address, "empty or longer than 320 characters")
    if not address.isascii():
        raise BadAddress(address, "non-ASCII addresses need SMTPUTF8, which is not used")
    if not _ADDR.match(address) or ".." in address:
        raise BadAddress(address, "not a single plain address like name@example.org")
    return address


def _header_text(value: str, name: str) -> str:
    """A header value on one line, RFC 2047-encoded when it is not plain ASCII."""
    text = one_line(value)
    if not text.isascii():
        return encoded_words(text, used=len(name) + 2)
    # Plain ASCII is folded at spaces (RFC 5322 2.2.3): unfolding gives it back whole.
    lines, line = [], ""
    width = 76 - len(name) - 2
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line, width = word, 75
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n ".join(lines)


def encoded_words(text: str, used: int = 0) -> str:
    """RFC 2047 "B" encoded words, never splitting a character, on lines of at most 76
    characters (``used``: what the header's name takes on the first), joined by CRLF +
    space: a folded continuation of the same header, never a new one.

    (email.header.Header does the same, several times slower: it measures every
    character; here the UTF-8 bytes are cut at the nearest character boundary.)
    """
    data = text.encode("utf-8")
    words: list[str] = []
    start, room = 0, _room(76 - used)
    while start < len(data):
        end = min(len(data), start + room)
        # Never cut inside a character: back up over UTF-8 continuation bytes.
        while end < len(data) and end > start + 1 and data[end] & 0xC0 == 0x80:
            end -= 1
        words.append(_word(data[start:end]))
        start, room = end, _room(76 - 1)  # a continuation line starts with one space
    return "\r\n ".join(words)


def _room(width: int) -> int:
    """Bytes of text that fit in one encoded word on ``width`` characters."""
    return max(6, (width - len("=?utf-8?b??=")) // 4 * 3)  # room for any one character


def _word(chunk: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?="


@lru_cache(maxsize=1024)  # the same sender every time, the same people often
def _mailbox(name: str, address: str) -> str:
    clean = one_line(name)
    if not clean:
        return address
    if clean.isascii():
        return formataddr((clean, address))  # quotes specials such as , ; < >
    words = _header_text(clean, "From")  # "From" and "To" leave the same room
    last = words.rsplit("\n", 1)[-1]
    # The address goes on a line of its own when it would make the last one too long.
    sep = " " if len(last) + len(address) + 3 <= 76 else "\r\n "
    return f"{words}{sep}<{address}>"


def _body(text: str) -> bytes:
    """CRLF line ends (the canonical form of text parts), UTF-8, base64 in 76-char lines."""
    canonical = "\r\n".join(text.splitlines()) + "\r\n"
    raw = canonical.encode("utf-8")
    # 57 bytes make one 76-character line (what base64.encodebytes does, minus its
    # Python-level line handling twice over).
    lines = b"".join(binascii.b2a_base64(raw[i:i + 57]) for i in range(0, len(raw), 57))
    return lines.replace(b"\n", b"\r\n")


def compose(rendered: Rendered, *, sender: Sender, to_name: str, to_address: str,
            message_id: str, date: datetime, locale: str, event: str) -> bytes:
    """The whole message as bytes, ready for ``SMTP.sendmail``."""
    check_address(to_address)
    if not re.fullmatch(r"<[!-;=?-~]+@[!-;=?-~]+>", message_id):
        raise DeliveryError(f"message id {message_id!r} is not <id@domain>")
    # A boundary cannot occur in base64 (no "_" in its alphabet); derived from the
    # Message-ID so that the same row always gives the same bytes but for the Date.
    boundary = "=_kpi_" + hashlib.sha256(message_id.encode("ascii")).hexdigest()[:20]
    headers = [
        f"From: {_mailbox(sender.name, sender.address)}",
        f"To: {_mailbox(to_name, to_address)}",
        f"Subject: {_header_text(rendered.subject, 'Subject')}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        "X-Auto-Response-Suppress: All",
        f"X-KPI-Event: {one_line(event)[:64]}",
        f"Content-Language: {one_line(locale)[:8]}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    head = "\r\n".join(headers).encode("ascii") + b"\r\n\r\n"
    sep = f"--{boundary}\r\n".encode("ascii")
    part = b"Content-Transfer-Encoding: base64\r\n\r\n"
    return b"".join((
        head,
        sep, b'Content-Type: text/plain; charset="utf-8"\r\n', part, _body(rendered.text),
        sep, b'Content-Type: text/html; charset="utf-8"\r\n', part, _body(rendered.html),
        f"--{boundary}--\r\n".encode("ascii"),
    ))
