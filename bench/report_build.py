"""The report's first build, each format alone, against a plain streamed SELECT (issue
18, item 4): how long a cycle's report takes to build when nothing is kept yet, and
the most memory it takes.

    BENCH_SIZE=100000 .venv/bin/python -m bench.report_build
    BENCH_FIXTURE=/tmp/report-100000.sqlite3   # keep the fixture, reuse it next time

The fixture is ``bench.report_cache.build_fixture`` (not measured): the organisation,
its cycle opened, specialists scored. Each build runs in a process of its own on a
fresh copy of the fixture, so that its peak resident memory (``ru_maxrss``) is its
own and no build warms the next one's cache; the modules it needs are imported before
the clock starts (a ``kpi serve`` process has them loaded).

The baseline, measured in the same run: one SELECT of the same evaluations with their
people and units, in the report's order, streamed to CSV with the ``csv`` module, each
column as the database gives it (the stamp as its JSON text): what reading and writing
the rows costs with no report logic at all.

``--child WHAT DATABASE`` is the measured process; ``--profile FILE`` writes its
cProfile statistics.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import machine_line, write_section

SECRET = "bench-report-build-secret-key-0123456789abcdef"
SCORED = datetime(2026, 5, 6, 3, 0, tzinfo=UTC)
CYCLE = "bench-report"
BUILDS = ("baseline", "fragment", "csv", "xlsx", "html", "signals")
WHAT = {
    "baseline": "plain SELECT streamed to CSV by the csv module (the baseline)",
    "fragment": "report page fragment (charts, tables, signals)",
    "csv": "CSV report (one row per evaluation)",
    "xlsx": "XLSX report (summary and a sheet per unit)",
    "html": "HTML report (the fragment as a whole page)",
    "signals": "every fairness signal (signals.csv, the page's download)",
}


def _service(url: str) -> Any:
    from workflow.service.core import Service
    from workflow.settings import PROJECT_ROOT, Settings
    from workflow.store.db import Store

    settings = Settings(database_url=url, secret_key=SECRET, source="bench",
                        config_dir=PROJECT_ROOT / "config",
                        templates_dir=PROJECT_ROOT / "templates")
    return Service(Store(url), settings)


def baseline(svc: Any, path: Path) -> int:
    """The same evaluations, people and units in the report's order, written raw: one
    textual SELECT (no column types, so nothing decoded: the stamp as its JSON text,
    the instants as stored), its rows handed to ``csv.writer`` as they come."""
    from sqlalchemy import text

    sql = text("SELECT e.*, p.full_name, u.name FROM evaluation e "
               "JOIN person p ON p.id = e.reviewee_id LEFT JOIN unit u ON u.id = e.unit_id "
               "WHERE e.cycle_id = :cycle ORDER BY e.unit_id, e.reviewee_id")
    n = 0
    with svc.store.read() as session, path.open("w", encoding="utf-8", newline="") as out, \
            session.execute(sql.execution_options(yield_per=1000), {"cycle": CYCLE}) as result:
        writer = csv.writer(out)
        writer.writerow(result.keys())
        for rows in result.partitions():
            writer.writerows(rows)
            n += len(rows)
    return n


def child(what: str, database: Path, profile: Path | None) -> None:
    """One build on ``database``: prints its seconds, peak memory and bytes as JSON."""
    # Everything a serving process has loaded already, imported before the clock starts.
    from workflow.reports import charts, export, html  # noqa: F401
    from workflow.service import report_cache

    svc = _service(f"sqlite:///{database}")
    out = database.with_name(f"out-{what}")
    with svc.store.read() as session:  # the rules and frameworks read once, as a server
        svc.rules.get(session, CYCLE)

    def build() -> None:
        if what == "baseline":
            baseline(svc, out)
        elif what == "fragment":
            # As the server builds it (report_cache): with the link to every signal.
            out.write_text(html.cycle_report_fragment(
                svc, CYCLE, now=SCORED, locale="en",
                signals_download=report_cache.download_path(CYCLE, "signals.csv")),
                encoding="utf-8")
        elif what == "signals":
            report_cache.write_signals(svc, CYCLE, "en", out, SCORED)
        elif what == "html":
            out.write_text(html.cycle_report_html(svc, CYCLE, now=SCORED, locale="vi"),
                           encoding="utf-8")
        else:
            export.write_report(svc, CYCLE, out.with_suffix(f".{what}"), now=SCORED,
                                locale="en")

    usage = resource.getrusage(resource.RUSAGE_SELF)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    if profile is not None:
        cProfile.runctx("build()", globals(), {"build": build}, str(profile))
    else:
        build()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    written = out if out.exists() else out.with_suffix(f".{what}")
    print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime - cpu_before,
                      "load": os.getloadavg()[0], "size": written.stat().st_size,
                      "rss_before_mib": before / 1024,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    svc.store.dispose()


def fixture(size: int, keep: Path | None, folder: Path) -> tuple[Path, float, int]:
    """The fixture's database file: the kept one if ``keep`` exists, else built (and
    kept there)."""
    target = folder / "fixture.sqlite3"
    if keep is not None and keep.exists():
        shutil.copyfile(keep, target)
        return target, 0.0, -1
    from bench.report_cache import build_fixture

    svc = _service(f"sqlite:///{target}")
    started = time.perf_counter()
    _cycle, scored = build_fixture(svc, size, folder)
    seconds = time.perf_counter() - started
    svc.store.dispose()
    if keep is not None:
        shutil.copyfile(target, keep)
    return target, seconds, scored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "DATABASE"))
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--only", nargs="*", choices=BUILDS)
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.profile)
        return
    size = int(os.environ.get("BENCH_SIZE", "100000"))
    keep = Path(os.environ["BENCH_FIXTURE"]) if os.environ.get("BENCH_FIXTURE") else None
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-report-build-") as tmp:
        folder = Path(tmp)
        source, fixture_s, scored = fixture(size, keep, folder)
        for what in args.only or BUILDS:
            database = folder / what / "kpi.sqlite3"
            database.parent.mkdir()
            shutil.copyfile(source, database)
            command = [sys.executable, "-m", "bench.report_build", "--child", what,
                       str(database)]
            if args.profile:
                command += ["--profile", str(args.profile.with_suffix(f".{what}.prof"))]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
            figures[what] = json.loads(done.stdout.strip().splitlines()[-1])
            print(what, figures[what], flush=True)
            shutil.rmtree(database.parent)
    base = figures.get("baseline")
    rows = []
    for what, f in figures.items():
        ratio = "1x" if what == "baseline" or base is None else \
            f"{f['cpu'] / base['cpu']:.1f}x"
        rows.append(f"| {WHAT[what]} | {f['seconds']:.1f} s | {f['cpu']:.1f} s | {ratio} | "
                    f"{f['load']:.1f} | {f['size'] / 1048576:.1f} MiB | "
                    f"{f['peak_mib']:.0f} MiB ({f['rss_before_mib']:.0f} before) |")
    fixture_line = (f"built in {fixture_s:.0f} s ({scored:,} scored evaluations)"
                    if scored >= 0 else "copied from `BENCH_FIXTURE` (built by an earlier run)")
    body = f"""## The report's first build, each format alone ({size:,} people)

Command: `BENCH_SIZE={size} .venv/bin/python -m bench.report_build`
Machine: {machine_line()}.

Fixture (not measured): `bench.report_cache.build_fixture` on SQLite, {fixture_line}.
Each build in a process of its own on a fresh copy of the fixture, nothing kept
(called directly: no web app); its modules imported before the clock starts. Peak
memory: the process's `ru_maxrss` at the end (and before the build, imports done).
The baseline: one SELECT of the same evaluations, people and units in the report's
order, streamed to CSV by the `csv` module with no report logic. The machine is shared
with other sessions' work: the wall time depends on how many share it (the load
average at the end of each build is given); the CPU time of the build's process (user
and system, SQLite included: it runs in the process) much less, and the ratios are of
CPU times.

| build (first, nothing kept) | wall | CPU | CPU, against the baseline | load | output | peak |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}
"""
    if not args.no_write:
        write_section(f"report-first-build-{size}", body)
    print(body)


if __name__ == "__main__":
    main()
