"""Long commands show how far they have got (issue 15, item 7), run as real `kpi`
subprocesses on a generated organisation of 1,201 people and a cycle of 601 of them.

With stderr a pipe (a log, CI) each step writes plain lines whose ``+N`` add up to the
step's count, which is its total and what the command's own report says; with stderr
a terminal (a pseudo-terminal here) the bar is redrawn in place with ``\\r`` and ends
on the final count, the time and the rate. Small runs show nothing (the rest of the
suite reads their stderr as before)."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifications.testing import RecordingServer
from tests.scale import write_cycle, write_org
from tests.support import CONFIG, DATA

KPI = [sys.executable, "-m", "workflow.cli"]
PEOPLE = 1200  # in the organisation, besides the chair (1,201 rows)
CYCLE_UNITS = 12  # units of 50 in the cycle, besides the director: 601 evaluations

LINE = re.compile(r"^(?P<command>kpi [a-z ]+?): (?P<step>[a-z ]+?) (?P<done>done: )?"
                  r"(?P<count>[\d,]+)/(?P<total>[\d,]+) \(\+(?P<added>[\d,]+)\)"
                  r"(?: (?P<percent>\d+)%,| in (?P<seconds>[\d.]+) s,) (?P<rate>[\d,]+)/s$")


def number(text: str) -> int:
    return int(text.replace(",", ""))


@dataclass
class Step:
    counts: list[int]
    totals: list[int]
    added: list[int]
    finished: bool  # the last line is the step's "done:" line
    rate: int


def steps(stderr: str, command: str) -> dict[str, Step]:
    """The progress lines of ``command`` by step; every stderr line of it must parse."""
    found: dict[str, Step] = {}
    for line in stderr.splitlines():
        if not line.startswith(f"{command}:"):
            continue
        m = LINE.match(line)
        assert m is not None, f"not a progress line: {line!r}"
        step = found.setdefault(m["step"], Step([], [], [], False, 0))
        assert not step.finished, f"a line after the step ended: {line!r}"
        step.counts.append(number(m["count"]))
        step.totals.append(number(m["total"]))
        step.added.append(number(m["added"]))
        step.finished, step.rate = bool(m["done"]), number(m["rate"])
    return found


def check_step(step: Step, expected: int) -> None:
    """The lines add up to the count, which is the total and what the command did."""
    assert step.finished, step
    assert sum(step.added) == step.counts[-1] == step.totals[-1] == expected, step
    assert step.counts == sorted(step.counts), step  # never backwards
    assert step.rate > 0, step


def env_for(db: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KPI_DATABASE_URL": f"sqlite:///{db}", "KPI_CONFIG_DIR": str(CONFIG),
           "KPI_SECRET_KEY": "test-secret-key-0123456789", "KPI_BASE_URL": "http://kpi.test",
           **extra}
    env.pop("KPI_NOW", None)
    return env


def kpi(db: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*KPI, *args], capture_output=True, text=True,
                            env=env_for(db, **extra), cwd=db.parent, timeout=300, check=False)
    assert result.returncode == 0, f"kpi {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass
class Opened:
    db: Path
    copy: Path  # the database as opened, for a second run of the same commands
    imported: subprocess.CompletedProcess[str]
    opened: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Opened:
    where = tmp_path_factory.mktemp("progress")
    units = write_org(where / "org.csv", PEOPLE)
    write_cycle(where / "cycle.yaml", units[:CYCLE_UNITS])
    db = where / "kpi.sqlite3"
    kpi(db, "init")
    imported = kpi(db, "org", "import", str(where / "org.csv"))
    opened = kpi(db, "--now", "2026-05-02T10:00", "cycle", "open", str(where / "cycle.yaml"))
    copy = where / "opened.sqlite3"
    shutil.copy(db, copy)
    return Opened(db, copy, imported, opened)


@pytest.fixture
def smtp() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def counted(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


@pytest.mark.slow
def test_each_step_writes_lines_that_add_up_when_stderr_is_not_a_terminal(
        opened: Opened, smtp: RecordingServer, tmp_path: Path) -> None:
    db = opened.db
    # kpi org import: the rows checked, then the people written.
    assert "1201 added" in opened.imported.stdout
    found = steps(opened.imported.stderr, "kpi org import")
    assert set(found) == {"rows checked", "people written"}
    check_step(found["rows checked"], PEOPLE + 1)
    check_step(found["people written"], PEOPLE + 1)
    assert len(found["people written"].counts) > 2  # a line per tenth, not only the end
    # kpi cycle open: the people walked, each an evaluation here.
    assert "601 evaluations in self_assessment" in opened.opened.stdout
    check_step(steps(opened.opened.stderr, "kpi cycle open")["people"], 601)
    # kpi mail send, once the self-assessment opens: every message taken from the queue.
    sent = kpi(db, "--now", "2026-05-04T09:00", "mail", "send", KPI_SMTP_PORT=str(smtp.port))
    taken = counted(db, "select count(*) from outbox where status in ('sent', 'dropped', "
                        "'dead') or last_error like 'folded into outbox%'")
    assert taken >= 601
    check_step(steps(sent.stderr, "kpi mail send")["messages"], taken)
    assert f"mail: {len(smtp.message_ids())} sent" in sent.stdout
    # kpi tick, the day after the self-assessment's deadline: rows fired and skipped,
    # and those that fell due on the way (the next phase entered at the deadline).
    ticked = kpi(db, "tick", "--now", "2026-05-08T09:00", "--batch", "100")
    summary = re.search(r"sweep: (\d+) deadline rows fired .*; (\d+) skipped;", ticked.stdout)
    assert summary is not None, ticked.stdout
    rows = steps(ticked.stderr, "kpi tick")["deadline rows"]
    check_step(rows, int(summary[1]) + int(summary[2]))
    assert counted(db, "select count(*) from deadline where status != 'pending'") \
        == rows.counts[-1]
    # kpi report: the rows written.
    report = kpi(db, "report", "scale-2026-04", "--out", str(tmp_path / "r.csv"))
    assert "r.csv: 601 evaluations" in report.stdout
    check_step(steps(report.stderr, "kpi report")["evaluations"], 601)
    # kpi audit verify: the chain's rows.
    verified = kpi(db, "audit", "verify")
    chain = re.search(r"audit chain intact: (\d+) rows", verified.stdout)
    assert chain is not None, verified.stdout + verified.stderr
    check_step(steps(verified.stderr, "kpi audit verify")["audit rows"], int(chain[1]))


def run_on_a_terminal(db: Path, *args: str) -> tuple[str, str]:
    """Run `kpi ARGS` with stderr on a pseudo-terminal; its stdout and what the terminal got."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*KPI, *args], stdout=subprocess.PIPE, stderr=follower,
                               env=env_for(db), cwd=db.parent, text=True)
    os.close(follower)
    screen = b""
    while True:  # read until the child closes the terminal (EIO on Linux)
        ready, _, _ = select.select([leader], [], [], 120)
        assert ready, "no output from kpi for 120 s"
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 0, (stdout, screen)
    return stdout, screen.decode("utf-8")


BAR = re.compile(r"kpi tick: deadline rows \[(?P<bar>[#.]{30})\] (?P<count>[\d,]+)/"
                 r"(?P<total>[\d,]+) +(?P<percent>\d+)% (?:in (?P<seconds>[\d.]+) s, )?"
                 r"(?P<rate>[\d,]+)/s")


@pytest.mark.slow
def test_a_terminal_gets_a_bar_redrawn_in_place_ending_on_the_counts_and_rate(
        opened: Opened) -> None:
    db = opened.copy.with_name("terminal.sqlite3")
    shutil.copy(opened.copy, db)
    stdout, screen = run_on_a_terminal(db, "tick", "--now", "2026-05-08T09:00",
                                       "--batch", "100")
    summary = re.search(r"sweep: (\d+) deadline rows fired .*; (\d+) skipped;", stdout)
    assert summary is not None, stdout
    handled = int(summary[1]) + int(summary[2])
    # The terminal turns "\n" into "\r\n"; the bar's own drawings start with a bare "\r".
    drawings = [d.rstrip() for d in screen.replace("\r\n", "\n").split("\r") if d.strip()]
    assert len(drawings) >= 2, screen  # drawn, then redrawn in place
    assert screen.count("\n") == 1 and screen.endswith("\n"), screen  # one line in the end
    bars = [BAR.fullmatch(d) for d in drawings]
    assert all(bars), drawings
    counts = [number(b["count"]) for b in bars if b]
    assert counts == sorted(counts), drawings
    last = bars[-1]
    assert last is not None and last["seconds"] is not None, drawings  # the final drawing
    assert number(last["count"]) == number(last["total"]) == handled, drawings
    assert last["percent"] == "100" and last["bar"] == "#" * 30
    assert number(last["rate"]) > 0


def test_a_small_run_shows_no_progress(tmp_path: Path) -> None:
    db = tmp_path / "kpi.sqlite3"
    kpi(db, "init")
    imported = kpi(db, "org", "import", str(DATA / "small_org.csv"))
    opened = kpi(db, "--now", "2026-05-02T10:00", "cycle", "open",
                 str(DATA / "small_cycle.yaml"))
    assert imported.stderr == "" and opened.stderr == "", (imported.stderr, opened.stderr)
