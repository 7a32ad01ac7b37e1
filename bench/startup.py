"""Benchmark: how long `kpi --help` and `kpi status` take to start, against
`python -c pass` measured in the same run.

    .venv/bin/python -m bench.startup [--rounds 15]

Each round runs the three commands once each, in turn (interleaved, so the load of a
shared machine falls on all three alike), as fresh processes, with the wall time
taken around ``subprocess.run``. `kpi status` runs against a fresh SQLite database
made by `kpi init` in a temporary folder, so it touches the store but has nothing to
count. The section reports the median and the best round of each, and the `kpi`
figures less the bare interpreter's (what the project's imports cost), in wall time and
in CPU time (user + system, from ``getrusage``), which a busy machine disturbs less. Not a test:
nothing asserts a speed (issue 15 asks for "well under a second").
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import machine_line, write_section

KPI = str(Path(sys.executable).with_name("kpi"))


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): "
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kpi-startup-") as folder:
        env = {**os.environ, "KPI_DATABASE_URL": f"sqlite:///{folder}/kpi.sqlite3"}
        subprocess.run([KPI, "init"], env=env, check=True, capture_output=True)
        commands = {"python -c pass": [sys.executable, "-c", "pass"],
                    "kpi --help": [KPI, "--help"],
                    "kpi status": [KPI, "status"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                wall, used = timed(argv, env)
                times[name].append(wall)
                cpu[name].append(used)
    base = statistics.median(times["python -c pass"])
    base_cpu = statistics.median(cpu["python -c pass"])
    lines = ["## Start time of a command (`bench/startup.py`)", "",
             f"{machine_line()}; {args.rounds} rounds, the three commands interleaved.", "",
             "| command | wall, median | wall, best | wall less `python -c pass` "
             "| CPU (user+sys), median | CPU less `python -c pass` |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, values in times.items():
        median, used = statistics.median(values), statistics.median(cpu[name])
        bare = name.startswith("python")
        extra = "" if bare else f"{(median - base) * 1000:.0f} ms"
        extra_cpu = "" if bare else f"{(used - base_cpu) * 1000:.0f} ms"
        lines.append(f"| `{name}` | {median * 1000:.0f} ms | {min(values) * 1000:.0f} ms "
                     f"| {extra} | {used * 1000:.0f} ms | {extra_cpu} |")
    lines += ["", "The CPU time is the steadier figure on a loaded machine: the wall time "
              "includes waiting for a core.", "",
              "Aim (issue 15): a command starts in well under a second. "
              "openpyxl, weasyprint, FastAPI and uvicorn are imported by the commands "
              "that use them (`kpi report`, `kpi record`, `kpi serve`, `kpi demo`), "
              "not by every command; `kpi --help` imports none of the commands' modules. "
              "`kpi status` reads through SQLAlchemy Core on light clauses of the columns "
              "it needs (workflow/store/readmodel.py) and checks the schema from the "
              "migration files: it imports neither the SQLModel tables (about 0.6 s of "
              "CPU), Alembic with Mako and Pygments, psycopg, nor the scoring, the cycle "
              "files and the calendar (holidays); tests/e2e/test_cli_startup.py keeps it "
              "so. Before (6e2db1f) it took 2.3 s of CPU on this machine."]
    body = "\n".join(lines)
    write_section("startup", body)
    print(body)


if __name__ == "__main__":
    main()
