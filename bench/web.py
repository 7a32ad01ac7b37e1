"""The web app's submit path under 50 concurrent clients, against a running server.

    .venv/bin/python -m bench.web [--people 1200] [--clients 50]

Seeds a synthetic organisation (units of one head and 19 specialists) on a fresh
SQLite file, opens a cycle, starts `uvicorn` in its own process on a free loopback
port, and then, with 50 concurrent HTTP clients:
  1. baseline: GET /healthz (the same server, no database),
  2. GET of a self-assessment form through its personal link (one read),
  3. the submit path: POST of a complete self-assessment through the link (CSRF
     check, validation, the transition with its audit row, outbox and timers, the
     link used up) -- each link once, as in real life.
Prints the median and 95th percentile of each, and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
from sqlalchemy import select

from bench.mail import free_port
from bench.results import machine_line, write_section
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.setup import init_database
from workflow.settings import PROJECT_ROOT, Settings
from workflow.store.db import Store
from workflow.store.tables import OUTBOX, PERSON

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CYCLE = """id: bench-web
name: "Bench web"
period: {kind: month, start: 2026-10-01, end: 2026-10-31}
phases:
  self_assessment: {due: {working_days: 5}}
  peer_input: {due: {working_days: 2}}
  supervisor_scoring: {due: {working_days: 3}}
  calibration: {due: {working_days: 3}}
  appeal_window: {due: {working_days: 5}}
  appeal_review: {due: {working_days: 10}}
peers: {enabled: true, per_person: 2, min_responses: 2,
        min_responses_exception: {reason: "bench", decision: "none"}}
calibration: {enabled: false}
regime: vn-decree-335-2025
frameworks: [vn-specialist, vn-leader]
"""


@contextmanager
def serving(url: str, secret: str, port: int, workers: int = 1
            ) -> Iterator[subprocess.Popen[bytes]]:
    """`uvicorn` serving the app on ``url``'s database in a process of its own (with
    ``workers`` web processes under it), once /healthz answers; stopped on leaving."""
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KPI_DATABASE_URL": url, "KPI_SECRET_KEY": secret,
           "KPI_BASE_URL": base}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "workflow.web.app:from_environment",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--workers", str(workers)], env=env)
    try:
        deadline = time.monotonic() + 180  # a loaded machine imports the app slowly
        while True:
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the web server on {base} did not start "
                                 f"(exit code {server.poll()})")
            time.sleep(0.05)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def write_org(path: Path, people: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["employee_id", "full_name", "email", "unit_id", "unit_name", "position",
                    "position_group", "supervisor_id", "task_group", "locale", "is_leader"])
        w.writerow(["B0000", "Giám đốc", "b0000@bench.example", "U000", "Ban giám đốc",
                    "Giám đốc", "leader", "", "A", "vi", "true"])
        for i in range(1, people):
            unit = f"U{(i - 1) // 20 + 1:03d}"
            head = f"B{((i - 1) // 20) * 20 + 1:04d}"
            is_head = (i - 1) % 20 == 0
            w.writerow([f"B{i:04d}", f"Công chức {i}", f"b{i:04d}@bench.example", unit,
                        f"Phòng {unit}", "Trưởng phòng" if is_head else "Chuyên viên",
                        "leader" if is_head else "specialist",
                        "B0000" if is_head else head, "A" if is_head else "C", "vi",
                        "true" if is_head else "false"])


def seed(folder: Path, people: int, base_url: str, secret: str, url: str | None = None
         ) -> tuple[str, list[str]]:
    """An organisation and an open cycle at ``url`` (default: a new SQLite file in
    ``folder``); the specialists' personal links."""
    url = url or f"sqlite:///{folder / 'bench.sqlite3'}"
    settings = Settings(database_url=url, base_url=base_url, secret_key=secret,
                        config_dir=PROJECT_ROOT / "config",
                        templates_dir=PROJECT_ROOT / "templates")
    svc = Service(Store(url), settings)
    init_database(svc)
    write_org(folder / "org.csv", people)
    (folder / "cycle.yaml").write_text(CYCLE, encoding="utf-8")
    import_org(svc, folder / "org.csv", actor_id="bench")
    open_cycle(svc, folder / "cycle.yaml", actor_id="bench", now=datetime.now(UTC))
    with svc.store.read() as s:
        # The specialists' links: the form below is the specialists' framework.
        links = [r.context["action_url"].removeprefix(base_url) for r in s.execute(
            select(OUTBOX.c.context)
            .join(PERSON, PERSON.c.id == OUTBOX.c.recipient_id)
            .where(OUTBOX.c.event == "task_self_assessment",
                   PERSON.c.position_group == "specialist"))]
    svc.store.dispose()
    return url, links


def form(n: int) -> dict[str, str]:
    fields = {f"criteria.{c}.points": "8" for c in
              ("political_quality", "competence_attitude", "innovation")}
    fields.update({f"criteria.{c}.evidence": "Hoàn thành đúng hạn" for c in
                   ("political_quality", "competence_attitude", "innovation")})
    for i in range(4):
        fields.update({f"tasks[{i}].title": f"Sản phẩm {i} của {n}",
                       f"tasks[{i}].completed": "1", f"tasks[{i}].meets_requirements": "1",
                       f"tasks[{i}].failed_assessments": "0", f"tasks[{i}].delays": "0"})
    fields.update({"note": "Tự đánh giá", "op": "submit"})
    return fields


def percentile95(sorted_ms: list[float]) -> float:
    """The nearest-rank 95th percentile of an ascending list."""
    return sorted_ms[max(0, round(0.95 * len(sorted_ms)) - 1)]


@dataclass
class Timings:
    name: str
    seconds: list[float]
    wall: float
    errors: int
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        """Milliseconds."""
        return statistics.median(s * 1000 for s in self.seconds)

    @property
    def p95(self) -> float:
        """Milliseconds, nearest rank."""
        return percentile95(sorted(s * 1000 for s in self.seconds))

    @property
    def rate(self) -> float:
        """Requests per second over the whole run."""
        return len(self.seconds) / self.wall

    def line(self, baseline: Timings | None = None) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        median = statistics.median(ms)
        p95 = percentile95(ms)
        ratio = ""
        if baseline is not None:
            base = sorted(s * 1000 for s in baseline.seconds)
            ratio = f" | {median / statistics.median(base):.1f}x | " \
                    f"{p95 / percentile95(base):.1f}x"
        else:
            ratio = " | 1.0x | 1.0x"
        return (f"| {self.name} | {len(ms)} | {median:.1f} | {p95:.1f}{ratio} | "
                f"{len(ms) / self.wall:.0f} | {self.errors} |")


async def run(clients: int, jobs: list[tuple[str, str]], base: str, name: str,
              prepared: dict[str, tuple[dict[str, str], dict[str, str]]] | None = None
              ) -> Timings:
    """``jobs``: (method, path) shared out over ``clients`` concurrent clients."""
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    seconds: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        async with httpx2.AsyncClient(base_url=base, timeout=60) as http:
            while not queue.empty():
                method, path = queue.get_nowait()
                data, cookies = (prepared or {}).get(path, ({}, {}))
                http.cookies.clear()
                for key, value in cookies.items():
                    http.cookies.set(key, value)
                start = time.perf_counter()
                response = await http.request(method, path, data=data or None)
                seconds.append(time.perf_counter() - start)
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    errors += 1

    statuses: Counter[int] = Counter()
    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Timings(name, seconds, time.perf_counter() - began, errors, statuses)


async def prepare_forms(base: str, links: list[str], clients: int
                        ) -> tuple[Timings, dict[str, tuple[dict[str, str], dict[str, str]]]]:
    """GET each form (timed: the read path) and keep its CSRF token and cookie."""
    prepared: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for link in links:
        queue.put_nowait(link)
    seconds: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        # One connection per client, as a browser keeps one; each link is a new visitor
        # (no cookie), so each gets its own CSRF cookie.
        async with httpx2.AsyncClient(base_url=base, timeout=60) as http:
            while not queue.empty():
                link = queue.get_nowait()
                http.cookies.clear()
                start = time.perf_counter()
                response = await http.get(link)
                seconds.append(time.perf_counter() - start)
                match = CSRF.search(response.text)
                if response.status_code != 200 or match is None:
                    errors += 1
                    continue
                fields = {**form(len(prepared)), "csrf_token": match.group(1)}
                prepared[link] = (fields, dict(http.cookies.items()))

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Timings("GET form by link", seconds, time.perf_counter() - began, errors), prepared


def measure(url: str, links: list[str], secret: str, clients: int, workers: int = 1
            ) -> tuple[Timings, Timings, Timings]:
    """The baseline, the form reads and the submits against a server on ``url``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(url, secret, port, workers):
        asyncio.run(run(clients, [("GET", "/healthz")] * 200, base, "warm-up"))
        baseline = asyncio.run(run(clients, [("GET", "/healthz")] * len(links),
                                   base, "baseline: GET /healthz"))
        reads, prepared = asyncio.run(prepare_forms(base, links, clients))
        submits = asyncio.run(run(clients, [("POST", link) for link in prepared],
                                  base, "submit self-assessment (POST)", prepared))
    return baseline, reads, submits


def postgres_runs(args: argparse.Namespace, secret: str, folder: Path
                  ) -> dict[int, tuple[Timings, Timings, Timings]]:
    """The same on PostgreSQL, with one and with two web processes (each on a fresh
    database: a link is used once); empty when no PostgreSQL answers."""
    from bench.run import PostgresBackend, reachable_postgres

    if why := reachable_postgres():
        print(f"PostgreSQL is not reachable ({why}): its figures are left out",
              file=sys.stderr)
        return {}
    pg = PostgresBackend()
    out: dict[int, tuple[Timings, Timings, Timings]] = {}
    try:
        for workers in (1, 2):
            url, links = seed(folder, args.people, "http://127.0.0.1:0", secret,
                              pg.url(f"web{workers}"))
            out[workers] = measure(url, links, secret, args.clients, workers)
            print(f"PostgreSQL, {workers} web process(es): submit median "
                  f"{out[workers][2].median:.0f} ms", file=sys.stderr)
    finally:
        pg.drop_all()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1201)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true",
                        help="only SQLite (else also PostgreSQL, one and two web processes)")
    args = parser.parse_args()
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        url, links = seed(folder, args.people, "http://127.0.0.1:0", secret)
        print(f"seeded {len(links)} evaluations in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        baseline, reads, submits = measure(url, links, secret, args.clients)
        pg = {} if args.no_postgres else postgres_runs(args, secret, folder)
    body = f"""## Web: the submit path under {args.clients} concurrent clients (`bench/web.py`)

It seeds {args.people:,} people on a fresh SQLite file, opens a cycle, starts `uvicorn
--factory workflow.web.app:from_environment` (one worker) on a free loopback port and
runs {args.clients} concurrent HTTP clients in another process. Every personal link is
used once: the GETs fetch each form (with its CSRF cookie and token), the POSTs submit
a complete self-assessment (CSRF check, validation, the transition with its audit row,
outbox rows, personal links and deadlines, the link used up, in one transaction). The
baseline is `GET /healthz` against the same server in the same run.

Command: `.venv/bin/python -m bench.web --people {args.people} --clients {args.clients}`
({len(links)} links)
Machine: {machine_line()}; SQLite in WAL mode.

| request | n | median ms | p95 ms | median vs baseline | p95 vs baseline | req/s | non-200 |
| --- | --- | --- | --- | --- | --- | --- | --- |
{baseline.line()}
{reads.line(baseline)}
{submits.line(baseline)}

With {args.clients} requests in flight on 2 shared cores, latencies are mostly queueing;
the submit's tail comes from SQLite's one writer (PostgreSQL and more web processes:
README, "Running at scale").
"""
    if submits.errors:
        body += f"\nNon-200 answers to the submits: {dict(submits.statuses)}\n"
    if pg:
        rows = "\n".join(
            f"| {workers} | {t[2].n} | {t[2].median:.1f} | {t[2].p95:.1f} | {t[2].rate:.0f} | "
            f"{t[2].errors} | {t[1].median:.1f} | {t[0].median:.1f} |"
            for workers, t in sorted(pg.items()))
        body += f"""
The same on PostgreSQL (a fresh database for each, `uvicorn --workers N`), submits:

| web processes | submits | median ms | p95 ms | submits/s | non-200 | GET form median ms \
| healthz median ms |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}
"""
    print(body)
    write_section("web", body)


if __name__ == "__main__":
    main()
