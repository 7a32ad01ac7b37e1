"""Many worker processes on one database: every deadline effect once, every email once.

Worker processes (`tests/integration/worker_main.py`: the sweeper and the dispatcher
of `kpi serve --role worker`) drive a whole cycle on a clock the test moves from one
due instant to the next: self-assessments missed (the phase moves on), peer input
closed, supervisors reminded, told it is overdue and escalated twice, scores given
(by the test, as the supervisors), the appeal window closed (finalised). An SMTP
server on loopback counts what arrives by Message-ID.

PostgreSQL: four processes, 900 evaluations. SQLite: three processes on one file,
700 evaluations (one writer at a time, BEGIN IMMEDIATE: nobody sees "database is
locked"). The clock is the only fake.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, or_, select

from notifications.catcher import LoopbackController
from tests.conftest import make_settings
from tests.scale import write_cycle, write_org
from tests.support import at
from workflow import sample
from workflow.domain import State, TimerStatus, Trigger
from workflow.service.core import Service, load_snapshots
from workflow.service.cycles import open_cycle
from workflow.service.notices import DIGEST_SETTLE
from workflow.service.org import import_org
from workflow.service.queries import verify_audit
from workflow.service.scoring_inputs import framework_of
from workflow.service.transition import plan, write
from workflow.settings import PROJECT_ROOT
from workflow.store.db import Store
from workflow.store.tables import AUDIT, DEADLINE, EVALUATION, OUTBOX

pytestmark = pytest.mark.slow
CYCLE_ID = "scale-2026-04"
OPENED = at("2026-05-02 10:00")
SCORE_AT = at("2026-05-20 09:00")  # after both escalation steps of supervisor scoring
FIRED = re.compile(r"kpi\.sweep: sweep: (\d+) deadline rows fired")
QUIET_TIMEOUT = 240.0  # seconds the workers may take for one instant's work


class MessageIdCounter:
    """aiosmtpd handler: counts the Message-IDs it accepts (and keeps nothing else)."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        message_id = str(self.parser.parsebytes(content)["Message-ID"])
        with self.lock:
            self.ids[message_id] += 1
        return "250 OK counted"


def set_clock(path: Path, instant: datetime) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(instant.isoformat(), encoding="ascii")
    os.replace(tmp, path)  # a worker reads the old instant or the new, never half


def outstanding(svc: Service, now: datetime) -> int:
    """Work due at ``now`` that no worker has finished: due deadline rows, due mail."""
    with svc.store.read() as s:
        timers = s.execute(select(func.count()).select_from(DEADLINE).where(
            DEADLINE.c.status == TimerStatus.PENDING.value,
            DEADLINE.c.fire_at <= now)).scalar_one()
        mail = s.execute(select(func.count()).select_from(OUTBOX).where(or_(
            (OUTBOX.c.status == "pending") & (OUTBOX.c.available_at <= now),
            (OUTBOX.c.status == "held") & (OUTBOX.c.available_at <= now - DIGEST_SETTLE),
            OUTBOX.c.status == "sending"))).scalar_one()
    return int(timers) + int(mail)


def next_instant(svc: Service) -> datetime | None:
    """The soonest instant anything is waiting for: a deadline, a mail, a digest."""
    with svc.store.read() as s:
        found = [
            s.execute(select(func.min(DEADLINE.c.fire_at))
                      .where(DEADLINE.c.status == TimerStatus.PENDING.value)).scalar_one(),
            s.execute(select(func.min(OUTBOX.c.available_at))
                      .where(OUTBOX.c.status == "pending")).scalar_one(),
        ]
        held = s.execute(select(func.min(OUTBOX.c.available_at))
                         .where(OUTBOX.c.status == "held")).scalar_one()
    if held is not None:
        found.append(held + DIGEST_SETTLE)
    return min((f for f in found if f is not None), default=None)


def score_everyone(svc: Service, now: datetime, chunk: int = 250) -> int:
    """Every supervisor scores their people (in transactions of ``chunk`` evaluations),
    the people first and their leaders after, as the service's own plan and write."""
    rng = random.Random(11)
    with svc.store.read() as s:
        rows = s.execute(select(EVALUATION.c.id, EVALUATION.c.is_leader)
                         .where(EVALUATION.c.cycle_id == CYCLE_ID,
                                EVALUATION.c.state == State.SUPERVISOR_SCORING.value)
                         .order_by(EVALUATION.c.is_leader, EVALUATION.c.id)).all()
    ids = [r.id for r in rows]
    for start in range(0, len(ids), chunk):
        with svc.store.write() as s:
            snaps = load_snapshots(svc, s, ids[start:start + chunk])
            changes = [plan(svc, s, snap, Trigger.SUBMIT_SCORE, snap.row.supervisor_id,
                            sample.score(framework_of(snap), rng, rng.uniform(0.6, 0.95)),
                            now=now) for snap in snaps.values()]
            write(svc, s, changes)
    return len(ids)


class Workers:
    """The worker processes, their logs, and the clock they share."""

    def __init__(self, url: str, smtp_port: int, tmp: Path, count: int) -> None:
        self.clock = tmp / "clock.txt"
        self.logs = [tmp / f"worker{i}.log" for i in range(count)]
        set_clock(self.clock, OPENED)
        self.procs = []
        for log in self.logs:
            with log.open("w") as err:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "tests.integration.worker_main", url,
                     str(smtp_port), str(self.clock)],
                    cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=err))

    def wait_quiet(self, svc: Service, now: datetime) -> None:
        deadline = time.monotonic() + QUIET_TIMEOUT
        while outstanding(svc, now):
            for proc, log in zip(self.procs, self.logs, strict=True):
                assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the workers did not finish {now} in time"
            time.sleep(0.2)

    def stop(self) -> list[str]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        codes = [proc.wait(timeout=60) for proc in self.procs]
        assert codes == [0] * len(codes), codes
        return [log.read_text() for log in self.logs]


def drive(svc: Service, workers: Workers) -> int:
    """Move the clock to each instant something waits for, until nothing does."""
    now, scored, steps = OPENED, False, 0
    while True:
        workers.wait_quiet(svc, now)
        nxt = next_instant(svc)
        if not scored and (nxt is None or nxt > SCORE_AT):
            now = SCORE_AT
            set_clock(workers.clock, now)
            workers.wait_quiet(svc, now)
            assert score_everyone(svc, now) > 0
            scored = True
            continue
        if nxt is None:
            return steps
        now = max(now, nxt)
        set_clock(workers.clock, now)
        steps += 1


@pytest.fixture
def smtp() -> Iterator[tuple[MessageIdCounter, int]]:
    counter = MessageIdCounter()
    controller = LoopbackController(counter, hostname="127.0.0.1", port=0)
    controller.start()  # type: ignore[no-untyped-call]
    try:
        yield counter, controller.port
    finally:
        controller.stop()  # type: ignore[no-untyped-call]


def run_cycle(svc: Service, tmp: Path, smtp: tuple[MessageIdCounter, int], people: int,
              processes: int) -> None:
    units = write_org(tmp / "org.csv", people)
    write_cycle(tmp / "cycle.yaml", units, CYCLE_ID)
    import_org(svc, tmp / "org.csv", now=at("2026-05-01 09:00"))
    started = time.monotonic()
    report = open_cycle(svc, tmp / "cycle.yaml", now=OPENED)
    opened = time.monotonic() - started
    assert report.evaluations == people
    counter, port = smtp
    workers = Workers(svc.store.url, port, tmp, processes)
    try:
        steps = drive(svc, workers)
    finally:
        logs = workers.stop()
    sys.stderr.write(f"\n{people} evaluations, {processes} workers: opened in {opened:.1f} s, "
                     f"whole cycle in {time.monotonic() - started:.1f} s, {steps} clock steps, "
                     f"{sum(counter.ids.values())} messages\n")
    check_every_effect_once(svc, counter, people)
    check_the_logs(logs, processes)


def check_every_effect_once(svc: Service, counter: MessageIdCounter, people: int) -> None:
    with svc.store.read() as s:
        states = Counter(s.execute(select(EVALUATION.c.state)).scalars())
        versions = dict(s.execute(select(EVALUATION.c.id, EVALUATION.c.version)).all())
        trail = Counter((r.evaluation_id, r.trigger) for r in s.execute(
            select(AUDIT.c.evaluation_id, AUDIT.c.trigger)
            .where(AUDIT.c.evaluation_id.is_not(None))))
        timers = Counter(s.execute(select(DEADLINE.c.status)).scalars())
        outbox = [r._mapping for r in s.execute(
            select(OUTBOX.c.evaluation_id, OUTBOX.c.event, OUTBOX.c.recipient_id,
                   OUTBOX.c.status, OUTBOX.c.message_id, OUTBOX.c.context))]
    assert states == {State.FINALISED.value: people}
    assert timers[TimerStatus.PENDING.value] == 0 and timers[TimerStatus.DONE.value] > 0
    # Each change of an evaluation moved its version by one and wrote one audit row:
    # a deadline fired twice, or a change written twice, would show here.
    for eid, version in versions.items():
        changes = sum(n for (e, trigger), n in trail.items()
                      if e == eid and trigger not in ("open", "unit_results_stale"))
        assert version == 1 + changes, (eid, version, changes)
    for trigger in ("open", "self_assessment_missed", "submit_score", "appeal_window_closed"):
        assert sorted(n for (_, t), n in trail.items() if t == trigger) == [1] * people, trigger
    closed = [n for (_, t), n in trail.items() if t == "peer_input_closed"]
    assert closed and set(closed) == {1}  # everyone with a peer, once
    assert sorted(n for (_, t), n in trail.items() if t == "escalate") == [2] * people
    # One notice per evaluation, event, recipient, phase and step of the ladder (and
    # per recomputation of a leader's result, each with its own reason).
    notices = Counter((r["evaluation_id"], r["event"], r["recipient_id"],
                       *((r["context"] or {}).get(k) for k in
                         ("state", "timer_seq", "escalation_level", "reason")))
                      for r in outbox
                      if r["event"] != "digest")  # a digest a day per person, keyed so
    assert [k for k, n in notices.items() if n > 1] == []
    events = Counter(r["event"] for r in outbox)
    for event in ("reminder", "escalation", "self_assessment_missed", "result"):
        assert events[event] >= people // 2, events
    # Every message went out exactly once: what the server counted is what was sent.
    statuses = Counter(r["status"] for r in outbox)
    assert set(statuses) <= {"sent", "folded"}, statuses
    sent = Counter(r["message_id"] for r in outbox if r["status"] == "sent")
    assert max(counter.ids.values()) == 1, counter.ids.most_common(3)
    assert counter.ids == sent
    assert verify_audit(svc).ok


def check_the_logs(logs: list[str], processes: int) -> None:
    swept = 0
    for text in logs:
        for bad in ("deadlock", "database is locked", "Traceback", "sweep failed",
                    "dispatcher failed", "could not serialize"):
            assert bad not in text, text[-3000:]
        assert "deadline sweeper stopped" in text and "mail dispatcher stopped" in text
        swept += any(int(n) > 0 for n in FIRED.findall(text))
    assert swept >= 2, "the sweeping was not shared between the processes"


@pytest.mark.postgres
def test_four_workers_on_postgresql_run_900_evaluations_with_each_effect_once(
        pg_database: str, tmp_path: Path, smtp: tuple[MessageIdCounter, int]) -> None:
    svc = Service(Store(pg_database), make_settings(pg_database))
    try:
        run_cycle(svc, tmp_path, smtp, people=900, processes=4)
    finally:
        svc.store.dispose()


def test_three_workers_on_one_sqlite_file_run_700_evaluations_with_each_effect_once(
        svc: Service, tmp_path: Path, smtp: tuple[MessageIdCounter, int]) -> None:
    run_cycle(svc, tmp_path, smtp, people=700, processes=3)
