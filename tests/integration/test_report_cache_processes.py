"""Two `kpi serve` processes asked for the same export at the same moment build it once
(issue 18, item 4): the second waits for the first one's claim (an advisory lock on
PostgreSQL, a file lock beside the SQLite database) and is served the file it kept.

Real processes on a real store: each is ``tests/integration/report_build_main.py``,
whose build takes at least 1.5 s, so that the other asks while it runs; without the
claim both would build (and the loser's insert would be refused by the unique key).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import at, small_world
from workflow.service import report_cache
from workflow.service.core import Service
from workflow.settings import PROJECT_ROOT
from workflow.store.tables import EVALUATION, REPORT_FILE

pytestmark = pytest.mark.both_stores
NOW = at("2026-05-05 09:00")


def _ask_together(svc: Service, cycle_id: str, folder: Path, processes: int = 2
                  ) -> list[dict[str, Any]]:
    """``processes`` processes asking for the CSV report at once; what each was given."""
    children = [subprocess.Popen(
        [sys.executable, "-m", "tests.integration.report_build_main", svc.store.url,
         cycle_id, NOW.isoformat(), str(folder)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    try:
        deadline = time.monotonic() + 60
        while len(list(folder.glob("ready-*"))) < processes:
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(c.poll() is None for c in children), \
                [c.communicate()[1][-2000:] for c in children if c.poll() is not None]
            time.sleep(0.05)
        (folder / "go").touch()
        answers = []
        for c in children:
            out, err = c.communicate(timeout=120)
            assert c.returncode == 0, err[-3000:]
            answers.append(json.loads(out.strip().splitlines()[-1]))
        return answers
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()


def test_two_processes_asking_at_once_build_the_export_once(
        new_service: Any, tmp_path: Path) -> None:
    svc: Service = new_service()
    world = small_world(svc)
    world.submit_self("S1", when="2026-05-05 09:00")
    folder = tmp_path / "ask"
    folder.mkdir()
    answers = _ask_together(svc, world.cycle_id, folder)
    builds = (folder / "builds").read_text(encoding="ascii").split()
    assert len(builds) == 1, f"built by {builds}"
    assert answers[0]["id"] == answers[1]["id"]
    assert sorted(a["built_now"] for a in answers) == [False, True]
    with svc.store.read() as s:
        kept = s.execute(select(func.count()).select_from(REPORT_FILE).where(
            REPORT_FILE.c.cycle_id == world.cycle_id)).scalar_one()
        evaluations = s.execute(select(func.count()).select_from(EVALUATION).where(
            EVALUATION.c.cycle_id == world.cycle_id)).scalar_one()
    assert kept == 1
    # The file both were given is the report of that state, whole.
    found = report_cache.kept(svc, world.cycle_id, "report.csv", "en", now=NOW)
    assert (found.id, found.built_now) == (answers[0]["id"], False)
    text = b"".join(report_cache.chunks(svc, found)).decode("utf-8-sig")
    assert len(text.splitlines()) == 1 + evaluations > 1


def test_a_change_between_two_asks_builds_again_once(new_service: Any, tmp_path: Path
                                                     ) -> None:
    svc: Service = new_service()
    world = small_world(svc)
    first = tmp_path / "first"
    first.mkdir()
    before = _ask_together(svc, world.cycle_id, first)
    world.submit_self("S2", when="2026-05-05 09:00")  # a new state of the cycle
    second = tmp_path / "second"
    second.mkdir()
    after = _ask_together(svc, world.cycle_id, second)
    assert len((first / "builds").read_text(encoding="ascii").split()) == 1
    assert len((second / "builds").read_text(encoding="ascii").split()) == 1
    assert after[0]["id"] == after[1]["id"] != before[0]["id"]
