"""`kpi serve`: the long-running process. For now it runs the deadline sweeper.

It is a list of components, each started in turn and stopped in reverse order when
SIGTERM or SIGINT arrives (or when one fails to start). The web app and the mail
dispatcher join the list as components of their own: a starter returns something
with ``stop()``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Protocol

import click

from workflow.cli.main import Context, main, pass_context
from workflow.scheduler import start_sweeper

log = logging.getLogger("kpi.serve")


class Stoppable(Protocol):
    def stop(self) -> None: ...


Starter = tuple[str, Callable[[], Stoppable]]


def run_components(starters: Sequence[Starter], stop: threading.Event) -> None:
    """Start each component in order, wait for ``stop``, stop them in reverse order.

    If a component fails to start, the ones already running are stopped (in reverse)
    and the error goes up.
    """
    running: list[tuple[str, Stoppable]] = []
    try:
        for name, start in starters:
            running.append((name, start()))
            log.info("%s started", name)
        # A timeout keeps the main thread returning to Python so signal handlers run.
        while not stop.wait(0.5):
            pass
    finally:
        for name, component in reversed(running):
            try:
                component.stop()
                log.info("%s stopped", name)
            except Exception:  # stop the others whatever happens to one
                log.exception("%s did not stop cleanly", name)


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; returns a function restoring the old handlers."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    # One line per sweep is ours; the libraries' INFO lines (each transition, each
    # migration check, each job run) would bury it.
    for noisy in ("apscheduler", "transitions", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@main.command("serve")
@click.option("--sweep-interval", type=click.FloatRange(min=0.1), default=None,
              metavar="SECONDS", help="Seconds between deadline sweeps "
              "(default: the setting sweep_interval_seconds).")
@pass_context
def serve(ctx: Context, sweep_interval: float | None) -> None:
    """Run the deadline sweeper until SIGTERM or Ctrl-C; then stop cleanly.

    The sweeps run on the wall clock (`--now` does not apply); the first one runs at
    start-up and catches up whatever fell due while nothing was running.
    """
    configure_logging()
    svc = ctx.service()
    interval = sweep_interval or ctx.settings.sweep_interval_seconds
    components: list[Starter] = [
        ("deadline sweeper", lambda: start_sweeper(svc, interval)),
    ]
    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        run_components(components, stop)
    finally:
        restore()
        svc.store.dispose()
    log.info("kpi serve stopped")
