"""What operators watch, in the Prometheus format (``prometheus-client``).

One registry per process (not the library's global one, so that importing the
engine in tests or scripts registers nothing by surprise). The sweeper, the
dispatcher and the web app record into it; ``exposition()`` renders it for
``/metrics`` on the operators' port (`kpi serve --metrics-port`). Recording is a few
arithmetic operations under a lock: no IO, nothing that can fail a sweep or a send.
The process also remembers when its last sweep ended, for the readiness check.
"""

from __future__ import annotations

import threading
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

SWEEP_SECONDS = Histogram(
    "kpi_sweep_duration_seconds", "Wall time of one deadline sweep.", registry=REGISTRY,
    buckets=(0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900))
SWEEP_LAG = Gauge(
    "kpi_sweep_lag_seconds", "How late the oldest deadline row fired by the last sweep "
    "was (0 when nothing was due).", registry=REGISTRY)
SWEEP_LAST_END = Gauge(
    "kpi_sweep_last_end_timestamp_seconds", "When this process's last sweep ended "
    "(Unix time).", registry=REGISTRY)
SWEEP_FAILURES = Counter(
    "kpi_sweep_failures", "Sweeps that raised (each is retried at the next interval).",
    registry=REGISTRY)
ROWS_CLAIMED = Counter(
    "kpi_rows_claimed", "Rows claimed, by kind: deadline rows fired by sweeps, outbox "
    "rows claimed by the dispatcher.", ["kind"], registry=REGISTRY)
MESSAGES = Counter(
    "kpi_messages", "Outbox messages by outcome: sent, retried (a transient failure), "
    "dead (a permanent one, parked for an admin).", ["outcome"], registry=REGISTRY)
REQUEST_SECONDS = Histogram(
    "kpi_request_duration_seconds", "Web request latency by route template and method.",
    ["route", "method"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

_lock = threading.Lock()
_last_sweep_end: datetime | None = None


def record_sweep(seconds: float, fired: int, lag_seconds: float, ended: datetime) -> None:
    """One sweep ended: its wall time, the deadline rows it fired, how late they were."""
    global _last_sweep_end  # noqa: PLW0603 (one process, one value: the readiness check reads it)
    SWEEP_SECONDS.observe(seconds)
    SWEEP_LAG.set(max(0.0, lag_seconds))
    SWEEP_LAST_END.set(ended.timestamp())
    ROWS_CLAIMED.labels("deadline").inc(fired)
    with _lock:
        _last_sweep_end = ended


def record_sweep_failure() -> None:
    SWEEP_FAILURES.inc()


def record_delivery(claimed: int, sent: int, retried: int, dead: int) -> None:
    """One drain of the outbox ended (notifications.dispatcher's DeliveryReport)."""
    ROWS_CLAIMED.labels("outbox").inc(claimed)
    MESSAGES.labels("sent").inc(sent)
    MESSAGES.labels("retried").inc(retried)
    MESSAGES.labels("dead").inc(dead)


def record_request(route: str, method: str, seconds: float) -> None:
    REQUEST_SECONDS.labels(route, method).observe(seconds)


def last_sweep_end() -> datetime | None:
    """When this process's last sweep ended; None when it runs no sweeper (or not yet)."""
    with _lock:
        return _last_sweep_end


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
