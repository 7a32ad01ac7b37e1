"""A dispatcher process killed with SIGKILL in the middle of a batch, then started
again: every message is delivered, none is lost, and a message delivered twice
carries the same Message-ID both times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from notifications.testing import RecordingServer
from tests.support import sample_world
from workflow.service.core import Service
from workflow.store.tables import OUTBOX

KPI = str(Path(sys.executable).parent / "kpi")


def run_kpi(svc: Service, settings_file: Path, port: int, now: str
            ) -> subprocess.Popen[str]:
    env = {**os.environ, "KPI_DATABASE_URL": svc.store.url, "KPI_SETTINGS": str(settings_file),
           "KPI_SMTP_PORT": str(port), "KPI_BASE_URL": "http://kpi.test"}
    return subprocess.Popen([KPI, "--now", now, "mail", "send"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_dispatcher_killed_mid_batch_loses_nothing_when_started_again(
        new_service: Callable[..., Service], tmp_path: Path) -> None:
    svc = new_service()
    sample_world(svc)
    with svc.store.read() as s:
        expected = {r.message_id for r in s.execute(select(OUTBOX.c.message_id))}
    assert len(expected) > 40
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text("[mail]\nbatch_size = 25\nlease_seconds = 60\n", encoding="utf-8")
    with RecordingServer() as smtp:
        first: list[subprocess.Popen[str]] = []

        def kill_on_tenth(number: int) -> None:
            if number == 10:
                os.kill(first[0].pid, signal.SIGKILL)

        smtp.script.on_data = kill_on_tenth
        smtp.script.data_delay = 0.02  # leave time for the kill to land mid-batch
        first.append(run_kpi(svc, settings_file, smtp.port, "2026-05-04T08:00"))
        first[0].communicate(timeout=120)
        assert first[0].returncode == -signal.SIGKILL
        with svc.store.read() as s:
            leased = s.execute(select(OUTBOX.c.status)).scalars().all()
        assert Counter(leased)["sending"] == 25  # the batch it held, none marked sent
        assert len(smtp.received) >= 9  # the tenth may still be on its way in
        smtp.script.on_data = None
        smtp.script.data_delay = 0.0
        # Started again after the lease ran out: it takes the dead sender's rows back.
        again = run_kpi(svc, settings_file, smtp.port, "2026-05-04T08:02")
        out, _ = again.communicate(timeout=120)
        assert again.returncode == 0, out
        assert "rows of a stopped sender taken back" in out
        received = smtp.message_ids()
    with svc.store.read() as s:
        statuses = Counter(s.execute(select(OUTBOX.c.status)).scalars().all())
    assert statuses == {"sent": len(expected)}
    assert set(received) == expected  # every message delivered, none lost
    duplicates = {m for m, n in Counter(received).items() if n > 1}
    assert 1 <= len(duplicates) <= 25  # the killed batch's messages came twice
    # A duplicate is the same message: same Message-ID, same content but its Date.
    bodies: dict[str, set[bytes]] = {}
    for got in smtp.received:
        body = b"\r\n".join(line for line in got.data.split(b"\r\n")
                            if not line.startswith(b"Date: "))
        bodies.setdefault(got.message_id, set()).add(body)
    assert all(len(b) == 1 for b in bodies.values())
