"""``kpi status`` and the dashboard's progress: counts by state and unit, overdue
items, the outbox and its dead letters.

Aggregated in SQL (GROUP BY), never row by row, so it answers as fast for a province
as for a unit. Light to import on purpose: SQLAlchemy Core on the read model's
clauses (workflow/store/readmodel.py), not the SQLModel tables, the scoring, the
calendar or the service's snapshots, so `kpi status` starts without them (it took
2.3 s of CPU; issue 15, bench/RESULTS.md). ``read_status`` is its composition root:
a store for the settings, the schema checked, one read, closed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, case, func, select

from workflow.clock import utc_now
from workflow.domain import OPEN_STATES, State
from workflow.errors import CycleNotFound
from workflow.service.rowtypes import DeadLetter, OverdueItem
from workflow.store.db import Store
from workflow.store.readmodel import CYCLE, EVALUATION, OUTBOX, PERSON, UNIT

if TYPE_CHECKING:
    from workflow.service.core import Service
    from workflow.settings import Settings

__all__ = ["CycleStatus", "Status", "read_status", "status"]


@dataclass
class CycleStatus:
    cycle_id: str
    name: str
    by_state: dict[str, int] = field(default_factory=dict)
    by_unit: dict[str, dict[str, int]] = field(default_factory=dict)  # unit -> state -> n
    unit_names: dict[str, str] = field(default_factory=dict)
    overdue: list[OverdueItem] = field(default_factory=list)
    overdue_count: int = 0
    flags: dict[str, int] = field(default_factory=dict)


@dataclass
class Status:
    cycles: list[CycleStatus]
    outbox: dict[str, int]
    dead_letters: list[DeadLetter]


def status(svc: Service, cycle_id: str | None = None, *, now: datetime | None = None,
           overdue_limit: int = 20, units: Collection[str] | None = None) -> Status:
    """Progress by state and unit, overdue items, and the outbox (dead letters first).

    ``units``: only the evaluations of these units (an admin of some agencies,
    workflow/service/admin_scope.py), their emails included; None: everything."""
    return _status(svc.store, cycle_id, now or utc_now(), overdue_limit, units)


def read_status(settings: Settings, cycle_id: str | None = None, *,
                now: datetime | None = None, overdue_limit: int = 20) -> Status:
    """``status`` from the settings alone, without building a Service (`kpi status`).

    SchemaOutOfDate before `kpi init`, CycleNotFound for an unknown ``cycle_id``."""
    store = Store(settings.database_url)
    try:
        store.require_current_schema()
        return _status(store, cycle_id, now or utc_now(), overdue_limit)
    finally:
        store.dispose()


def _status(store: Store, cycle_id: str | None, now: datetime, overdue_limit: int,
            only_units: Collection[str] | None = None) -> Status:
    in_units: tuple[Any, ...] = () if only_units is None else (
        EVALUATION.c.unit_id.in_(sorted(only_units)),)
    with store.read_connection() as conn:
        cycles_q = select(CYCLE.c.id, CYCLE.c.name).order_by(CYCLE.c.opened_at)
        if cycle_id:
            cycles_q = cycles_q.where(CYCLE.c.id == cycle_id)
        cycles = conn.execute(cycles_q).all()
        if cycle_id and not cycles:
            raise CycleNotFound(cycle_id)
        units = dict(conn.execute(select(UNIT.c.id, UNIT.c.name)).all())
        out: list[CycleStatus] = []
        for c in cycles:
            cs = CycleStatus(c.id, c.name)
            for unit_id, state, n in conn.execute(
                select(EVALUATION.c.unit_id, EVALUATION.c.state, func.count())
                .where(EVALUATION.c.cycle_id == c.id, *in_units)
                .group_by(EVALUATION.c.unit_id, EVALUATION.c.state)
            ):
                cs.by_unit.setdefault(unit_id, {})[state] = n
                cs.by_state[state] = cs.by_state.get(state, 0) + n
                cs.unit_names[unit_id] = units.get(unit_id, unit_id)
            cs.flags = _flag_sums(conn, c.id, in_units)
            overdue_filter = (EVALUATION.c.cycle_id == c.id, *in_units, EVALUATION.c.due_at < now,
                              EVALUATION.c.state.in_([s.value for s in OPEN_STATES]))
            cs.overdue_count = int(conn.execute(
                select(func.count()).select_from(EVALUATION).where(*overdue_filter)
            ).scalar_one())
            rows = conn.execute(
                select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.state,
                       EVALUATION.c.due_at, EVALUATION.c.supervisor_id,
                       EVALUATION.c.appeal_reviewer_id, EVALUATION.c.escalation_level)
                .where(*overdue_filter).order_by(EVALUATION.c.due_at).limit(overdue_limit)
            ).all()
            people = dict(conn.execute(
                select(PERSON.c.id, PERSON.c.full_name)
                .where(PERSON.c.id.in_({r.reviewee_id for r in rows}))).all()) if rows else {}
            cs.overdue = [OverdueItem(
                evaluation_id=r.id, reviewee_id=r.reviewee_id,
                reviewee_name=people.get(r.reviewee_id, r.reviewee_id),
                state=State(r.state), due_at=r.due_at, waiting_on=_waiting_on(r),
                escalation_level=r.escalation_level,
            ) for r in rows]
            out.append(cs)
        mail: Any = OUTBOX if only_units is None else OUTBOX.join(
            EVALUATION, EVALUATION.c.id == OUTBOX.c.evaluation_id)
        outbox: dict[str, int] = {str(k): int(n) for k, n in conn.execute(
            select(OUTBOX.c.status, func.count()).select_from(mail).where(*in_units)
            .group_by(OUTBOX.c.status))}
        # With the recipient's address as the organisation has it now: a retry goes
        # there (notifications/outbox.py), so an admin sees whether HR corrected it.
        dead = [DeadLetter(**r._mapping) for r in conn.execute(
            select(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.recipient_email, OUTBOX.c.attempts,
                   OUTBOX.c.last_error, OUTBOX.c.evaluation_id,
                   PERSON.c.email.label("current_email"))
            .select_from(mail.outerjoin(PERSON, PERSON.c.id == OUTBOX.c.recipient_id))
            .where(OUTBOX.c.status == "dead", *in_units).order_by(OUTBOX.c.id).limit(50))]
    return Status(out, outbox, dead)


def _flag_sums(conn: Connection, cycle_id: str, where: tuple[Any, ...] = ()
               ) -> dict[str, int]:
    names = ("self_assessment_missing", "peer_quorum_not_reached", "escalated", "extended",
             "reopened")
    cols = [func.sum(case((EVALUATION.c[n].is_(True), 1), else_=0)) for n in names]
    row = conn.execute(
        select(*cols).where(EVALUATION.c.cycle_id == cycle_id, *where)).one()
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}


def _waiting_on(row: Row[*tuple[Any, ...]]) -> str | None:
    state = State(row.state)
    who: str | None = None
    if state is State.SUPERVISOR_SCORING:
        who = row.supervisor_id
    elif state in (State.SELF_ASSESSMENT, State.APPEAL_WINDOW):
        who = row.reviewee_id
    elif state is State.APPEAL_REVIEW:
        who = row.appeal_reviewer_id
    return who
