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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update

from workflow.service.core import Service
from workflow.service.notices import scrub_links
from workflow.store.results import rows_matched
from workflow.store.tables import ASSIGNMENT, EVALUATION, OUTBOX, PERSON


class RowStatus(StrEnum):
    """The life of an outbox row."""

    PENDING = "pending"  # waits until available_at, then any dispatcher may claim it
    HELD = "held"  # a supervisor's per-item notice waiting for their daily digest
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"  # the SMTP server accepted it; its raw link token is gone
    FOLDED = "folded"  # went into a digest (or a higher escalation step) instead
    DROPPED = "dropped"  # its reason passed before it was sent (last_error says how)
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
        return rows_matched(result)


def due_count(svc: Service, now: datetime) -> int:
    """How many pending rows are due at ``now`` (the total of `kpi mail send`'s progress)."""
    with svc.store.read() as session:
        return int(session.execute(select(func.count()).select_from(OUTBOX).where(
            OUTBOX.c.status == RowStatus.PENDING, OUTBOX.c.available_at <= now)).scalar_one())


def claim(svc: Service, now: datetime, *, limit: int,
          on_leased: Callable[[int], None] | None = None) -> list[Claimed]:
    """Lease up to ``limit`` due pending rows, oldest first. ``on_leased`` hears how
    many rows left the queue (those dropped or folded at the claim among them)."""
    lease_until = now + timedelta(seconds=svc.settings.mail_lease_seconds)
    with svc.store.write() as session:
        due = (select(OUTBOX.c.id)
               .where(OUTBOX.c.status == RowStatus.PENDING, OUTBOX.c.available_at <= now)
               .order_by(OUTBOX.c.available_at, OUTBOX.c.id)
               .limit(limit)
               .with_for_update(skip_locked=True))
        leased = session.execute(
            update(OUTBOX).where(OUTBOX.c.id.in_(due))
            .values(status=RowStatus.SENDING.value, lease_until=lease_until,
                    attempts=OUTBOX.c.attempts + 1)
            .returning(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.evaluation_id,
                       OUTBOX.c.recipient_id, OUTBOX.c.recipient_email,
                       OUTBOX.c.recipient_name, OUTBOX.c.locale, OUTBOX.c.timezone,
                       OUTBOX.c.context, OUTBOX.c.attempts, OUTBOX.c.message_id,
                       OUTBOX.c.available_at, OUTBOX.c.last_error,
                       OUTBOX.c.created_at)).all()
        # Plain records: the guards below replace a row's context before it is sent.
        rows: list[Any] = [SimpleNamespace(**r._mapping) for r in leased]
        rows = _drop_stale(session, rows)
        current = _current_addresses(session, rows)
        rows = _fold_escalations(session, rows)
    if on_leased is not None:
        on_leased(len(leased))
    rows = sorted(rows, key=lambda r: (r.available_at, r.id))
    claimed = []
    for r in rows:
        email, name, locale = current.get(r.id, (r.recipient_email, r.recipient_name,
                                                 r.locale))
        claimed.append(Claimed(r.id, r.event, r.evaluation_id, r.recipient_id, email, name,
                               locale, r.timezone, dict(r.context or {}), r.attempts,
                               r.message_id))
    return claimed


# Mails that ask the recipient to act in the phase their row was written in.
PHASE_TASKS = frozenset({"task_self_assessment", "task_peer_input", "task_supervisor_scoring",
                         "task_appeal_review", "reminder"})


def _drop_stale(session: Any, rows: Sequence[Any]) -> list[Any]:
    """Drop the task mails whose reason passed while they waited; keep the rest.

    After downtime the first sweep both opens and closes phases, so a queued "your
    self-assessment is open, submit by 7 May" would arrive beside "you missed it".
    A task mail is dropped when its evaluation has left the phase it was written in,
    or (a peer's) when the task is done; when only the deadline moved (an extension)
    it is sent with the current due date. The reason is on the row.
    """
    ids = {r.evaluation_id for r in rows if r.event in PHASE_TASKS and r.evaluation_id}
    if not ids:
        return list(rows)
    now_at = {e.id: e for e in session.execute(select(
        EVALUATION.c.id, EVALUATION.c.state, EVALUATION.c.due_at).where(
            EVALUATION.c.id.in_(ids))).all()}
    answered = {(a.evaluation_id, a.person_id) for a in session.execute(select(
        ASSIGNMENT.c.evaluation_id, ASSIGNMENT.c.person_id).where(
            ASSIGNMENT.c.evaluation_id.in_(ids), ASSIGNMENT.c.role == "peer",
            ASSIGNMENT.c.status != "pending")).all()}
    dropped, moved, kept = [], [], []
    for r in rows:
        ev = now_at.get(r.evaluation_id) if r.event in PHASE_TASKS else None
        context = dict(r.context or {})
        written_in = context.get("state")
        if ev is None or not written_in:
            kept.append(r)
        elif ev.state != written_in:
            dropped.append({"_oid": r.id, "_err": f"dropped before sending: the evaluation "
                            f"left {written_in} (it is now {ev.state})"})
        elif r.event == "task_peer_input" and (r.evaluation_id, r.recipient_id) in answered:
            dropped.append({"_oid": r.id, "_err": "dropped before sending: the peer has "
                            "already answered"})
        else:
            due = ev.due_at.isoformat() if ev.due_at else None
            if context.get("due_at") and due and context["due_at"] != due:
                context["due_at"] = due
                moved.append({"_oid": r.id, "_ctx": context})
                r.context = context  # the row sent is the updated one
            kept.append(r)
    if dropped:
        session.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("_oid")).values(
            status=RowStatus.DROPPED.value, lease_until=None, last_error=bindparam("_err")),
            dropped)
    if moved:
        session.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("_oid")).values(
            context=bindparam("_ctx")), moved)
    return kept


def _fold_escalations(session: Any, rows: Sequence[Any]) -> list[Any]:
    """Escalation steps that reach one person about one evaluation at one instant are
    one message: the highest step is sent, the others are folded into it.

    After downtime the first sweep fires every step that fell due; when the evaluator
    has no supervisor, steps 1 and 2 both resolve to the admins, who would get two
    mails at once saying the same thing. Pending siblings not in this claim (cut off
    by its limit) take part too: folded into a claimed row, or, when one of them is
    the higher step, the claimed rows are folded into it and it goes out later.
    """
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        if r.event == "escalation" and r.recipient_id and r.evaluation_id is not None:
            groups.setdefault((r.recipient_id, r.evaluation_id, r.available_at), []).append(r)
    folded: dict[int, int] = {}  # outbox id -> the id it went into
    for (recipient, evaluation, due), members in groups.items():
        waiting = session.execute(select(OUTBOX.c.id, OUTBOX.c.context).where(
            OUTBOX.c.status == RowStatus.PENDING, OUTBOX.c.event == "escalation",
            OUTBOX.c.recipient_id == recipient, OUTBOX.c.evaluation_id == evaluation,
            OUTBOX.c.available_at == due)).all()
        if len(members) + len(waiting) < 2:
            continue
        # The highest step is kept; on a tie, the claimed row (it is about to go out).
        keep = max([*members, *waiting], key=lambda r: (_step(r), r in members))
        folded.update({m.id: keep.id for m in (*members, *waiting) if m.id != keep.id})
    if folded:
        session.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("_oid")).values(
            status=RowStatus.FOLDED.value, lease_until=None, last_error=bindparam("_err")),
            [{"_oid": oid, "_err": f"folded into outbox {into}: the same escalation "
              "reached the same person at the same time"} for oid, into in folded.items()])
    return [r for r in rows if r.id not in folded]


def _step(row: Any) -> int:
    return int((row.context or {}).get("escalation_level") or 0)


def _current_addresses(session: Any, rows: Sequence[Any]) -> dict[int, tuple[str, str, str]]:
    """The recipients' address, name and language as the organisation has them now,
    by outbox row id, for the rows whose recipient changed after the row was written.

    A row keeps the address it was written with; when HR corrects an address (a 550
    for a misspelt one) and re-imports, the retry and every message not yet sent go
    to the corrected address. The row is updated in the claim's transaction, so
    what was sent is on the row; the address that failed stays in ``last_error``.
    """
    ids = {r.recipient_id for r in rows if r.recipient_id}
    if not ids:
        return {}
    found = session.execute(select(PERSON.c.id, PERSON.c.email, PERSON.c.full_name,
                                   PERSON.c.locale, PERSON.c.updated_at)
                            .where(PERSON.c.id.in_(ids))).all()
    # Only people changed after the row was written: a row deliberately written in
    # another language or to another address than the person's (a copy, a test of
    # every template) is not the organisation's to correct.
    by_id = {p.id: p for p in found}
    people = {r.id: (p.email, p.full_name, p.locale) for r in rows
              if (p := by_id.get(r.recipient_id)) is not None and p.updated_at > r.created_at}
    changed = [{"_oid": r.id, "_email": people[r.id][0], "_name": people[r.id][1],
                "_locale": people[r.id][2],
                "_err": _limit(f"{r.last_error} (address was {r.recipient_email}; "
                               f"now {people[r.id][0]})" if r.last_error else None)}
               for r in rows if r.id in people
               and people[r.id] != (r.recipient_email, r.recipient_name, r.locale)]
    if changed:
        session.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("_oid")).values(
            recipient_email=bindparam("_email"), recipient_name=bindparam("_name"),
            locale=bindparam("_locale"), last_error=bindparam("_err")), changed)
    return people


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
