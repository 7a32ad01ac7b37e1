"""The admin's downloads at national scale (issue 18, item 4): the cycle's report built
once per cycle state, then served from the kept file.

    BENCH_SIZE=100000 .venv/bin/python -m bench.report_cache

The fixture (not measured): bench/orggen.py's organisation on a SQLite file, its cycle
opened, a sample of specialists self-assessed and scored through ``fire`` (the real
path, with real submissions), and every other specialist given a copy of one of those
scores and submissions with raw ``executemany`` (the leaders stay unscored: a leader's
score needs the whole tree below scored first, which the benchmark does not play).

Measured, through the web app in-process (``TestClient``, a signed-in admin): the
report page the first time after a change (gathered once and kept: what every request
cost before, the baseline) and again (the kept fragment), the XLSX report's first
download (built and kept) and a second one (streamed from the kept file), and the
state key alone (what every request pays).

Building without the cache (every request before the kept files) is the first
request's figure; the state key is read before each of them.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from bench import orggen
from bench.results import machine_line, write_section
from workflow import sample
from workflow.domain import State, SubmissionKind, Trigger
from workflow.service import report_cache, sessions
from workflow.service.core import Service, load_snapshot
from workflow.service.cycles import open_cycle
from workflow.service.scoring_inputs import framework_of
from workflow.service.setup import init_database
from workflow.service.transition import fire
from workflow.settings import PROJECT_ROOT, Settings
from workflow.store.db import Store
from workflow.store.tables import EVALUATION, SUBMISSION
from workflow.web import create_app
from workflow.web.security import SESSION_COOKIE, SESSION_LIFETIME

SECRET = "bench-report-cache-secret-key-0123456789abcdef"
OPENED = datetime(2026, 5, 2, 3, 0, tzinfo=UTC)
SCORED = datetime(2026, 5, 6, 3, 0, tzinfo=UTC)
SAMPLE = 200  # specialists scored through ``fire``; the others copy their scores
CHUNK = 5000


CPU: dict[str, float] = {}  # seconds of this process's CPU (every thread) per request


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], Any], name: str | None = None) -> tuple[float, Any]:
    started, cpu = time.perf_counter(), _cpu()
    out = fn()
    if name is not None:
        CPU[name] = _cpu() - cpu
    return time.perf_counter() - started, out


def build_fixture(svc: Service, size: int, folder: Path) -> tuple[str, int]:
    init_database(svc)
    orggen.generate(svc, size)
    path = folder / "cycle.yaml"
    path.write_text(orggen.cycle_file("bench-report"), encoding="utf-8")
    open_cycle(svc, path, actor_id="bench", now=OPENED)
    with svc.store.read() as s:
        rows = s.execute(select(EVALUATION.c.id, EVALUATION.c.reviewee_id,
                                EVALUATION.c.supervisor_id, EVALUATION.c.is_leader)
                         .where(EVALUATION.c.cycle_id == "bench-report")
                         .order_by(EVALUATION.c.id)).all()
    specialists = [r for r in rows if not r.is_leader and r.supervisor_id]
    rng = random.Random(7)
    sampled = specialists[:SAMPLE]
    for r in sampled:
        with svc.store.read() as s:
            framework = framework_of(load_snapshot(svc, s, r.id, lock=False))
        fire(svc, r.id, Trigger.SUBMIT_SELF_ASSESSMENT, r.reviewee_id,
             sample.self_assessment(framework, rng, rng.uniform(0.5, 1.0)), now=SCORED)
        fire(svc, r.id, Trigger.SUBMIT_SCORE, r.supervisor_id,
             sample.score(framework, rng, rng.uniform(0.4, 1.0)), now=SCORED)
    with svc.store.read() as s:
        done = {r.id: dict(r._mapping) for r in s.execute(
            select(EVALUATION).where(EVALUATION.c.id.in_([x.id for x in sampled])))}
        given = {}
        for sub in s.execute(select(SUBMISSION).where(
                SUBMISSION.c.evaluation_id.in_(list(done)))):
            given.setdefault(sub.evaluation_id, []).append(dict(sub._mapping))
    models = [done[x.id] for x in sampled]
    rest = specialists[SAMPLE:]
    with svc.store.write() as s:
        for start in range(0, len(rest), CHUNK):
            batch = rest[start:start + CHUNK]
            subs = []
            for i, r in enumerate(batch):
                model = models[(start + i) % len(models)]
                s.execute(update(EVALUATION).where(EVALUATION.c.id == r.id).values(
                    state=State.APPEAL_WINDOW.value, score=model["score"],
                    score_class=model["score_class"], final_class=model["final_class"],
                    scored_by=r.supervisor_id, scored_at=SCORED,
                    score_stamp=model["score_stamp"], version=3))
                for sub in given[model["id"]]:
                    author = r.reviewee_id if sub["kind"] == SubmissionKind.SELF_ASSESSMENT \
                        else r.supervisor_id
                    subs.append({**{k: v for k, v in sub.items() if k != "id"},
                                 "evaluation_id": r.id, "author_id": author})
            s.execute(insert(SUBMISSION), subs)
    return "bench-report", len(specialists)


def main() -> None:
    size = int(os.environ.get("BENCH_SIZE", "100000"))
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'kpi.sqlite3'}"
        settings = Settings(database_url=url, secret_key=SECRET, source="bench",
                            config_dir=PROJECT_ROOT / "config",
                            templates_dir=PROJECT_ROOT / "templates")
        kept = Path(os.environ["BENCH_FIXTURE"]) if os.environ.get("BENCH_FIXTURE") else None
        if kept is not None and kept.exists():  # built by an earlier run: copied, not timed
            shutil.copyfile(kept, folder / "kpi.sqlite3")
        svc = Service(Store(url), settings)
        if kept is not None and kept.exists():
            with svc.store.read() as s:
                scored = int(s.execute(select(func.count()).select_from(EVALUATION).where(
                    EVALUATION.c.score.is_not(None))).scalar_one())
            fixture_s, cycle = 0.0, "bench-report"
        else:
            fixture_s, (cycle, scored) = timed(lambda: build_fixture(svc, size, folder))
            if kept is not None:
                shutil.copyfile(folder / "kpi.sqlite3", kept)
        # Built within the request, so that its time is the build's (above INLINE_LIMIT
        # the app builds in the background and answers "being prepared" at once).
        report_cache.INLINE_LIMIT = size + 1
        app = create_app(svc)
        admin = orggen.person_id(1)
        cookie = app.state.web.signer.session(admin, sessions.start(svc, admin,
                                                                    SESSION_LIFETIME))
        client = TestClient(app, base_url="http://kpi.test", cookies={SESSION_COOKIE: cookie})

        def get(path: str) -> int:
            response = client.get(path)
            assert response.status_code == 200, response.text[:300]
            # Built, not "being prepared": a download comes as an attachment, the page
            # with its charts.
            assert ("content-disposition" in response.headers
                    or b"<svg" in response.content), "a build in the background"
            return len(response.content)

        page_first_s, _ = timed(lambda: get(f"/admin/cycle/{cycle}/report"), "page")
        page_kept_s, _ = timed(lambda: get(f"/admin/cycle/{cycle}/report"))
        xlsx_first_s, xlsx_bytes = timed(
            lambda: get(f"/admin/cycle/{cycle}/download/report.xlsx"), "xlsx")
        xlsx_kept_s, _ = timed(lambda: get(f"/admin/cycle/{cycle}/download/report.xlsx"))
        csv_first_s, csv_bytes = timed(
            lambda: get(f"/admin/cycle/{cycle}/download/report.csv"), "csv")
        with svc.store.read() as s:
            key_s, _ = timed(lambda: report_cache.state_key(svc, s, cycle, SCORED))
        svc.store.dispose()
    rows = [
        ("report page, first request after a change: gathered and kept (before this "
         "change every request gathered it: the baseline)",
         f"{page_first_s:.1f} s ({CPU['page']:.1f} s of CPU)", "1x"),
        ("report page, next request (the kept fragment)", f"{page_kept_s:.2f} s",
         f"{page_first_s / page_kept_s:.0f}x faster"),
        ("XLSX report, first download (built, kept)",
         f"{xlsx_first_s:.1f} s ({CPU['xlsx']:.1f} s of CPU)", "-"),
        (f"XLSX report, next download ({xlsx_bytes / 1048576:.1f} MiB streamed from the "
         "kept file)", f"{xlsx_kept_s:.2f} s",
         f"{xlsx_first_s / xlsx_kept_s:.0f}x faster than its first"),
        (f"CSV report, first download ({csv_bytes / 1048576:.1f} MiB, built, kept)",
         f"{csv_first_s:.1f} s ({CPU['csv']:.1f} s of CPU)", "-"),
        ("the cycle's state key alone (read by every request; five index probes)",
         f"{key_s * 1000:.1f} ms", "-"),
    ]
    table = "\n".join(["| what | time | against the first |", "| --- | --- | --- |",
                       *(f"| {a} | {b} | {c} |" for a, b, c in rows)])
    body = f"""## Admin downloads: the report kept per cycle state ({size:,} people)

Command: `BENCH_SIZE={size} .venv/bin/python -m bench.report_cache`
Machine: {machine_line()}.

Fixture (not measured, {f"{fixture_s:.0f} s" if fixture_s else "copied from BENCH_FIXTURE"}):
bench/orggen.py's organisation on SQLite, its
cycle opened, {SAMPLE} specialists self-assessed and scored through `fire`, the other
{scored - SAMPLE:,} specialists given copies of those scores and submissions ({scored:,}
scored evaluations; the leaders unscored). Requests go through the web app in-process
(`TestClient`), signed in as the cycle's admin. The machine is shared: the load average
was {os.getloadavg()[0]:.1f} at the end; the CPU time is this process's (every thread).

{table}
"""
    write_section(f"report-cache-{size}", body)
    print(body)


if __name__ == "__main__":
    main()
