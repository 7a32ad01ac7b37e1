"""Benchmark: how long `kpi --help` and `kpi status` take to start, against
`python -c pass` measured in the same run.

    .venv/bin/python -m bench.startup [--rounds 15]

Each round runs the three commands once each, in turn (interleaved, so the load of a
shared machine falls on all three alike), as fresh processes, with the wall time
taken around ``subprocess.run``. `kpi status` runs against a fresh SQLite database
made by `kpi init` in a temporary folder, so it touches the store but has nothing to
count. The section reports the median and the best round of each, and the `kpi`
figures less the bare interpreter's (what the project's imports cost). Not a test:
nothing asserts a speed (issue 15 asks for "well under a second").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import machine_line, write_section

KPI = str(Path(sys.executable).with_name("kpi"))


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): "
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed


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
        for _ in range(args.rounds):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    base = statistics.median(times["python -c pass"])
    lines = ["## Start time of a command (`bench/startup.py`)", "",
             f"{machine_line()}; {args.rounds} rounds, the three commands interleaved.", "",
             "| command | median | best | median less `python -c pass` |",
             "| --- | ---: | ---: | ---: |"]
    for name, values in times.items():
        median = statistics.median(values)
        extra = "" if name.startswith("python") else f"{(median - base) * 1000:.0f} ms"
        lines.append(f"| `{name}` | {median * 1000:.0f} ms | {min(values) * 1000:.0f} ms "
                     f"| {extra} |")
    lines += ["", "Aim (issue 15): a command starts in well under a second. matplotlib, "
              "openpyxl, weasyprint, FastAPI and uvicorn are imported by the commands "
              "that use them (`kpi report`, `kpi record`, `kpi serve`, `kpi demo`), "
              "not by every command."]
    body = "\n".join(lines)
    write_section("startup", body)
    print(body)


if __name__ == "__main__":
    main()
