"""One static Machine for every evaluation, against a Machine per evaluation.

    .venv/bin/python -m bench.machine [N]

Both variants take N evaluations through the same lifecycle (self-assessment,
peer input, scoring, calibration, appeal window, finalised: five triggers each).
``static`` is what the engine does: the one MACHINE built at import, fired through
a throw-away adapter (workflow.machine.next_state). ``per evaluation`` builds a
transitions Machine for each evaluation with the same table, attaches it, and keeps
it (as code that hangs a machine on each loaded row ends up doing). Time with
perf_counter; memory as tracemalloc's peak while the N evaluations are alive.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable

from transitions import Machine

from bench.results import machine_line, write_section
from workflow.domain import State, Trigger
from workflow.machine import TRANSITIONS, Facts, _machine_rows, next_state

PATH = (Trigger.SUBMIT_SELF_ASSESSMENT, Trigger.PEER_INPUT_CLOSED, Trigger.SUBMIT_SCORE,
        Trigger.APPROVE_CALIBRATION, Trigger.ACCEPT_RESULT)
FACTS = Facts(awaits_peers=True, calibration_enabled=True)


def static(n: int) -> list[State]:
    states = [State.SELF_ASSESSMENT] * n
    for i in range(n):
        state = states[i]
        for trigger in PATH:
            state = next_state(i, state, trigger, FACTS)
        states[i] = state
    return states


class Row:
    """A plain model, as a per-evaluation machine would be attached to."""

    def __init__(self) -> None:
        self.state = State.SELF_ASSESSMENT.value

    def awaits_peers(self) -> bool:
        return True

    def peers_outstanding(self) -> bool:
        return False

    def calibration_enabled(self) -> bool:
        return True


def per_evaluation(n: int) -> list[object]:
    rows: list[object] = []
    table = _machine_rows()
    for _ in range(n):
        row = Row()
        machine = Machine(model=row, states=[s.value for s in State], transitions=table,
                          initial=row.state, auto_transitions=False)
        for trigger in PATH:
            getattr(row, trigger.value)()
        rows.append((row, machine))
    return rows


def measure(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """(seconds without tracing, peak MiB in a second, traced run)."""
    gc.collect()
    start = time.perf_counter()
    kept = fn(n)
    elapsed = time.perf_counter() - start
    del kept
    gc.collect()
    tracemalloc.start()
    kept = fn(n)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return elapsed, peak / 2**20


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    assert len(TRANSITIONS) == 22
    static(100), per_evaluation(100)  # warm up imports and caches
    runs = {"static": [], "per evaluation": []}  # type: dict[str, list[tuple[float, float]]]
    for _ in range(3):
        runs["static"].append(measure(static, n))
        runs["per evaluation"].append(measure(per_evaluation, n))
    best = {k: min(v) for k, v in runs.items()}
    peak = {k: max(m for _, m in v) for k, v in runs.items()}
    triggers = n * len(PATH)
    s_time, p_time = best["static"][0], best["per evaluation"][0]
    s_row = f"{s_time:.2f} s | {triggers / s_time:,.0f} | {peak['static']:.1f} MiB"
    p_row = f"{p_time:.2f} s | {triggers / p_time:,.0f} | {peak['per evaluation']:.1f} MiB"
    body = f"""## The state machine: one static Machine against a Machine per evaluation

Command: `.venv/bin/python -m bench.machine {n}` (best time of 3 runs; memory from a
separate run under tracemalloc).
Machine: {machine_line()}.

{n:,} evaluations, each taken through 5 triggers (self-assessment -> peer input ->
scoring -> calibration -> appeal window -> finalised), {triggers:,} triggers in all.

| variant | time | triggers/s | peak memory while alive |
| --- | --- | --- | --- |
| one static Machine (the engine) | {s_row} |
| a Machine per evaluation (baseline) | {p_row} |

Ratio: the static machine is {p_time / s_time:.1f}x faster; a kept machine costs
{peak['per evaluation'] * 1024 / n:.1f} KiB per evaluation, the static one nothing per
evaluation (its peak is the adapters of one call at a time).
"""
    write_section("machine", body)
    sys.stdout.write(body)


if __name__ == "__main__":
    main()
