"""The deadline sweeper: APScheduler 3.x as a thin trigger for ``sweep.tick``.

Deadlines live in our tables, not in APScheduler: a job per evaluation would not
scale to two million evaluations and would live outside the transaction that
moves the evaluation on (shared/research/libraries.md, section 2). Each `kpi serve`
process runs ONE in-memory interval job that calls the sweep; the sweep finds what
is due in the database, so the job store is never shared between processes and a
restart loses nothing.

The job runs once at start-up (after downtime, the first sweep catches up) and then
every ``interval_seconds``. ``misfire_grace_time=None``: a run that was late (the
process was busy or suspended) still runs; ``coalesce=True``: several late runs
become one; ``max_instances=1``: a sweep never overlaps the previous one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from workflow import metrics
from workflow.clock import utc_now
from workflow.service.core import Service
from workflow.service.health import oldest_due_deadline
from workflow.service.sweep import SweepReport, tick

log = logging.getLogger("kpi.scheduler")
SWEEP_JOB_ID = "kpi-deadline-sweep"


@dataclass
class SweeperHandle:
    """A running sweeper; ``stop()`` lets a sweep in progress finish, then stops."""

    scheduler: Any  # apscheduler BackgroundScheduler (untyped package)
    interval_seconds: float

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def stop(self, wait: bool = True) -> None:
        """Stop the schedule; with ``wait`` the sweep in progress finishes its transaction."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
            log.info("sweeper stopped")


def sweep_once(svc: Service, clock: Callable[[], datetime] = utc_now) -> SweepReport | None:
    """One scheduled sweep. A failure is logged and the next run tries again: nothing is
    lost, the rows it did not mark stay due."""
    started = time.perf_counter()
    try:
        now = clock()
        # How late the oldest due row is, read before the sweep fires it (the lag
        # operators alert on; one probe of the pending-deadline index).
        oldest = oldest_due_deadline(svc, now)
        report = tick(svc, now)
    except Exception:  # the schedule must outlive one bad sweep (a locked database...)
        metrics.record_sweep_failure()
        log.exception("sweep failed; it is retried at the next interval")
        return None
    metrics.record_sweep(time.perf_counter() - started, sum(report.fired.values()),
                         (now - oldest).total_seconds() if oldest else 0.0, utc_now())
    return report


def start_sweeper(svc: Service, interval_seconds: float,
                  clock: Callable[[], datetime] = utc_now) -> SweeperHandle:
    """Start sweeping every ``interval_seconds`` in a background thread; returns the handle.

    ``clock`` gives the sweep's "now" (tests pass a fake one; the server the wall clock).
    """
    if interval_seconds <= 0:
        raise ValueError(f"sweep interval must be positive, got {interval_seconds}")
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        sweep_once, "interval", args=[svc, clock], seconds=interval_seconds,
        id=SWEEP_JOB_ID, name="deadline sweep", replace_existing=True,
        misfire_grace_time=None, coalesce=True, max_instances=1,
        next_run_time=utc_now(),  # catch up at start-up, not one interval later
    )
    scheduler.start()
    log.info("sweeper started: every %s s on %s", interval_seconds, svc.store.safe_url)
    return SweeperHandle(scheduler, interval_seconds)
