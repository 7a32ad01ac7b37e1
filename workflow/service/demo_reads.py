"""What the two demos read (`kpi demo --narrated` and the live web demo), behind the
service so that neither holds a query of its own.

Each function opens its own read transaction and returns frozen records: the demos
play people's parts through the same ``fire`` as everyone else and only need to know
whose turn it is and which link to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from workflow.domain import State, TimerStatus
from workflow.scoring.model import Framework
from workflow.service.core import Service, load_snapshot
from workflow.service.scoring_inputs import framework_of
from workflow.store.tables import DEADLINE, EVALUATION, OUTBOX


def evaluation_ids(svc: Service, cycle_id: str, state: State | None = None) -> dict[str, int]:
    """The evaluations of ``cycle_id`` (only those in ``state`` if given), by reviewee."""
    stmt = select(EVALUATION.c.reviewee_id, EVALUATION.c.id).where(
        EVALUATION.c.cycle_id == cycle_id)
    if state is not None:
        stmt = stmt.where(EVALUATION.c.state == state.value)
    with svc.store.read() as session:
        return {r.reviewee_id: r.id for r in session.execute(stmt)}


@dataclass(frozen=True, slots=True)
class Turn:
    """Whose move it is on one evaluation, and the form they fill in."""

    evaluation_id: int
    state: State
    framework: Framework
    supervisor_id: str | None
    appeal_reviewer_id: str | None
    pending_peers: tuple[str, ...]  # peers asked who have not answered yet
    escalation_supervisors: tuple[str, ...]  # sorted; told after the escalation delay


def turn(svc: Service, evaluation_id: int) -> Turn:
    """Who may act on ``evaluation_id`` now; EvaluationNotFound when there is none."""
    with svc.store.read() as session:
        snap = load_snapshot(svc, session, evaluation_id, lock=False)
    return Turn(evaluation_id=snap.id, state=snap.state, framework=framework_of(snap),
                supervisor_id=snap.row.supervisor_id,
                appeal_reviewer_id=snap.row.appeal_reviewer_id,
                pending_peers=tuple(snap.pending_peers()),
                escalation_supervisors=tuple(sorted(snap.view.escalation_supervisors)))


def latest_link(svc: Service, person_id: str, event: str) -> str | None:
    """The action link of the newest ``event`` email queued for ``person_id``, if any
    (a sent row keeps no link, so read it before the dispatcher runs)."""
    stmt = (select(OUTBOX.c.context)
            .where(OUTBOX.c.recipient_id == person_id, OUTBOX.c.event == event)
            .order_by(OUTBOX.c.id.desc()))
    with svc.store.read() as session:
        for (context,) in session.execute(stmt):
            if context.get("action_url"):
                return str(context["action_url"])
    return None


def next_deadline(svc: Service, after: datetime) -> datetime | None:
    """The first pending timer that fires after ``after``, or None when none is left."""
    stmt = select(func.min(DEADLINE.c.fire_at)).where(
        DEADLINE.c.status == TimerStatus.PENDING.value, DEADLINE.c.fire_at > after)
    with svc.store.read() as session:
        value = session.execute(stmt).scalar()
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a cycle has come: evaluations by state, and the outbox's size."""

    by_state: tuple[tuple[str, int], ...]  # sorted by state
    outbox_rows: int


def progress(svc: Service, cycle_id: str) -> Progress:
    """The evaluations of ``cycle_id`` counted by state, and every outbox row."""
    with svc.store.read() as session:
        rows = session.execute(select(EVALUATION.c.state, func.count())
                               .where(EVALUATION.c.cycle_id == cycle_id)
                               .group_by(EVALUATION.c.state)).all()
        mails = session.execute(select(func.count()).select_from(OUTBOX)).scalar_one()
    return Progress(tuple(sorted((str(state), int(n)) for state, n in rows)), int(mails))


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """One outbox row as the demo's mail page shows it."""

    id: int
    event: str
    recipient_id: str | None
    recipient_name: str
    recipient_email: str
    message_id: str
    context: Mapping[str, Any]  # the template's variables, as queued
    created_at: datetime


def _since(stmt: Any, since: datetime | None, also_to: str | None) -> Any:
    if since is None:
        return stmt
    return stmt.where(or_(OUTBOX.c.created_at >= since, OUTBOX.c.recipient_id == also_to))


def queued_message_ids(svc: Service, *, since: datetime | None = None,
                       also_to: str | None = None) -> set[str]:
    """The Message-IDs of the outbox rows queued from ``since`` on and of every row to
    ``also_to`` (all rows without ``since``)."""
    with svc.store.read() as session:
        return set(session.execute(
            _since(select(OUTBOX.c.message_id), since, also_to)).scalars())


def queued_mail(svc: Service, limit: int = 300, *, since: datetime | None = None,
                also_to: str | None = None) -> list[QueuedMail]:
    """The newest ``limit`` outbox rows, newest first; with ``since`` only those queued
    from then on (and every one to ``also_to``)."""
    stmt = _since(select(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.recipient_id,
                         OUTBOX.c.recipient_name, OUTBOX.c.recipient_email,
                         OUTBOX.c.message_id, OUTBOX.c.context, OUTBOX.c.created_at),
                  since, also_to).order_by(OUTBOX.c.id.desc()).limit(limit)
    with svc.store.read() as session:
        rows = session.execute(stmt).all()
    return [QueuedMail(id=r.id, event=r.event, recipient_id=r.recipient_id,
                       recipient_name=r.recipient_name, recipient_email=r.recipient_email,
                       message_id=r.message_id, context=dict(r.context or {}),
                       created_at=r.created_at) for r in rows]
