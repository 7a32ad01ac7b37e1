"""The demo's caught emails, as the demo page lists them.

Two sources behind one small function each, so the demo can use whichever it has:
``read_eml_folder`` reads messages saved as ``.eml`` files (what a mail catcher
writes) with the standard ``email`` package; ``outbox_messages`` shows the outbox
rows themselves, for a demo that does not send mail at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlalchemy import or_, select

from workflow.service.core import Service
from workflow.service.transition import OUTBOX

LINK = re.compile(r"https?://[^\s<>\"']+/t/[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class CaughtMail:
    id: str
    to: str
    subject: str
    sent_at: datetime | None
    text: str
    links: list[str] = field(default_factory=list)


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def read_eml(path: Path) -> CaughtMail:
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    text = _text_of(message)
    date = message.get("Date")
    return CaughtMail(id=path.stem, to=str(message.get("To", "")),
                      subject=str(message.get("Subject", "")),
                      sent_at=parsedate_to_datetime(str(date)) if date else None, text=text,
                      links=list(dict.fromkeys(LINK.findall(text))))


def read_eml_folder(folder: Path) -> list[CaughtMail]:
    """Every ``.eml`` file in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [read_eml(p) for p in files]


def outbox_messages(svc: Service, limit: int = 300, *, since: datetime | None = None,
                    also_to: str | None = None) -> list[CaughtMail]:
    """The outbox rows as messages (event, recipient, link), newest first; with ``since``
    only those queued from then on (and every one to ``also_to``)."""
    stmt = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(or_(OUTBOX.c.created_at >= since, OUTBOX.c.recipient_id == also_to))
    with svc.store.read() as session:
        rows = session.execute(stmt).all()
    out = []
    for r in rows:
        ctx = r.context or {}
        what = ctx.get("reviewee_name") or ctx.get("cycle_name") or ""
        link = ctx.get("action_url")
        lines = [f"{k}: {v}" for k, v in sorted(ctx.items())
                 if k not in ("action_url", "breakdown", "class_label") and v not in (None, "")]
        out.append(CaughtMail(id=str(r.id), to=f"{r.recipient_name} <{r.recipient_email}>",
                              subject=f"[{r.event}] {what}".strip(), sent_at=r.created_at,
                              text="\n".join(lines), links=[link] if link else []))
    return out
