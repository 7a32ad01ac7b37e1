"""The dispatcher: fold digests, claim a batch, render, send on one connection, record.

``send_due(svc)`` drains what is due once (`kpi mail send`); ``start_dispatcher(svc)``
runs it continuously in a thread of its own (`kpi serve`) until ``handle.stop()``.

A batch is claimed in one short transaction, rendered and sent with no transaction
open, and its outcomes recorded in another. The connection opened for a batch is
reused for the next while the outbox has more, and closed when it is empty. A batch
stops early, giving its unsent rows back untried, when the server cannot be reached,
when the settings are wrong (an alert: no message burns attempts on a bad
password), when the dispatcher is asked to stop, and before its lease could run out
(so another dispatcher never sends what this one still holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from notifications.compose import BadAddress, Sender, compose
from notifications.outbox import Claimed, Outcome, Result, claim, due_count, reap, record
from notifications.render import RenderError, render
from notifications.sender import (
    ConnectFailed,
    Misconfigured,
    SendResult,
    SendStatus,
    SmtpConnection,
)
from workflow import metrics
from workflow.clock import utc_now
from workflow.errors import DeliveryError
from workflow.progress import SILENT, Progress, Remaining
from workflow.service.core import Service
from workflow.service.notices import fold_digests
from workflow.service.resend import requeue_dead_letters

T = TypeVar("T")

log = logging.getLogger("kpi.mail")

MAX_RECONNECTS_PER_BATCH = 3
LOOKAHEAD = 2  # messages rendered ahead of the one being sent


@dataclass
class DeliveryReport:
    """What one drain did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0  # transient failures: pending again after a backoff
    dead: int = 0  # new dead letters
    released: int = 0  # given back untried
    reaped: int = 0  # rows of a dead sender given back
    digests: int = 0  # digest mails queued
    connections: int = 0
    alert: str | None = None  # the settings are wrong: an admin must act
    unreachable: str | None = None  # the server could not be reached
    errors: list[str] = field(default_factory=list)  # one line per failed message

    def summary(self) -> str:
        text = (f"mail: {self.sent} sent, {self.retried} to retry later, {self.dead} dead "
                f"letters, {self.released} given back untried; {self.digests} digests "
                f"queued; {self.connections} SMTP connections")
        if self.reaped:
            text += f"; {self.reaped} rows of a stopped sender taken back"
        return text


class _Leased:
    """How many rows a claim took from the queue (those dropped or folded at the claim
    among them)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, count: int) -> None:
        self.count = count


@dataclass(frozen=True)
class _Prepared:
    row: Claimed
    data: bytes | None
    problem: str | None


class Dispatcher:
    """Drains the outbox of one service; one instance per thread or command."""

    def __init__(self, svc: Service, *, now: Callable[[], datetime] = utc_now,
                 rng: random.Random | None = None) -> None:
        self.svc = svc
        self.settings = svc.settings
        self.sender = Sender.parse(svc.settings.mail_from)
        self.now = now
        self.rng = rng or random.Random()

    async def drain(self, *, stop: asyncio.Event | None = None,
                    max_batches: int | None = None,
                    progress: Progress = SILENT) -> DeliveryReport:
        """Send everything due now, batch after batch, over one reused connection;
        ``progress`` hears of the messages taken from the queue, a batch at a time."""
        report = DeliveryReport()
        conn = SmtpConnection(self.settings, self.sender)
        batches = 0
        messages: Remaining | None = None
        try:
            while not (stop and stop.is_set()) and (max_batches is None
                                                    or batches < max_batches):
                now = self.now()
                report.reaped += reap(self.svc, now)
                report.digests += fold_digests(self.svc, now).digests
                if messages is None:  # counted once the first digests are folded
                    messages = Remaining(progress, "messages",
                                         lambda: due_count(self.svc, self.now()))
                leased = _Leased()
                rows = claim(self.svc, now, limit=self.settings.mail_batch_size,
                             on_leased=leased)
                if not rows:
                    if leased.count:
                        messages.advance(leased.count)
                        continue  # a batch all dropped or folded (stale after downtime)
                    break
                batches += 1
                report.claimed += len(rows)
                results = await self._send_batch(conn, rows, now, report, stop)
                record(self.svc, now, results, rng=self.rng)
                messages.advance(leased.count)
                if report.alert or report.unreachable:
                    break
        finally:
            await conn.close()
            report.connections = conn.opened
            if messages is not None:
                messages.done()
        if report.alert:
            log.error("mail: %s", report.alert)
        elif report.unreachable:
            log.warning("mail: %s", report.unreachable)
        return report

    def _prepare(self, row: Claimed, now: datetime) -> _Prepared:
        """Render and compose one row; a row that cannot be made into mail is dead."""
        try:
            rendered = render(
                event=row.event, locale=row.locale, timezone=row.timezone,
                recipient_name=row.recipient_name, recipient_id=row.recipient_id,
                context=row.context, base_url=self.settings.base_url,
                templates_dir=self.settings.templates_dir, outbox_id=row.id)
            data = compose(rendered, sender=self.sender, to_name=row.recipient_name,
                           to_address=row.recipient_email, message_id=row.message_id,
                           date=now, locale=row.locale, event=row.event)
        except (RenderError, BadAddress, DeliveryError) as exc:
            return _Prepared(row, None, str(exc))
        return _Prepared(row, data, None)

    async def _send_batch(self, conn: SmtpConnection, rows: list[Claimed], now: datetime,
                          report: DeliveryReport, stop: asyncio.Event | None) -> list[Result]:
        results: list[Result] = []
        # Stop taking new messages well before the lease runs out (monotonic clock: the
        # dispatcher may run on simulated time).
        lease = self.settings.mail_lease_seconds
        deadline = time.monotonic() + lease - min(self.settings.smtp_send_timeout_seconds,
                                                  lease / 2)
        ahead: asyncio.Queue[_Prepared] = asyncio.Queue(maxsize=LOOKAHEAD)
        producer = asyncio.create_task(self._produce(rows, now, ahead))
        try:
            await self._consume(conn, rows, ahead, deadline, results, report, stop)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        return results

    async def _produce(self, rows: list[Claimed], now: datetime,
                       ahead: asyncio.Queue[_Prepared]) -> None:
        """Render the batch a message or two ahead of the sender: the rendering (CPU)
        then runs while the sender waits for the server's answers, not after them."""
        for row in rows:
            try:
                prepared = self._prepare(row, now)
            except Exception as exc:  # a bug, not the message: park it, never hang the batch
                log.exception("mail: rendering outbox row %s failed", row.id)
                prepared = _Prepared(row, None, f"internal error while rendering: "
                                                f"{type(exc).__name__}: {exc}")
            await ahead.put(prepared)
            await asyncio.sleep(0)

    async def _consume(self, conn: SmtpConnection, rows: list[Claimed],
                       ahead: asyncio.Queue[_Prepared], deadline: float,
                       results: list[Result], report: DeliveryReport,
                       stop: asyncio.Event | None) -> None:
        reconnects = 0
        for index, row in enumerate(rows):
            if (stop and stop.is_set()) or time.monotonic() > deadline:
                results += [Result(r, Outcome.RELEASE, "given back: the dispatcher stopped "
                                   "or its lease was ending") for r in rows[index:]]
                report.released += len(rows) - index
                break
            prepared = await ahead.get()
            assert prepared.row is row
            if prepared.data is None:
                results.append(Result(row, Outcome.DEAD, prepared.problem))
                report.dead += 1
                report.errors.append(f"outbox {row.id}: {prepared.problem}")
                continue
            if not conn.is_open:
                problem = await self._open(conn, reconnects, report)
                reconnects += 1
                if problem is not None:
                    results += [Result(r, Outcome.RELEASE, problem) for r in rows[index:]]
                    report.released += len(rows) - index
                    break
            outcome = await conn.send(row.recipient_email, prepared.data)
            results.append(self._result(row, outcome, report))
            if outcome.status is SendStatus.MISCONFIGURED:
                report.alert = outcome.error
                results += [Result(r, Outcome.RELEASE, outcome.error) for r in rows[index + 1:]]
                report.released += len(rows) - index - 1
                break
            if outcome.reconnect:
                await conn.close()

    async def _open(self, conn: SmtpConnection, reconnects: int,
                    report: DeliveryReport) -> str | None:
        if reconnects > MAX_RECONNECTS_PER_BATCH:
            report.unreachable = (f"the SMTP server {conn.where} dropped the connection "
                                  f"{reconnects} times in one batch; the rest waits")
            return report.unreachable
        try:
            await conn.open()
        except Misconfigured as exc:
            report.alert = str(exc)
            return report.alert
        except ConnectFailed as exc:
            report.unreachable = str(exc)
            return report.unreachable
        return None

    def _result(self, row: Claimed, outcome: SendResult, report: DeliveryReport) -> Result:
        if outcome.status is SendStatus.SENT:
            report.sent += 1
            return Result(row, Outcome.SENT)
        report.errors.append(f"outbox {row.id} to {row.recipient_email}: {outcome.error}")
        if outcome.status is SendStatus.TRANSIENT:
            if row.attempts >= self.settings.mail_max_attempts:
                report.dead += 1
            else:
                report.retried += 1
            return Result(row, Outcome.RETRY, outcome.error)
        if outcome.status is SendStatus.PERMANENT:
            report.dead += 1
            return Result(row, Outcome.DEAD, outcome.error)
        report.released += 1  # misconfigured: this one was not the message's fault
        return Result(row, Outcome.RELEASE, outcome.error)


# --- the edges' entry points ----------------------------------------------------------


def send_due(svc: Service, *, now: datetime | None = None,
             rng: random.Random | None = None, progress: Progress = SILENT) -> DeliveryReport:
    """Deliver what is due as of ``now`` once (`kpi mail send`), blocking until done;
    ``progress`` hears of the messages taken from the queue.

    Safe to call from a thread that already runs an event loop (a web request, a
    test harness driving a browser): the drain then runs on a thread of its own.
    """
    fixed = now
    dispatcher = Dispatcher(svc, now=(lambda: fixed) if fixed else utc_now, rng=rng)
    return run_blocking(lambda: dispatcher.drain(progress=progress))


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to completion from synchronous code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi-mail") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def retry_dead(svc: Service, *, now: datetime | None = None, ids: list[int] | None = None,
               actor_id: str = "cli") -> tuple[int, DeliveryReport]:
    """Make dead letters pending again (all, or ``ids``) and deliver them (`kpi mail retry`)."""
    when = now or utc_now()
    count = requeue_dead_letters(svc, ids, actor_id, now=when)
    return count, send_due(svc, now=now)


class DispatcherHandle:
    """A dispatcher running in its own thread; ``stop()`` ends it after the current
    message, giving back what it had claimed but not sent."""

    def __init__(self, svc: Service, interval: float, now: Callable[[], datetime]) -> None:
        self._dispatcher = Dispatcher(svc, now=now)  # a bad mail_from fails here, not later
        self._interval = interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self.last_report: DeliveryReport | None = None
        self.alert: str | None = None  # the last configuration problem, until one batch works
        self.thread = threading.Thread(target=self._main, name="kpi-mail-dispatcher",
                                       daemon=True)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        self._ready.set()
        dispatcher = self._dispatcher
        failures = 0
        while not self._stop.is_set():
            delay = self._interval
            try:
                report = await dispatcher.drain(stop=self._stop)
                self.last_report = report
                metrics.record_delivery(report.claimed, report.sent, report.retried,
                                        report.dead)
                self.alert = report.alert
                if report.alert or report.unreachable:
                    failures += 1  # back off from a server that is down or refusing us
                    step = min(300.0, self._interval * 2 ** failures)
                    delay = step / 2 + dispatcher.rng.uniform(0, step / 2)
                else:
                    failures = 0
            except Exception:  # keep running: the next round may work (logged)
                log.exception("mail: the dispatcher failed; it tries again")
            self._wake.clear()
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stop.wait()),
                                                asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()

    def start(self) -> DispatcherHandle:
        self.thread.start()
        self._ready.wait(10)
        return self

    def _signal(self, event: asyncio.Event | None) -> None:
        if self._loop is not None and event is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(event.set)

    def wake(self) -> None:
        """Look at the outbox now (after a change queued mail), not at the next interval."""
        self._signal(self._wake)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the message being sent, give back the rest, and end the thread."""
        self._signal(self._stop)
        self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()


def start_dispatcher(svc: Service, *, interval: float | None = None,
                     now: Callable[[], datetime] = utc_now) -> DispatcherHandle:
    """Run the dispatcher continuously in a background thread (for `kpi serve`)."""
    return DispatcherHandle(svc, interval if interval is not None
                            else svc.settings.mail_interval_seconds, now).start()
