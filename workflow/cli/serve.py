"""`kpi serve`: the long-running process: the web app, the deadline sweeper and the
mail dispatcher, or only some of them (``--role``).

It is a list of components, each started in turn and stopped in reverse order when
SIGTERM or SIGINT arrives (or when one fails to start): a starter returns something
with ``stop()``. At national scale several processes share one PostgreSQL database:
web processes behind a reverse proxy, and worker processes that claim due deadlines
and mail with SKIP LOCKED (README, "Running at scale").
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType
from typing import Any, Protocol

import click
from prometheus_client import start_http_server

from notifications.dispatcher import start_dispatcher
from workflow import metrics
from workflow.cli.main import Context, main, pass_context
from workflow.clock import utc_now
from workflow.errors import KpiError
from workflow.logformat import handler_for
from workflow.scheduler import start_sweeper
from workflow.service.core import Service

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
    # KPI_LOG_FORMAT=json: one JSON object a line, with the cycle, evaluation and
    # request ids (workflow/logformat.py); text otherwise.
    try:
        handler = handler_for(os.environ.get("KPI_LOG_FORMAT", "text").strip().lower())
    except ValueError as exc:
        raise KpiError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # One line per sweep is ours; the libraries' INFO lines (each transition, each
    # migration check, each job run) would bury it.
    for noisy in ("apscheduler", "transitions", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class WebServer:
    """uvicorn serving the web app in a thread, stopped like the other components."""

    def __init__(self, svc: Service, host: str, port: int) -> None:
        # Imported here: FastAPI and uvicorn take a second to import, and every other
        # `kpi` command (even `kpi --help`) would pay for them.
        import uvicorn  # noqa: PLC0415 (see above)

        from workflow.web import create_app  # noqa: PLC0415 (imports FastAPI)

        # In JSON mode uvicorn's own lines go through our root handler (one JSON object
        # a line, with the request id); otherwise uvicorn formats them as it always has.
        json_logs = os.environ.get("KPI_LOG_FORMAT", "").strip().lower() == "json"
        config = uvicorn.Config(create_app(svc), host=host, port=port, lifespan="off",
                                log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
                                log_level="info", proxy_headers=True, server_header=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="kpi-web", daemon=True)

    def start(self) -> WebServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():  # uvicorn gave up (port taken, bad host)
                raise KpiError(f"the web server could not start on {self.server.config.host}:"
                               f"{self.server.config.port}; see the log line above")
            self.thread.join(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class MetricsServer:
    """prometheus-client's own HTTP server for ``/metrics``, on the operators' port.

    Kept off the web app's port: the public port is what citizens' links reach, and
    the figures (queue depths, latencies by route) are for the monitoring network.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server: Any = None

    def start(self) -> MetricsServer:
        try:
            self.server, _thread = start_http_server(self.port, self.host,
                                                     registry=metrics.REGISTRY)
        except OSError as exc:
            raise KpiError(f"the metrics server could not start on {self.host}:{self.port} "
                           f"({exc.strerror}); choose another --metrics-port") from None
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


ROLES = ("all", "web", "worker")


def worker_components(svc: Service, sweep_interval: float, mail_interval: float,
                      clock: Callable[[], datetime] = utc_now) -> list[Starter]:
    """What a worker runs: the deadline sweeper and the mail dispatcher.

    Any number of workers share one PostgreSQL database: both claim their rows with
    SKIP LOCKED, so each deadline fires once and each message is sent once.
    """
    return [("deadline sweeper", lambda: start_sweeper(svc, sweep_interval, clock=clock)),
            ("mail dispatcher", lambda: start_dispatcher(svc, interval=mail_interval,
                                                         now=clock))]


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the web app listens on (put a reverse proxy in front).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--role", type=click.Choice(ROLES), default="all", show_default=True,
              help="web: only the web app; worker: only the deadline sweeper and the mail "
                   "dispatcher; all: everything in one process.")
@click.option("--sweep-interval", type=click.FloatRange(min=0.1), default=None,
              metavar="SECONDS", help="Seconds between deadline sweeps "
              "(default: the setting sweep_interval_seconds).")
@click.option("--mail-interval", type=click.FloatRange(min=0.1), default=None,
              metavar="SECONDS", help="Seconds between looks at the outbox "
              "(default: the setting mail_interval_seconds).")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              envvar="KPI_METRICS_PORT", help="Serve Prometheus metrics at /metrics on "
              "this port (its own port, never the web app's; default: no metrics server).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics server listens on.")
@pass_context
def serve(ctx: Context, host: str, port: int, role: str, sweep_interval: float | None,
          mail_interval: float | None, metrics_port: int | None, metrics_host: str) -> None:
    """Run the web app, the deadline sweeper and the mail dispatcher until SIGTERM.

    The sweeps run on the wall clock (`--now` does not apply); the first one runs at
    start-up and catches up whatever fell due while nothing was running.
    """
    configure_logging()
    svc = ctx.service()
    components: list[Starter] = []
    if role in ("all", "worker"):
        components += worker_components(
            svc, sweep_interval or ctx.settings.sweep_interval_seconds,
            mail_interval or ctx.settings.mail_interval_seconds)
    if role in ("all", "web"):
        components.append((f"web app on http://{host}:{port}",
                           lambda: WebServer(svc, host, port).start()))
    if metrics_port is not None:
        components.insert(0, (f"metrics on http://{metrics_host}:{metrics_port}/metrics",
                              lambda: MetricsServer(metrics_host, metrics_port).start()))
    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        run_components(components, stop)
    finally:
        restore()
        svc.store.dispose()
    log.info("kpi serve stopped")
