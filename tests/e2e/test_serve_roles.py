"""`kpi serve --role worker` sweeps deadlines and sends the mail, and serves no page;
`--role web` serves the pages and neither sweeps nor sends (real processes, real SMTP)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifications.testing import RecordingServer
from tests.conftest import make_settings
from tests.e2e.test_cli_calendar import KPI
from tests.support import small_world
from workflow.domain import State
from workflow.service.core import Service
from workflow.store.db import Store
from workflow.store.tables import EVALUATION


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(url: str, smtp_port: int, log: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KPI_DATABASE_URL": url, "KPI_SMTP_PORT": str(smtp_port),
           "KPI_SECRET_KEY": "a-test-secret-of-some-length"}
    env.pop("KPI_NOW", None)
    with log.open("w") as err:
        return subprocess.Popen([KPI, "serve", *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=err, text=True)


def stop(proc: subprocess.Popen[str], log: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)  # reaped: no ResourceWarning lands on a later test
    return log.read_text()


@pytest.fixture
def opened(svc: Service) -> str:
    """The small world's cycle, opened in May 2026: today all of its deadlines are due."""
    small_world(svc)
    svc.store.dispose()
    return svc.store.url


def test_a_worker_sweeps_and_sends_and_serves_no_page(opened: str, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "worker.log"
    with RecordingServer() as smtp:
        proc = serve(opened, smtp.port, log, "--role", "worker", "--port", str(port),
                     "--sweep-interval", "0.5", "--mail-interval", "0.5")
        try:
            deadline = time.monotonic() + 60
            while len(smtp.received) < 10 and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            with pytest.raises(urllib.error.URLError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
        finally:
            output = stop(proc, log)
        received = len(smtp.received)
    assert received >= 10, output
    assert "deadline sweeper started" in output and "mail dispatcher started" in output
    assert "web app" not in output
    svc = Service(Store(opened), make_settings(opened))
    try:
        with svc.store.read() as s:
            moved = s.execute(select(func.count()).select_from(EVALUATION).where(
                EVALUATION.c.state != State.SELF_ASSESSMENT.value)).scalar_one()
    finally:
        svc.store.dispose()
    assert moved > 0  # the sweeper moved the missed self-assessments on
    assert "Traceback" not in output


def test_the_web_role_serves_pages_and_neither_sweeps_nor_sends(opened: str,
                                                                 tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "web.log"
    with RecordingServer() as smtp:
        proc = serve(opened, smtp.port, log, "--role", "web", "--port", str(port))
        try:
            deadline = time.monotonic() + 60
            while f"web app on http://127.0.0.1:{port} started" not in log.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as page:
                assert page.status == 200
            time.sleep(1.0)  # long enough for a sweep or a send, if one were running
        finally:
            output = stop(proc, log)
        assert smtp.received == []
    assert "sweeper" not in output and "dispatcher" not in output
