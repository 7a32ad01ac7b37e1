"""`kpi tick` and `kpi mail send` driving a cycle against a real SMTP server, and the
dispatcher that `kpi serve` runs in a thread."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from notifications.dispatcher import start_dispatcher
from notifications.testing import RecordingServer
from tests.support import DATA, at, small_world
from workflow.cli import main
from workflow.service.access import request_sign_in
from workflow.service.core import Service
from workflow.store.db import Store
from workflow.store.tables import OUTBOX

DAYS = ["2026-05-04T08:00", "2026-05-06T08:00", "2026-05-07T17:30", "2026-05-08T08:05",
        "2026-05-11T08:05", "2026-05-12T08:05", "2026-05-13T08:05", "2026-05-14T08:05",
        "2026-05-15T08:05", "2026-05-18T08:05", "2026-05-19T08:05", "2026-05-20T08:05"]


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def test_a_cycle_driven_by_kpi_tick_and_kpi_mail_send_delivers_every_email_once(
        tmp_path: Path, smtp: RecordingServer) -> None:
    url = f"sqlite:///{tmp_path / 'kpi.sqlite3'}"
    env = {"KPI_DATABASE_URL": url, "KPI_SMTP_PORT": str(smtp.port),
           "KPI_BASE_URL": "http://kpi.test"}
    runner = CliRunner()

    def kpi(*args: str) -> str:
        result = runner.invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    kpi("init")
    kpi("--now", "2026-05-01T09:00", "org", "import", str(DATA / "small_org.csv"))
    kpi("--now", "2026-05-02T10:00", "cycle", "open", str(DATA / "small_cycle.yaml"))
    sent = 0
    for day in DAYS:  # nobody acts: the clock does everything
        kpi("--now", day, "tick")
        out = kpi("--now", day, "mail", "send")
        sent += int(out.split("mail: ", 1)[1].split(" sent", 1)[0])
    store = Store(url)
    with store.read() as s:
        rows = [dict(r._mapping) for r in s.execute(select(OUTBOX))]
    store.dispose()
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) == {"sent", "folded"}, statuses  # nothing pending, nothing dead
    sent_ids = [r["message_id"] for r in rows if r["status"] == "sent"]
    received = smtp.message_ids()
    assert sorted(received) == sorted(sent_ids) and len(received) == sent  # each once
    # Each folded notice is listed in a digest that was sent (or was no longer pending).
    digests = {r["dedupe_key"] for r in rows if r["event"] == "digest" and r["status"] == "sent"}
    for r in rows:
        if r["status"] == "folded":
            assert r["context"]["digest"] in digests or r["context"]["omitted"]
    events = Counter(r["event"] for r in rows if r["status"] == "sent")
    assert {"task_self_assessment", "reminder", "self_assessment_missed", "digest",
            "escalation"} <= set(events)
    # The scoring notices of the late supervisors reached them through their digests.
    folded = Counter(r["event"] for r in rows if r["status"] == "folded")
    assert {"task_supervisor_scoring", "overdue"} <= set(folded)


def test_the_dispatcher_thread_sends_as_mail_arrives_and_stops_cleanly(
        new_service: Callable[..., Service], smtp: RecordingServer) -> None:
    svc = new_service(smtp_port=smtp.port)
    small_world(svc)
    now = at("2026-05-04 08:00")
    handle = start_dispatcher(svc, interval=30, now=lambda: now)
    try:
        wait_for(lambda: len(smtp.received) == 7)
        assert request_sign_in(svc, "hung@snv.example.gov.vn", now=now)
        handle.wake()  # no need to wait for the 30 s interval
        wait_for(lambda: len(smtp.received) == 8)
        assert handle.running and handle.alert is None
    finally:
        handle.stop()
    assert not handle.running
    with svc.store.read() as s:
        assert set(s.execute(select(OUTBOX.c.status)).scalars()) == {"sent"}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
