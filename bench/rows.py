"""Benchmark: a snapshot's evaluation row as a typed record against the dict it replaced.

    .venv/bin/python -m bench.rows [--rounds 7] [--rows 900]

The store boundary (``workflow.service.core._evaluations``) makes each evaluation row a
``workflow.evaluation_rows.EvaluationRecord`` from the driver's tuple by position. The
baseline, measured in the same run and process, is the dict that ``service/core.py``
built before (``dict(zip(names, row))``, then the column processors by name), kept
here as it was. Both decode the same raw SQLite tuples: a scored evaluation's values
put through the columns' own bind processors (instants as text, flags as integers,
the score stamp as JSON), as the driver hands them back, with the supervisor's
evaluation id after the columns as in the snapshot's statement. Beside the decoding:
one step's change of the row (the columns a transition sets: a dict spread against
``row.changed``) and eight field reads (``row["x"]`` against ``row.x``). A frozen
slots dataclass of the same 31 fields is timed too, as the design not taken. Rounds
alternate the approaches in a rotated order; CPU time (``time.process_time``), the
median of the rounds. Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, make_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import sqlite

from bench.results import machine_line, write_section
from workflow.domain import State
from workflow.evaluation_rows import EvaluationRecord
from workflow.service.core import _evaluations
from workflow.store import bulk
from workflow.store.tables import EVALUATION

NOW = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)
COLUMNS = list(EVALUATION.c)
NAMES = tuple(c.name for c in COLUMNS)
DIALECT = sqlite.dialect()
PROCESSORS = bulk.result_processors(DIALECT, COLUMNS)
# The columns a scoring step sets (effects.transition, then enter_phase).
CHANGE = {"state": State.CALIBRATION.value, "updated_at": NOW, "phase_entered_at": NOW,
          "escalation_level": 0, "phase_opens_at": NOW, "due_at": NOW + timedelta(days=3),
          "score": "89.995", "score_class": "well_completed", "final_class": "well_completed",
          "scored_by": "H1", "scored_at": NOW}
READS = ("id", "state", "reviewee_id", "supervisor_id", "appeal_reviewer_id", "scored_by",
         "phase_opens_at", "due_at")


def python_row(i: int) -> dict[str, Any]:
    """A scored evaluation as the service reads it."""
    return {
        "id": i, "cycle_id": "snv-2026-04", "reviewee_id": f"S{i}", "unit_id": "P1",
        "task_group": "C", "position_group": "specialist", "is_leader": False,
        "framework_id": "vn-specialist", "framework_hash": "ab" * 32, "supervisor_id": "H1",
        "appeal_reviewer_id": None, "state": State.SUPERVISOR_SCORING.value, "version": 4,
        "phase_entered_at": NOW, "phase_opens_at": NOW, "due_at": NOW + timedelta(days=3),
        "escalation_level": 0, "self_assessment_missing": False,
        "peer_quorum_not_reached": False, "escalated": False, "extended": False,
        "reopened": False, "petition_round": 0, "score": str(Decimal("89.995")),
        "score_class": "well_completed", "final_class": None, "scored_by": "H1",
        "scored_at": NOW, "score_stamp": {"regime": "vn-decree-335-2025", "breakdown": [
            {"general": {"points": "27.5"}}, {"tasks": {"points": "62.495"}}]},
        "created_at": NOW, "updated_at": NOW,
    }


def raw_row(i: int) -> tuple[Any, ...]:
    """What the SQLite driver returns for ``python_row(i)``, and the supervisor's
    evaluation id after the columns."""
    values = python_row(i)
    out = []
    for column in COLUMNS:
        value = values[column.name]
        bind = column.type._cached_bind_processor(DIALECT)
        out.append(bind(value) if bind is not None and value is not None else value)
    return (*out, 1)


def as_dicts(rows: Sequence[Sequence[Any]], names: tuple[str, ...] = NAMES,
             processors: tuple[Any, ...] = PROCESSORS) -> list[dict[str, Any]]:
    """The baseline: ``service/core.py``'s ``_records`` before the typed rows."""
    todo = [(name, process) for name, process in zip(names, processors, strict=True)
            if process is not None]
    out = []
    for row in rows:
        record = dict(zip(names, row, strict=False))
        for name, process in todo:
            value = record[name]
            if value is not None:
                record[name] = process(value)
        out.append(record)
    return out


FrozenRow = make_dataclass("FrozenRow", [(n, Any) for n in NAMES], frozen=True, slots=True)


def as_frozen_dataclasses(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The design not taken: the same decoding into a frozen slots dataclass."""
    width = len(PROCESSORS)
    todo = [(i, p) for i, p in enumerate(PROCESSORS) if p is not None]
    out = []
    for row in rows:
        values = list(row[:width])
        for i, process in todo:
            if values[i] is not None:
                values[i] = process(values[i])
        out.append(FrozenRow(*values))
    return out


@dataclass
class Case:
    name: str
    run: Callable[[], object]
    per: int  # operations per run


def cases(count: int) -> list[tuple[str, Case, Case, Case | None]]:
    raw = [raw_row(i) for i in range(1, count + 1)]
    dicts, records = as_dicts(raw), _evaluations(raw, PROCESSORS)
    assert [EvaluationRecord.of(d) for d in dicts] == records  # the same values either way
    d, r = dicts[0], records[0]
    spread = Case("dict spread", lambda: [{**d, **CHANGE} for _ in range(count)], count)
    changed = Case("row.changed", lambda: [r.changed(CHANGE) for _ in range(count)], count)

    def read_dict() -> object:
        return [[d[k] for k in READS] for _ in range(count)]

    def read_record() -> object:
        return [(r.id, r.state, r.reviewee_id, r.supervisor_id, r.appeal_reviewer_id,
                 r.scored_by, r.phase_opens_at, r.due_at) for _ in range(count)]

    return [
        ("decode a row from the driver's tuple",
         Case("dict + processors (before)", lambda: as_dicts(raw), count),
         Case("EvaluationRecord by position", lambda: _evaluations(raw, PROCESSORS), count),
         Case("frozen slots dataclass", lambda: as_frozen_dataclasses(raw), count)),
        ("one step's change of the row", spread, changed, None),
        ("a field read (eight fields in turn)", Case("row[\"x\"]", read_dict, count * len(READS)),
         Case("row.x", read_record, count * len(READS)), None),
    ]


def timed(case: Case, repeat: int) -> float:
    """CPU microseconds per operation."""
    started = time.process_time()
    for _ in range(repeat):
        case.run()
    return (time.process_time() - started) / (repeat * case.per) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, default=900, help="rows per run (a chunk)")
    parser.add_argument("--repeat", type=int, default=20, help="runs per round")
    args = parser.parse_args()
    table = cases(args.rows)
    samples: dict[str, list[float]] = {}
    for n in range(args.rounds):
        for _, *approaches in table:
            present = [c for c in approaches if c is not None]
            turn = n % len(present)
            for case in present[turn:] + present[:turn]:
                samples.setdefault(case.name, []).append(timed(case, args.repeat))
    lines = ["## A snapshot's row: typed record against dict (`bench/rows.py`)", "",
             machine_line(), "",
             f"{args.rows} rows per run, {args.repeat} runs per round, {args.rounds} rounds "
             "alternating in rotated order; CPU time per operation, median of the rounds. "
             "The baseline is the dict the record replaced, measured in the same run.", "",
             "| operation | baseline: dict | typed record | record / dict "
             "| frozen slots dataclass | dataclass / dict |",
             "| --- | --- | --- | --- | --- | --- |"]
    for title, base, new, other in table:
        b = statistics.median(samples[base.name])
        m = statistics.median(samples[new.name])
        o = statistics.median(samples[other.name]) if other else None
        lines.append(
            f"| {title} | {b:.3f} us | {m:.3f} us | {m / b:.2f}x | "
            + (f"{o:.3f} us | {o / b:.2f}x |" if o is not None else "- | - |"))
        print(f"{title}: dict {b:.3f} us, record {m:.3f} us ({m / b:.2f}x)"
              + (f", frozen dataclass {o:.3f} us ({o / b:.2f}x)" if o is not None else ""))
    lines += ["", "The record is built by position in C (`NamedTuple._make`), its state "
              "looked up rather than called (`State(text)`); a frozen dataclass's "
              "`__init__` sets each field through `object.__setattr__`. Per step the "
              "engine decodes one row and changes it a few times: see bench/PEERS.md, "
              "\"Typed rows\", for the whole step."]
    write_section("rows", "\n".join(lines))


if __name__ == "__main__":
    main()
