"""Claiming outbox rows, and recording what became of them. Short transactions only:
nothing here waits on the network.

A claim takes the oldest due ``pending`` rows and leases them (``sending``,
``lease_until``, one more attempt) in one statement; on PostgreSQL the rows are
picked ``FOR UPDATE SKIP LOCKED``, so any number of dispatchers share the outbox
without blocking each other; on SQLite the write transaction (``BEGIN IMMEDIATE``)
serialises claims. Before claiming, rows whose lease has run out (their sender died)
go back to ``pending``, or become dead letters when they have used up their
attempts (a message that kills its sender every time must not loop for ever).

Sending is at least once: a sender killed after the SMTP server took a message but
before its row was marked ``sent`` leads to the message being sent again, with the
same Message-ID, so it can be recognised as the same message.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, case, or_, select, update

from workflow.service.core import Service
from workflow.service.notices import scrub_links
from workflow.store.tables import OUTBOX


class RowStatus(StrEnum):
    """The life of an outbox row."""

    PENDING = "pending"  # waits until available_at, then any dispatcher may claim it
    HELD = "held"  # a supervisor's per-item notice waiting for their daily digest
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"  # the SMTP server accepted it; its raw link token is gone
    FOLDED = "folded"  # went into a digest instead of being sent alone
    DEAD = "dead"  # failed for good: shown by `kpi status`, sent again by `kpi mail retry`


@dataclass(frozen=True)
class Claimed:
    """One leased row, with what the dispatcher needs to render and send it."""

    id: int
    event: str
    evaluation_id: int | None
    recipient_id: str | None
    recipient_email: str
    recipient_name: str
    locale: str
    timezone: str
    context: Mapping[str, Any]
    attempts: int
    message_id: str


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: pending again after a backoff; an attempt used
    DEAD = "dead"  # permanent, or out of attempts
    RELEASE = "release"  # never tried (server unreachable, bad credentials, stopping)


@dataclass(frozen=True)
class Result:
    row: Claimed
    outcome: Outcome
    error: str | None = None


def retry_delay(attempts: int, base: float, cap: float, rng: random.Random) -> timedelta:
    """Exponential backoff with jitter: half the step fixed, half random (so that a
    batch that failed together does not come back together)."""
    step = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=step / 2 + rng.uniform(0, step / 2))


def reap(svc: Service, now: datetime) -> int:
    """Give back rows whose sender's lease ran out; rows out of attempts die instead."""
    max_attempts = svc.settings.mail_max_attempts
    with svc.store.write() as session:
        result = session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.status == RowStatus.SENDING, OUTBOX.c.lease_until < now)
            .values(
                status=case((OUTBOX.c.attempts >= max_attempts, RowStatus.DEAD.value),
                            else_=RowStatus.PENDING.value),
                last_error=case(
                    (OUTBOX.c.attempts >= max_attempts,
                     f"its sender stopped during each of {max_attempts} attempts "
                     "(lease expired)"),
                    else_=OUTBOX.c.last_error),
                lease_until=None))
        return int(result.rowcount)  # type: ignore[attr-defined]


def claim(svc: Service, now: datetime, *, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` due pending rows, oldest first."""
    lease_until = now + timedelta(seconds=svc.settings.mail_lease_seconds)
    with svc.store.write() as session:
        due = (select(OUTBOX.c.id)
               .where(OUTBOX.c.status == RowStatus.PENDING, OUTBOX.c.available_at <= now)
               .order_by(OUTBOX.c.available_at, OUTBOX.c.id)
               .limit(limit)
               .with_for_update(skip_locked=True))
        rows = session.execute(
            update(OUTBOX).where(OUTBOX.c.id.in_(due))
            .values(status=RowStatus.SENDING.value, lease_until=lease_until,
                    attempts=OUTBOX.c.attempts + 1)
            .returning(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.evaluation_id,
                       OUTBOX.c.recipient_id, OUTBOX.c.recipient_email,
                       OUTBOX.c.recipient_name, OUTBOX.c.locale, OUTBOX.c.timezone,
                       OUTBOX.c.context, OUTBOX.c.attempts, OUTBOX.c.message_id,
                       OUTBOX.c.available_at)).all()
    rows = sorted(rows, key=lambda r: (r.available_at, r.id))
    return [Claimed(r.id, r.event, r.evaluation_id, r.recipient_id, r.recipient_email,
                    r.recipient_name, r.locale, r.timezone, dict(r.context or {}), r.attempts,
                    r.message_id) for r in rows]


def record(svc: Service, now: datetime, results: Sequence[Result], *,
           rng: random.Random | None = None) -> None:
    """Store what became of each claimed row, one statement per kind of outcome."""
    if not results:
        return
    rng = rng or random.Random()
    settings = svc.settings
    sent, retry, dead, release = [], [], [], []
    for r in results:
        if r.outcome is Outcome.SENT:
            sent.append({"_oid": r.row.id, "_ctx": scrub_links(r.row.context)})
        elif r.outcome is Outcome.RETRY and r.row.attempts >= settings.mail_max_attempts:
            dead.append({"_oid": r.row.id, "_err": _limit(
                f"{r.error} (gave up after {r.row.attempts} attempts)")})
        elif r.outcome is Outcome.RETRY:
            delay = retry_delay(r.row.attempts, settings.mail_retry_base_seconds,
                                settings.mail_retry_max_seconds, rng)
            retry.append({"_oid": r.row.id, "_err": _limit(r.error), "_at": now + delay})
        elif r.outcome is Outcome.DEAD:
            dead.append({"_oid": r.row.id, "_err": _limit(r.error)})
        else:
            release.append({"_oid": r.row.id, "_err": _limit(r.error)})
    row = OUTBOX.c.id == bindparam("_oid")
    leased = OUTBOX.c.status == RowStatus.SENDING
    with svc.store.write() as session:
        if sent:  # even if its lease ran out meanwhile: it did go out
            session.execute(update(OUTBOX).where(row, or_(  # IN () cannot executemany
                OUTBOX.c.status == RowStatus.SENDING, OUTBOX.c.status == RowStatus.PENDING))
                .values(status=RowStatus.SENT.value, sent_at=now, lease_until=None,
                        last_error=None, context=bindparam("_ctx")), sent)
        if retry:
            session.execute(update(OUTBOX).where(row, leased).values(
                status=RowStatus.PENDING.value, lease_until=None,
                available_at=bindparam("_at"), last_error=bindparam("_err")), retry)
        if dead:
            session.execute(update(OUTBOX).where(row, leased).values(
                status=RowStatus.DEAD.value, lease_until=None, last_error=bindparam("_err")),
                dead)
        if release:  # the attempt did not happen: give it back
            session.execute(update(OUTBOX).where(row, leased).values(
                status=RowStatus.PENDING.value, lease_until=None,
                attempts=OUTBOX.c.attempts - 1, last_error=bindparam("_err")), release)


def _limit(text: str | None) -> str | None:
    return None if text is None else text[:2000]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One outbox row as stored, for `kpi mail show` to render."""

    id: int
    event: str
    locale: str
    timezone: str
    recipient_id: str | None
    recipient_name: str
    recipient_email: str
    message_id: str
    status: str
    attempts: int
    context: Mapping[str, Any]  # the template's variables (links scrubbed once sent)


def row_for_preview(svc: Service, outbox_id: int) -> StoredMessage | None:
    """One outbox row as stored (for `kpi mail show`), or None when there is none."""
    with svc.store.read() as session:
        found = session.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id)).first()
    if found is None:
        return None
    row = found._mapping
    return StoredMessage(
        id=row["id"], event=row["event"], locale=row["locale"], timezone=row["timezone"],
        recipient_id=row["recipient_id"], recipient_name=row["recipient_name"],
        recipient_email=row["recipient_email"], message_id=row["message_id"],
        status=row["status"], attempts=row["attempts"], context=dict(row["context"] or {}))
