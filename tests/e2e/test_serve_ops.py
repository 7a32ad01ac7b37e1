"""What operators watch, against a running `kpi serve` (issue 15, item 6): /readyz on
the web port, Prometheus metrics on the operators' own port, JSON log lines."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from notifications.testing import RecordingServer
from tests.e2e.test_serve_roles import free_port, opened, serve, stop

__all__ = ["opened"]  # the fixture, shared with test_serve_roles


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as page:
            return page.status, page.headers.get("Content-Type", ""), page.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def wait_for(log: Path, text: str, proc: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def metric(body: str, name: str) -> float:
    """The sum of every sample of ``name`` (all label sets) in an exposition."""
    values = [float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
              if line.startswith(name) and not line.startswith("#")
              and line[len(name)] in "{ "]
    assert values, f"no sample of {name} in:\n{body}"
    return sum(values)


def test_readiness_and_metrics_of_a_running_server(opened: str, tmp_path: Path) -> None:
    port, metrics_port, log = free_port(), free_port(), tmp_path / "serve.log"
    with RecordingServer() as smtp:
        proc = serve(opened, smtp.port, log, "--port", str(port), "--metrics-port",
                     str(metrics_port), "--sweep-interval", "0.5", "--mail-interval", "0.5")
        try:
            wait_for(log, f"web app on http://127.0.0.1:{port} started", proc)
            deadline = time.monotonic() + 60
            while len(smtp.received) < 5 and time.monotonic() < deadline:
                time.sleep(0.2)
            status, kind, body = get(f"http://127.0.0.1:{port}/readyz")
            assert status == 200 and kind.startswith("application/json"), body
            ready = json.loads(body)
            assert ready["ready"] is True and ready["database"] == "ok"
            # The sweeper has run in this process, and fired what was due.
            assert ready["last_sweep_age_seconds"] is not None
            assert 0 <= ready["last_sweep_age_seconds"] < 30
            assert ready["oldest_due_deadline_age_seconds"] < 30
            assert ready["dead_letters"] == 0
            assert isinstance(ready["outbox_waiting"], int)
            get(f"http://127.0.0.1:{port}/healthz")
            # Metrics are not on the public port...
            assert get(f"http://127.0.0.1:{port}/metrics")[0] == 404
            # ...but on the operators' one.
            status, kind, body = get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert status == 200 and kind.startswith("text/plain"), body
            assert metric(body, "kpi_sweep_duration_seconds_count") >= 1
            assert metric(body, "kpi_rows_claimed_total") > 0
            assert metric(body, "kpi_messages_total") >= len(smtp.received) > 0
            assert 'route="/readyz"' in body and 'route="/healthz"' in body
            assert "kpi_sweep_lag_seconds" in body
        finally:
            output = stop(proc, log)
    assert "Traceback" not in output


def test_readiness_says_when_the_database_is_not_migrated(opened: str, tmp_path: Path
                                                         ) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    with RecordingServer() as smtp:
        proc = serve(opened, smtp.port, log, "--role", "web", "--port", str(port))
        try:
            wait_for(log, "started", proc)
            assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
            # An older version's schema under a running process (a restore, a botched
            # rollback): the process stays up but says it is not ready, and why.
            with sqlite3.connect(opened.removeprefix("sqlite:///")) as conn:
                conn.execute("UPDATE alembic_version SET version_num = 'older'")
            status, _kind, body = get(f"http://127.0.0.1:{port}/readyz")
        finally:
            stop(proc, log)
    assert status == 503, body
    found = json.loads(body)
    assert found["ready"] is False and "kpi init" in found["database"], found


def test_json_logs_are_one_object_a_line(opened: str, tmp_path: Path) -> None:
    import os
    port, log = free_port(), tmp_path / "serve.log"
    os.environ["KPI_LOG_FORMAT"] = "json"
    try:
        with RecordingServer() as smtp:
            proc = serve(opened, smtp.port, log, "--role", "web", "--port", str(port))
            try:
                wait_for(log, "started", proc)
                get(f"http://127.0.0.1:{port}/healthz")
            finally:
                output = stop(proc, log)
    finally:
        del os.environ["KPI_LOG_FORMAT"]
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert any("web app on" in x["message"] for x in lines)
    # The access line of the request carries its request id.
    assert any(x["logger"] == "uvicorn.access" and x.get("request_id") for x in lines), lines
