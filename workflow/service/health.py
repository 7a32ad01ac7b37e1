"""The readiness check: is this process fit to serve, and is the work flowing?

``readiness`` looks at the database (reachable, at the newest migration), the
deadline rows that fell due but have not fired, the outbox (waiting, dead letters)
and this process's last sweep. Only the database makes a process unready (a load
balancer should stop sending it requests); the rest are figures operators alert on
(README, "Running at scale"), reported beside the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from workflow import metrics
from workflow.errors import SchemaOutOfDate
from workflow.service.core import Service
from workflow.store.tables import DEADLINE, OUTBOX


@dataclass
class Readiness:
    """The verdict and the figures behind it."""

    ready: bool
    database: str  # "ok", or what is wrong and the fix
    checks: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "database": self.database, **self.checks}


def oldest_due_deadline(svc: Service, now: datetime) -> datetime | None:
    """The fire time of the oldest pending deadline row already due at ``now``.

    Reads the partial index on pending rows (fire_at, id): one index probe.
    """
    with svc.store.read() as s:
        oldest: datetime | None = s.execute(
            select(func.min(DEADLINE.c.fire_at)).where(
                DEADLINE.c.status == "pending", DEADLINE.c.fire_at <= now)).scalar_one()
    return oldest


def due_deadline_rows(svc: Service, now: datetime) -> int:
    """How many pending deadline rows are due at ``now`` (what a sweep has before it:
    the total of `kpi tick`'s progress). The same partial index, counted."""
    with svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(DEADLINE).where(
            DEADLINE.c.status == "pending", DEADLINE.c.fire_at <= now)).scalar_one())


def readiness(svc: Service, now: datetime) -> Readiness:
    """Check the database and gather the figures operators watch, as of ``now``."""
    try:
        with svc.store.read() as s:
            s.execute(text("SELECT 1"))
        svc.store.require_current_schema()
    except SchemaOutOfDate as exc:
        return Readiness(False, str(exc))
    except SQLAlchemyError as exc:
        return Readiness(False, f"the database cannot be reached: {type(exc).__name__}: "
                         f"{getattr(exc, 'orig', exc)}")
    oldest = oldest_due_deadline(svc, now)
    with svc.store.read() as s:
        by_status = dict(s.execute(select(OUTBOX.c.status, func.count())
                                   .group_by(OUTBOX.c.status)).all())
    last = metrics.last_sweep_end()
    checks: dict[str, Any] = {
        # Seconds since the oldest due deadline should have fired: the sweep's lag.
        "oldest_due_deadline": oldest.isoformat() if oldest else None,
        "oldest_due_deadline_age_seconds": round((now - oldest).total_seconds(), 1)
        if oldest else 0.0,
        "outbox_waiting": int(by_status.get("pending", 0)) + int(by_status.get("sending", 0)),
        "dead_letters": int(by_status.get("dead", 0)),
        # None in a process that runs no sweeper (`kpi serve --role web`).
        # (A sweep may end between reading ``now`` and here: never a negative age.)
        "last_sweep_age_seconds": max(0.0, round((now - last).total_seconds(), 1))
        if last else None,
    }
    return Readiness(True, "ok", checks)
