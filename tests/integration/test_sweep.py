"""`kpi tick` and the sweeper: each effect once, whoever sweeps and however late.

Idempotency (two ticks; two real processes on one SQLite file), catch-up after
downtime (every deadline once, in order; no stale reminder; no burst of overdue
notices), the APScheduler sweeper, and the pre-launch simulation checked against
what the sweep really queues.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.integration.test_deadlines import mails, make_world
from tests.support import CONFIG, at, sample_world
from workflow.domain import State, TimerKind, TimerStatus
from workflow.scheduler import start_sweeper, sweep_once
from workflow.service.core import Service
from workflow.service.cycles import load_for_open
from workflow.service.notices import fold_digests
from workflow.service.org import import_org
from workflow.service.queries import verify_audit
from workflow.service.simulate import simulate_cycle
from workflow.service.sweep import tick
from workflow.store.db import Store
from workflow.store.tables import AUDIT, DEADLINE, EVALUATION, OUTBOX

pytestmark = pytest.mark.both_stores  # the contract suite: SQLite and PostgreSQL

KPI = str(Path(sys.executable).with_name("kpi"))


def effects(svc: Service) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]],
                                   Counter[tuple[Any, ...]]]:
    """What the sweeps did: outbox rows, audit rows, deadline rows by kind and status."""
    with svc.store.read() as s:
        outbox = Counter(tuple(r) for r in s.execute(
            select(OUTBOX.c.event, OUTBOX.c.recipient_id, OUTBOX.c.evaluation_id)))
        audit = Counter(tuple(r) for r in s.execute(
            select(AUDIT.c.evaluation_id, AUDIT.c.trigger, AUDIT.c.from_state,
                   AUDIT.c.to_state, AUDIT.c.at)))
        deadlines = Counter(tuple(r) for r in s.execute(
            select(DEADLINE.c.evaluation_id, DEADLINE.c.kind, DEADLINE.c.seq,
                   DEADLINE.c.recipient_id, DEADLINE.c.fire_at, DEADLINE.c.status)))
    return outbox, audit, deadlines


def evaluations(svc: Service) -> dict[str, tuple[Any, ...]]:
    with svc.store.read() as s:
        return {r.reviewee_id: (r.state, r.phase_entered_at, r.due_at, r.escalation_level,
                                r.self_assessment_missing, r.peer_quorum_not_reached)
                for r in s.execute(select(EVALUATION))}


# --- idempotency ------------------------------------------------------------------------


def test_a_second_tick_at_the_same_time_does_nothing(svc: Service, tmp_path: Path) -> None:
    make_world(svc, tmp_path)
    first = tick(svc, at("2026-05-20 09:00"))
    assert sum(first.fired.values()) > 0 and first.emails > 0
    after_first = effects(svc)
    second = tick(svc, at("2026-05-20 09:00"))
    assert (sum(second.fired.values()), second.emails, second.skipped) == (0, 0, 0)
    assert effects(svc) == after_first


def run_tick(db: Path, now: str, *extra: str) -> subprocess.Popen[str]:
    # The same secret as make_settings: the audit chain is keyed with it.
    env = {**os.environ, "KPI_DATABASE_URL": f"sqlite:///{db}",
           "KPI_SECRET_KEY": "test-secret-key-0123456789"}
    return subprocess.Popen([KPI, "tick", "--now", now, *extra], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def open_service(db: Path) -> Service:
    url = f"sqlite:///{db}"
    return Service(Store(url), make_settings(url))


def fired(output: str) -> int:
    return int(output.split("sweep: ")[1].split(" deadline rows fired", maxsplit=1)[0])


@pytest.mark.slow
@pytest.mark.sqlite_only  # copies the SQLite file; PostgreSQL: tests/integration/test_workers.py
def test_two_processes_ticking_one_sqlite_file_at_once_have_each_effect_once(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    prepared = new_service("prepared.sqlite3")
    sample_world(prepared)  # 58 evaluations, every deadline of May ahead
    prepared.store.dispose()
    one, two = tmp_path / "one.sqlite3", tmp_path / "two.sqlite3"
    shutil.copy(tmp_path / "prepared.sqlite3", one)
    shutil.copy(tmp_path / "prepared.sqlite3", two)
    # Small batches: each process sweeps in many short transactions, interleaved.
    alone = run_tick(one, "2026-05-25T09:00", "--batch", "4")
    racing = [run_tick(two, "2026-05-25T09:00", "--batch", "4") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in (alone, *racing)]
    assert [p.returncode for p in (alone, *racing)] == [0, 0, 0], outputs
    reference, raced = open_service(one), open_service(two)
    assert fired(outputs[0][0]) > 100
    assert fired(outputs[1][0]) + fired(outputs[2][0]) == fired(outputs[0][0])
    ref_out, ref_audit, ref_deadlines = effects(reference)
    out, audit_rows, deadlines = effects(raced)
    assert out == ref_out
    assert audit_rows == ref_audit
    assert deadlines == ref_deadlines
    assert evaluations(raced) == evaluations(reference)
    assert verify_audit(raced).ok


# --- downtime ---------------------------------------------------------------------------


def hourly(start: str, end: str) -> Iterator[datetime]:
    now, stop = at(start), at(end)
    while now <= stop:
        yield now
        now += timedelta(hours=1)


def transitions_in_order(svc: Service) -> dict[int, list[tuple[str, Any]]]:
    with svc.store.read() as s:
        rows = s.execute(select(AUDIT.c.evaluation_id, AUDIT.c.trigger, AUDIT.c.reason)
                         .where(AUDIT.c.evaluation_id.is_not(None), AUDIT.c.actor_id == "system")
                         .order_by(AUDIT.c.seq)).all()
    out: dict[int, list[tuple[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.evaluation_id, []).append((r.trigger, r.reason))
    return out


def test_after_downtime_every_deadline_fires_once_in_order_as_if_never_down(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    always = make_world(new_service("always.sqlite3"), tmp_path / "a")
    down = make_world(new_service("down.sqlite3"), tmp_path / "b")
    for w in (always, down):
        w.submit_self("S1")
        w.answer_peers("S1")
    for now in hourly("2026-05-04 00:00", "2026-05-26 00:00"):
        tick(always.svc, now)
    report = tick(down.svc, at("2026-05-26 00:00"))  # down from before the first deadline
    assert evaluations(down.svc) == evaluations(always.svc)
    # The same deadlines fired, once each and in the same order (escalation steps too).
    assert transitions_in_order(down.svc) == transitions_in_order(always.svc)
    assert report.transitions == {"self_assessment_missed": 6, "peer_input_closed": 3}
    assert report.escalations == 2 * 7  # two steps for each of the seven in scoring
    # What was only worth saying at the time is not said late.
    assert mails(down.svc, "reminder") == []
    with down.svc.store.read() as s:
        stale = s.execute(select(func.count()).where(
            DEADLINE.c.kind == TimerKind.REMINDER.value,
            DEADLINE.c.status == TimerStatus.SKIPPED.value)).scalar_one()
    assert stale == len(mails(always.svc, "reminder"))
    # One overdue notice per scorer and evaluation at catch-up, not the missed series.
    late = Counter((m["recipient_id"], m["evaluation_id"]) for m in mails(down.svc, "overdue"))
    assert set(late.values()) == {1}
    assert len(mails(always.svc, "overdue")) > len(late)
    # Tasks of phases that opened and closed while down are not handed out: S1's peers
    # were asked when S1 submitted, the others' peers never were.
    s1 = down.ev("S1")
    assert {m["evaluation_id"] for m in mails(down.svc, "task_peer_input")} == {s1}
    assert len(mails(always.svc, "task_peer_input")) == 2 + 3 * 2


def test_a_stale_two_days_left_reminder_is_not_sent_after_downtime(
        svc: Service, tmp_path: Path) -> None:
    w = make_world(svc, tmp_path, cycle_edits={
        '  - {working_days_before: 1, at: "08:00"}':
            '  - {working_days_before: 2, at: "08:00"}\n'
            '  - {working_days_before: 0, at: "08:00"}'})
    s1 = w.ev("S1")
    with svc.store.read() as s:
        planned = s.execute(select(DEADLINE.c.seq, DEADLINE.c.fire_at).where(
            DEADLINE.c.evaluation_id == s1, DEADLINE.c.kind == "reminder")
            .order_by(DEADLINE.c.fire_at)).all()
    assert [tuple(p) for p in planned] == [(0, at("2026-05-05 08:00")),
                                           (1, at("2026-05-07 08:00"))]
    report = tick(svc, at("2026-05-07 09:00"))  # down on Tuesday and Wednesday
    sent = mails(svc, "reminder", s1)
    assert [(m["recipient_id"], m["context"]["timer_seq"]) for m in sent] == [("S1", 1)]
    assert report.skipped == len(w.ids())  # everyone's "2 days left"
    tick(svc, at("2026-05-07 18:00"))
    assert len(mails(svc, "reminder", s1)) == 1


# --- the APScheduler sweeper ----------------------------------------------------------------


def wait_until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_sweeper_sweeps_at_start_and_then_every_interval_until_stopped(
        svc: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    w = make_world(svc, tmp_path)
    calls: list[datetime] = []
    lock = threading.Lock()

    def clock() -> datetime:
        with lock:
            calls.append(at("2026-05-08 09:00"))
            return calls[-1]

    caplog.set_level(logging.INFO, logger="kpi")
    handle = start_sweeper(svc, 0.2, clock=clock)
    try:
        wait_until(lambda: len(calls) >= 3)
        assert handle.running
    finally:
        handle.stop()
    assert not handle.running
    count = len(calls)
    time.sleep(0.5)
    assert len(calls) == count  # stopped means stopped
    assert w.state("S1") is State.PEER_INPUT and w.state("A1") is State.SUPERVISOR_SCORING
    lines = [r.getMessage() for r in caplog.records if r.name == "kpi.sweep"]
    assert "transitions: self_assessment_missed 7;" in lines[0]
    assert lines[1].startswith("sweep: 0 deadline rows fired")


def test_a_failed_sweep_is_logged_and_the_next_one_runs(
        svc: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    w = make_world(svc, tmp_path)
    times = iter([None, at("2026-05-08 09:00")])

    def clock() -> datetime:
        value = next(times)
        if value is None:
            raise RuntimeError("the clock fell over")
        return value

    assert sweep_once(svc, clock) is None
    assert "sweep failed; it is retried at the next interval" in caplog.text
    report = sweep_once(svc, clock)
    assert report is not None and report.transitions
    assert w.state("S1") is State.PEER_INPUT


# --- the simulation is what the sweep does --------------------------------------------------


def outbox_days(svc: Service) -> Counter[tuple[str, str, str]]:
    with svc.store.read() as s:
        return Counter(
            (r.event, r.recipient_id, str(r.available_at.astimezone(ZoneInfo(r.timezone)).date()))
            for r in s.execute(select(OUTBOX.c.event, OUTBOX.c.recipient_id,
                                      OUTBOX.c.available_at, OUTBOX.c.timezone)))


def test_the_simulation_predicts_the_sweeps_emails_across_time_zones(
        svc: Service, tmp_path: Path) -> None:
    zones = {"S2": "Europe/Paris", "H1": "America/New_York", "UB1": "Asia/Tokyo"}
    w = make_world(svc, tmp_path, timezones=zones)
    # The simulation of the same file for the same organisation, as before launch.
    _, rules = load_for_open(svc, tmp_path / "cycle.yaml")
    with svc.store.read() as s:
        plan, sim = simulate_cycle(svc, s, rules, at("2026-05-02 10:00"))
    assert len(plan.evaluations) == len(w.ids())
    predicted = Counter((e.event, e.recipient_id, str(e.local_day)) for e in sim.emails)
    # Sweep at each instant something is due (as a sweep every minute would) and at
    # fixed times of day; the outbox rows carry the sweep's time, compared by local day.
    # The held notices are folded into digests just after their time, as the
    # dispatcher (running every minute) would.
    digest_times = {e.at + timedelta(minutes=6) for e in sim.emails if e.event == "digest"}
    times = {e.at for e in sim.emails} | {at(f"2026-05-{day:02d} {hour}")
                                          for day in range(2, 32)
                                          for hour in ("00:30", "12:00", "23:30")}
    for now in sorted(times | digest_times):
        tick(svc, now)
        if now in digest_times:
            fold_digests(svc, now)
    assert outbox_days(svc) == predicted
    assert any(e.held for e in sim.emails) and any(k[0] == "digest" for k in predicted)
    assert any(e.timezone == "America/New_York" for e in sim.emails)
    ends = {e.reviewee_id: (e.state, e.waiting_on) for e in sim.ends}
    assert ends["S1"] == (State.SUPERVISOR_SCORING, ("H1", "D1"))
    assert ends["D1"] == (State.SUPERVISOR_SCORING, ("UB1",))
    assert {w.state(p) for p in w.ids()} == {State.SUPERVISOR_SCORING}


def test_with_the_digest_off_the_simulation_and_the_sweep_send_every_notice_alone(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    svc = new_service(digest_enabled=False)
    make_world(svc, tmp_path)
    _, rules = load_for_open(svc, tmp_path / "cycle.yaml")
    with svc.store.read() as s:
        _, sim = simulate_cycle(svc, s, rules, at("2026-05-02 10:00"))
    assert not any(e.held for e in sim.emails)
    assert "digest" not in {e.event for e in sim.emails} and sim.delivered == sim.emails
    for now in sorted({e.at for e in sim.emails}):
        tick(svc, now)
    assert outbox_days(svc) == Counter((e.event, e.recipient_id, str(e.local_day))
                                       for e in sim.emails)
    with svc.store.read() as s:
        assert set(s.execute(select(OUTBOX.c.status)).scalars()) == {"pending"}


def test_the_simulation_of_the_sample_organisation_reads_the_database(svc: Service) -> None:
    import_org(svc, CONFIG / "organisation.csv", now=at("2026-05-01 09:00"))
    _, rules = load_for_open(svc, CONFIG / "cycles" / "sample-2026-04.yaml")
    with svc.store.read() as s:
        plan, sim = simulate_cycle(svc, s, rules, at("2026-05-02 10:00"))
    first = sim.emails[0]
    assert (first.event, first.at) == ("task_self_assessment", at("2026-05-04 08:00"))
    assert len({e.reviewee_id for e in sim.emails if e.event != "digest"}) == 58
    assert len(plan.evaluations) == 58
    assert all(end.waiting_on for end in sim.ends)
