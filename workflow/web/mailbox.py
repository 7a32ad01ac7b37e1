"""The demo's caught emails, as the demo page lists them.

Two sources behind one small function each, so the demo can use whichever it has:
``caught_messages`` reads what the demo's mail catcher received over SMTP;
``outbox_messages`` shows the outbox rows themselves, for tests that send no mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from notifications.catcher import list_caught, read_caught
from workflow.service import demo_reads
from workflow.service.core import Service

LINK = re.compile(r"https?://[^\s<>\"']+/t/[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class CaughtMail:
    id: str
    to: str
    subject: str
    sent_at: datetime | None
    text: str
    links: list[str] = field(default_factory=list)
    event: str | None = None  # the outbox's event, named on the page by the glossary


def caught_messages(svc: Service, folder: Path, *, since: datetime,
                    also_to: str | None = None) -> list[CaughtMail]:
    """The messages the demo's mail catcher kept in ``folder`` (read with
    ``notifications.catcher``), newest first: those queued from ``since`` on and every one
    to ``also_to``; the seeded crowd's older mail is left out by its Message-ID."""
    wanted = demo_reads.queued_message_ids(svc, since=since, also_to=also_to)
    out = []
    for summary in reversed(list_caught(folder)):
        if summary.message_id not in wanted:
            continue
        message = read_caught(folder, summary.id)
        date = parsedate_to_datetime(summary.date) if summary.date else None
        out.append(CaughtMail(id=summary.id, to=summary.to, subject=summary.subject,
                              sent_at=date, text=message.text,
                              links=list(dict.fromkeys(LINK.findall(message.text)))))
    return out


def outbox_messages(svc: Service, limit: int = 300, *, since: datetime | None = None,
                    also_to: str | None = None) -> list[CaughtMail]:
    """The outbox rows as messages (event, recipient, link), newest first; with ``since``
    only those queued from then on (and every one to ``also_to``)."""
    out = []
    for r in demo_reads.queued_mail(svc, limit, since=since, also_to=also_to):
        ctx = r.context
        what = ctx.get("reviewee_name") or ctx.get("cycle_name") or ""
        link = ctx.get("action_url")
        # Not rendered yet: the page names the event; the context's keys are ids, so only
        # the values a person gave or reads (names, reasons) are listed.
        lines = [str(v) for k, v in sorted(ctx.items())
                 if k in ("reviewee_name", "cycle_name", "reason", "reasons")
                 and v not in (None, "")]
        out.append(CaughtMail(id=str(r.id), to=f"{r.recipient_name} <{r.recipient_email}>",
                              subject=str(what), sent_at=r.created_at, event=r.event,
                              text="\n".join(lines), links=[link] if link else []))
    return out
