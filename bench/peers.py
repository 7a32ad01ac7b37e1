"""The engine against what a developer would otherwise pick, on the same four human steps.

    .venv/bin/python -m bench.peers [--n 1000] [--rounds 2] [--scale-n 2000]
                                    [--processes 4] [--no-postgres]

The four steps of an evaluation (self-assessment, peer input, supervisor score,
accept), taken by N evaluations, each step one call and one transaction, the state
persisted to SQLite between steps, through:
  (a) SpiffWorkflow 3.x: bench/four_steps.bpmn (four user tasks), each instance
      JSON-serialised into a SQLite row, deserialised, its ready task completed with
      the step's form data, serialised and written back;
  (b) naive transitions + SQLModel: a Machine built per row, the row's state and
      the form data saved, a commit per row;
  (c) a raw sqlite3 floor: one ``UPDATE ... SET state`` by ``executemany`` per step,
      no audit, no mail, no form data;
  (d) this engine: ``workflow.service.transition.fire``, one call per step, with the
      submission, the audit row (hash-chained), the outbox rows, personal links and
      deadlines all written.
Each round runs every approach once, on fresh databases, in an order rotated by
round so that a shared machine's load favours none; the rates are totals over all
rounds. Then it counts the statements of one engine step of each kind on SQLite and
on PostgreSQL at the driver (every ``execute``/``executemany`` on a DBAPI cursor,
whatever issued it), and measures the engine on PostgreSQL with one process and
with ``--processes`` processes on disjoint evaluations. It writes its section of
bench/RESULTS.md. Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import machine_line, write_section

BPMN = Path(__file__).resolve().parent / "four_steps.bpmn"
STEPS = ("self_assessment", "peer_input", "supervisor_score", "accept")
AIM = 3.0
UNIT = 20  # bench/web.py's organisation: units of a head and 19 specialists
CYCLE = """id: bench-peers
name: "Bench: four human steps"
period: {kind: month, start: 2026-10-01, end: 2026-10-31}
phases:
  self_assessment: {opens: "2026-11-02 08:00", due: {working_days: 5}}
  peer_input: {due: {working_days: 3}}
  supervisor_scoring: {due: {working_days: 3}}
  calibration: {due: {working_days: 3}}
  appeal_window: {due: {working_days: 5}}
  appeal_review: {due: {working_days: 10}}
reminders:
  - {working_days_before: 1, at: "08:00"}
escalation:
  - {after_working_days: 2, to: assignee_supervisor}
peers: {enabled: true, per_person: 1, min_responses: 1,
        min_responses_exception: {reason: "bench: one peer each", decision: "none"}}
calibration: {enabled: false}
regime: vn-decree-335-2025
frameworks: [vn-specialist, vn-leader]
"""
OPENED = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
# The instants of the four steps: each after the phase it belongs to has opened.
WHEN = (datetime(2026, 11, 3, 2, 0, tzinfo=UTC), datetime(2026, 11, 3, 3, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 4, 0, tzinfo=UTC), datetime(2026, 11, 6, 4, 0, tzinfo=UTC))


@dataclass(frozen=True)
class Timing:
    """Seconds per step of one approach in one round: wall clock and this process's
    CPU (process time, which the other sessions on a shared machine disturb less)."""

    wall: float
    cpu: float


class Clock:
    """Started at creation; ``per_step(steps)`` reads both clocks."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def per_step(self, steps: int) -> Timing:
        return Timing((time.perf_counter() - self.wall) / steps,
                      (time.process_time() - self.cpu) / steps)


class DriverClock:
    """The time spent inside SQLite's own calls (``execute``, ``executemany``,
    ``commit`` of the driver), given as the connection ``factory``: what is left of a
    step once SQLite's work is taken out is the approach's own Python."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0

    def timed(self, call: Callable[..., Any], *args: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return call(*args)
        finally:
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall

    def factory(self) -> type[sqlite3.Connection]:
        clock = self

        class TimedCursor(sqlite3.Cursor):
            def execute(self, *args: Any) -> Any:
                return clock.timed(super().execute, *args)

            def executemany(self, *args: Any) -> Any:
                return clock.timed(super().executemany, *args)

        class TimedConnection(sqlite3.Connection):
            def cursor(self, factory: Any = TimedCursor) -> Any:
                return super().cursor(factory)

            def execute(self, *args: Any) -> Any:  # SpiffWorkflow's runner uses this
                return clock.timed(self.cursor().execute, *args)

            def commit(self) -> None:
                clock.timed(super().commit)

        return TimedConnection


def people_for(n: int) -> int:
    """Enough people for ``n`` specialists (19 per unit of 20) and the director."""
    return (n + 18) // 19 * UNIT + 1


# --- the engine ---------------------------------------------------------------------


@dataclass
class Job:
    """One evaluation's four steps, their actors and their form data, made beforehand."""

    evaluation_id: int
    reviewee: str
    peer: str
    supervisor: str
    forms: tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]


def engine_service(url: str, **engine_kwargs: Any) -> Any:
    from workflow.service.core import Service
    from workflow.settings import PROJECT_ROOT, Settings
    from workflow.store.db import Store

    settings = Settings(database_url=url, base_url="http://kpi.bench", secret_key="b" * 40,
                        config_dir=PROJECT_ROOT / "config",
                        templates_dir=PROJECT_ROOT / "templates")
    return Service(Store(url, **engine_kwargs), settings)


def engine_setup(url: str, n: int, folder: Path) -> None:
    """An organisation and an open cycle in the empty database at ``url`` (not measured)."""
    from bench.web import write_org
    from workflow.service.cycles import open_cycle
    from workflow.service.org import import_org
    from workflow.service.setup import init_database

    svc = engine_service(url)
    init_database(svc)
    write_org(folder / "org.csv", people_for(n))
    (folder / "cycle.yaml").write_text(CYCLE, encoding="utf-8")
    import_org(svc, folder / "org.csv", actor_id="bench")
    open_cycle(svc, folder / "cycle.yaml", actor_id="bench", now=OPENED)
    svc.store.dispose()


def engine_jobs(svc: Any, n: int, part: int = 0, parts: int = 1) -> list[Job]:
    """The first ``n`` specialists' evaluations (every ``parts``-th from ``part``)."""
    from sqlalchemy import select

    from workflow import sample
    from workflow.service.core import load_snapshot
    from workflow.service.scoring_inputs import framework_of
    from workflow.store.tables import EVALUATION

    rng = random.Random(335)
    jobs = []
    with svc.store.read() as s:
        ids = list(s.execute(select(EVALUATION.c.id)
                             .where(EVALUATION.c.position_group == "specialist")
                             .order_by(EVALUATION.c.id).limit(n)).scalars())
        for i in ids[part::parts]:
            snap = load_snapshot(svc, s, i, lock=False)
            fw = framework_of(snap)
            jobs.append(Job(i, snap.row.reviewee_id, sorted(snap.view.peers)[0],
                            snap.row.supervisor_id,
                            (sample.self_assessment(fw, rng, 0.8), sample.peer_input(fw, rng, 0.8),
                             sample.score(fw, rng, 0.8), {})))
    return jobs


def engine_step(svc: Any, step: int, job: Job) -> None:
    from workflow.domain import Trigger
    from workflow.service.transition import fire

    trigger, actor = ((Trigger.SUBMIT_SELF_ASSESSMENT, job.reviewee),
                      (Trigger.SUBMIT_PEER_INPUT, job.peer),
                      (Trigger.SUBMIT_SCORE, job.supervisor),
                      (Trigger.ACCEPT_RESULT, job.reviewee))[step]
    fire(svc, job.evaluation_id, trigger, actor, job.forms[step], now=WHEN[step])


def run_engine(url: str, n: int, folder: Path, driver: DriverClock | None = None
               ) -> tuple[Timing, dict[str, int]]:
    engine_setup(url, n, folder)
    svc = engine_service(url, **({"connect_args": {"factory": driver.factory()}}
                                 if driver else {}))
    jobs = engine_jobs(svc, n)
    if driver:
        driver.cpu = driver.wall = 0.0
    clock = Clock()
    for step in range(4):
        for job in jobs:
            engine_step(svc, step, job)
    timing = clock.per_step(4 * len(jobs))
    rows = table_counts(svc)
    svc.store.dispose()
    return timing, rows


def table_counts(svc: Any) -> dict[str, int]:
    from sqlalchemy import text

    with svc.store.read() as s:
        return {t: int(s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("submission", "auditevent", "outbox", "accesstoken", "deadline")}


# --- the peers ----------------------------------------------------------------------


def forms_for(n: int) -> list[tuple[dict[str, Any], ...]]:
    """Form data of the same shape as the engine's (not the engine's validation)."""
    from workflow import sample
    from workflow.scoring.model import load_framework
    from workflow.settings import PROJECT_ROOT

    config = PROJECT_ROOT / "config"
    from workflow.scoring.model import load_regime
    regime = load_regime(config / "regimes" / "vn-decree-335-2025.yaml")
    fw = load_framework(config / "frameworks" / "vn-specialist.yaml", regime)
    rng = random.Random(335)
    return [(sample.self_assessment(fw, rng, 0.8), sample.peer_input(fw, rng, 0.8),
             sample.score(fw, rng, 0.8), {}) for _ in range(n)]


def run_spiff(path: Path, forms: list[tuple[dict[str, Any], ...]],
              driver: DriverClock | None = None) -> Timing:
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("evaluation")
    serializer = BpmnWorkflowSerializer()
    db = sqlite3.connect(path, isolation_level=None,
                         **({"factory": driver.factory()} if driver else {}))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE instance (id INTEGER PRIMARY KEY, state TEXT, workflow TEXT)")
    db.execute("BEGIN")
    for i in range(len(forms)):
        wf = BpmnWorkflow(spec)
        wf.do_engine_steps()
        db.execute("INSERT INTO instance VALUES (?, ?, ?)",
                   (i, "self_assessment", serializer.serialize_json(wf)))
    db.execute("COMMIT")
    if driver:
        driver.cpu = driver.wall = 0.0
    clock = Clock()
    for step in range(4):
        for i, form in enumerate(forms):
            db.execute("BEGIN IMMEDIATE")
            (text,) = db.execute("SELECT workflow FROM instance WHERE id = ?", (i,)).fetchone()
            wf = serializer.deserialize_json(text)
            (task,) = wf.get_tasks(state=TaskState.READY, manual=True)
            task.data.update(form[step])
            task.run()
            wf.do_engine_steps()
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            db.execute("UPDATE instance SET state = ?, workflow = ? WHERE id = ?",
                       (ready[0].task_spec.name if ready else "finalised",
                        serializer.serialize_json(wf), i))
            db.execute("COMMIT")
    timing = clock.per_step(4 * len(forms))
    done = db.execute("SELECT count(*) FROM instance WHERE state = 'finalised'").fetchone()[0]
    db.close()
    if done != len(forms):
        raise RuntimeError(f"SpiffWorkflow finished {done} of {len(forms)} instances")
    return timing


NAIVE_STATES = ["self_assessment", "peer_input", "supervisor_scoring", "appeal_window",
                "finalised"]
NAIVE_TRIGGERS = ["submit_self_assessment", "submit_peer_input", "submit_score",
                  "accept_result"]


class NaiveHolder:
    state: str


def run_naive(path: Path, forms: list[tuple[dict[str, Any], ...]]) -> Timing:
    """What a hand-rolled app does: a Machine per loaded row, a commit per row."""
    from sqlalchemy import JSON, Column, create_engine
    from sqlalchemy.orm import registry
    from sqlmodel import Field, Session, SQLModel
    from transitions import Machine

    class NaiveBase(SQLModel, registry=registry()):  # kept out of the engine's metadata
        pass

    class NaiveEvaluation(NaiveBase, table=True):
        id: int = Field(primary_key=True)
        state: str
        version: int = 1
        data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))

    engine = create_engine(f"sqlite:///{path}")
    NaiveBase.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all(NaiveEvaluation(id=i, state="self_assessment") for i in range(len(forms)))
        s.commit()
    rows = [{"trigger": t, "source": a, "dest": b}
            for t, a, b in zip(NAIVE_TRIGGERS, NAIVE_STATES[:-1], NAIVE_STATES[1:], strict=True)]
    clock = Clock()
    for step in range(4):
        for i, form in enumerate(forms):
            with Session(engine) as s:
                ev = s.get(NaiveEvaluation, i)
                assert ev is not None
                # SQLModel rows refuse the attributes transitions adds: a holder per row.
                holder = NaiveHolder()
                Machine(model=holder, states=NAIVE_STATES, transitions=rows, initial=ev.state,
                        auto_transitions=False)
                getattr(holder, NAIVE_TRIGGERS[step])()
                ev.state = holder.state
                ev.data = {**ev.data, STEPS[step]: form[step]}
                ev.version += 1
                s.add(ev)
                s.commit()
    timing = clock.per_step(4 * len(forms))
    engine.dispose()
    return timing


def run_raw(path: Path, n: int) -> Timing:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE evaluation (id INTEGER PRIMARY KEY, state TEXT, version INT)")
    db.executemany("INSERT INTO evaluation VALUES (?, 'self_assessment', 1)",
                   [(i,) for i in range(n)])
    clock = Clock()
    for dest in NAIVE_STATES[1:]:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("UPDATE evaluation SET state = ?, version = version + 1 WHERE id = ?",
                       [(dest, i) for i in range(n)])
        db.execute("COMMIT")
    timing = clock.per_step(4 * n)
    db.close()
    return timing


# --- statements per step --------------------------------------------------------------


def count_statements(url: str, n: int, folder: Path) -> dict[str, dict[str, float]]:
    """Per step kind: statements at the driver, mean and highest over ``n`` evaluations."""
    from workflow.store.db import StatementCounter

    engine_setup(url, n, folder)
    counter = StatementCounter()
    svc = engine_service(url, statement_counter=counter)
    jobs = engine_jobs(svc, n)
    out: dict[str, dict[str, float]] = {}
    for step in range(4):
        counts, kinds = [], Counter[str]()
        for job in jobs:
            counter.reset()
            engine_step(svc, step, job)
            counts.append(counter.work)
            kinds.update(counter.kinds)
        out[STEPS[step]] = {"mean": statistics.mean(counts), "max": max(counts),
                            "min": min(counts), "transaction": kinds["transaction"] / len(jobs),
                            "ping": kinds["ping"] / len(jobs)}
    svc.store.dispose()
    return out


# --- PostgreSQL: one process against several ------------------------------------------


def worker(url: str, n: int, part: int, parts: int) -> None:
    """A child: its share of the evaluations, four steps each, once the parent says go."""
    svc = engine_service(url)
    jobs = engine_jobs(svc, n, part, parts)
    engine_step(svc, 0, jobs[0])  # warm: the rules cache, the compiled statements
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    for step in range(4):
        for job in jobs[1:] if step == 0 else jobs:
            engine_step(svc, step, job)
    print(json.dumps({"start": start, "end": time.time(), "steps": 4 * len(jobs) - 1}),
          flush=True)
    svc.store.dispose()


def processes_rate(url: str, n: int, parts: int) -> float:
    """Steps per second of ``parts`` processes on disjoint evaluations, wall clock."""
    procs = [subprocess.Popen([sys.executable, "-m", "bench.peers", "--worker", url, str(n),
                               str(part), str(parts)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for part in range(parts)]
    for p in procs:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("a bench worker did not start")
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"a bench worker failed ({p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return float(sum(r["steps"] for r in results) / wall)


def _spin(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def cpu_ceiling(parts: int, loops: int = 3_000_000) -> float:
    """What ``parts`` processes of pure Python do together against one, on this
    machine now: the most that ``parts`` engine processes could gain if nothing
    waited on anything (on 2 cores, about 2x)."""
    def rate(n: int) -> float:
        with multiprocessing.Pool(n) as pool:
            start = time.perf_counter()
            pool.map(_spin, [loops] * n)
            return n / (time.perf_counter() - start)

    return rate(parts) / rate(1)


# --- the run --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="evaluations (instances)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count-n", type=int, default=40,
                        help="evaluations whose steps' statements are counted")
    parser.add_argument("--scale-n", type=int, default=2000,
                        help="evaluations for PostgreSQL's one against several processes")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        url, n, part, parts = args.worker
        worker(url, int(n), int(part), int(parts))
        return
    try:
        import SpiffWorkflow  # noqa: F401
    except ImportError:
        parser.error("SpiffWorkflow is not installed: `.venv/bin/pip install -e '.[bench]'` "
                     "(`make bench` does it)")
    if args.n < 1 or args.rounds < 1 or args.count_n < 1 or args.scale_n < args.processes:
        parser.error("--n, --rounds and --count-n must be at least 1, --scale-n at least "
                     "--processes")
    forms = forms_for(args.n)
    approaches: dict[str, Callable[[Path], Timing]] = {
        "spiff": lambda folder: run_spiff(folder / "spiff.sqlite3", forms),
        "naive": lambda folder: run_naive(folder / "naive.sqlite3", forms),
        "raw": lambda folder: run_raw(folder / "raw.sqlite3", args.n),
    }
    per_step: dict[str, list[Timing]] = {k: [] for k in ("spiff", "naive", "raw", "engine")}
    rows: dict[str, int] = {}
    names = list(per_step)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            folder = Path(tempfile.mkdtemp(prefix="kpi-bench-peers-"))
            try:
                if name == "engine":
                    timing, rows = run_engine(f"sqlite:///{folder / 'engine.sqlite3'}",
                                              args.n, folder)
                else:
                    timing = approaches[name](folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            per_step[name].append(timing)
            print(f"round {r + 1} {name}: {1 / timing.wall:,.0f} steps/s, "
                  f"{timing.cpu * 1e6:,.0f} us of CPU a step", flush=True)
    # Once more each, SQLite's own calls timed (a separate run: the timing wrapper
    # costs a little, so these runs are not among the rounds).
    driver: dict[str, tuple[float, float]] = {}
    for name in ("spiff", "engine"):
        folder = Path(tempfile.mkdtemp(prefix="kpi-bench-peers-"))
        clock = DriverClock()
        try:
            if name == "engine":
                timing, _ = run_engine(f"sqlite:///{folder / 'engine.sqlite3'}", args.n,
                                       folder, clock)
            else:
                timing = run_spiff(folder / "spiff.sqlite3", forms, clock)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        driver[name] = (clock.cpu / (4 * args.n), timing.cpu)
    counts: dict[str, dict[str, dict[str, float]]] = {}
    scale: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kpi-bench-peers-") as tmp:
        counts["SQLite"] = count_statements(f"sqlite:///{tmp}/count.sqlite3", args.count_n,
                                            Path(tmp))
    with tempfile.TemporaryDirectory(prefix="kpi-bench-peers-") as tmp:
        profile = profile_engine(f"sqlite:///{tmp}/profile.sqlite3", args.count_n * 5,
                                 Path(tmp))
    if not args.no_postgres:
        from bench.run import PostgresBackend, reachable_postgres
        if why := reachable_postgres():
            print(f"PostgreSQL is not reachable ({why}): its figures are left out",
                  file=sys.stderr)
        else:
            pg = PostgresBackend()
            try:
                with tempfile.TemporaryDirectory(prefix="kpi-bench-peers-") as tmp:
                    counts["PostgreSQL"] = count_statements(pg.url("count"), args.count_n,
                                                            Path(tmp))
                    scale["ceiling"] = cpu_ceiling(args.processes)
                    for parts in (1, args.processes):
                        url = pg.url(f"scale{parts}")
                        engine_setup(url, args.scale_n, Path(tmp))
                        scale[str(parts)] = processes_rate(url, args.scale_n, parts)
                        print(f"PostgreSQL, {parts} process(es): {scale[str(parts)]:,.0f} "
                              "steps/s", flush=True)
            finally:
                pg.drop_all()
    body = report(args, per_step, rows, counts, scale, profile, driver)
    write_section("peers", body)
    print(body)


def profile_engine(url: str, n: int, folder: Path) -> list[str]:
    """Where an engine step's time goes: cProfile over ``n`` evaluations' four steps,
    the functions with the most time of their own."""
    import cProfile
    import pstats

    engine_setup(url, n, folder)
    svc = engine_service(url)
    jobs = engine_jobs(svc, n)
    profiler = cProfile.Profile()
    profiler.enable()
    for step in range(4):
        for job in jobs:
            engine_step(svc, step, job)
    profiler.disable()
    svc.store.dispose()
    stats = pstats.Stats(profiler)
    total = sum(t[2] for t in stats.stats.values())  # type: ignore[attr-defined]
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:12]  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    lines = []
    for (path, line, name), (_cc, calls, own, _cum, _callers) in top:
        where = path.replace(root, "").split("site-packages/")[-1]
        lines.append(f"| `{where}:{line}` {name} | {calls:,} | {own / total:.1%} |")
    return lines


def report(args: argparse.Namespace, per_step: dict[str, list[Timing]], rows: dict[str, int],
           counts: dict[str, dict[str, dict[str, float]]], scale: dict[str, float],
           profile: list[str], driver: dict[str, tuple[float, float]]) -> str:
    rate = {k: 1 / statistics.mean(t.wall for t in v) for k, v in per_step.items()}
    lo_hi = {k: (1 / max(t.wall for t in v), 1 / min(t.wall for t in v))
             for k, v in per_step.items()}
    # CPU per step (process time): the shared machine's load stretches it less than
    # the wall clock, so its ratio is the steadier figure of the two.
    cpu = {k: statistics.mean(t.cpu for t in v) for k, v in per_step.items()}
    ratio = rate["engine"] / rate["spiff"]
    cpu_ratio = cpu["spiff"] / cpu["engine"]
    labels = {
        "raw": "raw sqlite3 floor (`UPDATE` by `executemany`, no audit, no mail)",
        "naive": "naive transitions + SQLModel (a Machine per row, a commit per row)",
        "spiff": "SpiffWorkflow 3.2 (BPMN, the instance as JSON in SQLite per step)",
        "engine": "**this engine** (`transition.fire`, one call per step)",
    }
    lines = [
        "## Peers: the same four human steps through other engines (`bench/peers.py`)",
        "",
        f"Command: `.venv/bin/python -m bench.peers --n {args.n} --rounds {args.rounds}`",
        f"Machine: {machine_line()}; SQLite in WAL mode, synchronous=NORMAL for all.",
        "",
        f"{args.n:,} evaluations (instances) each take four steps (self-assessment, peer "
        "input, supervisor score, accept), one call and one transaction per step, persisted "
        "to SQLite between steps. The approaches alternate over the rounds, in an order "
        "rotated each round, each on fresh databases; setting up (the organisation, "
        "opening the cycle, creating instances) is not measured. CPU is this process's "
        "time (SQLite runs in it) per step, mean of the rounds.",
        "",
        "| approach | steps/s (mean of rounds) | lowest - highest round | vs SpiffWorkflow "
        "| CPU per step (us) | CPU vs SpiffWorkflow |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in ("raw", "naive", "spiff", "engine"):
        lo, hi = lo_hi[key]
        lines.append(f"| {labels[key]} | {rate[key]:,.0f} | {lo:,.0f} - {hi:,.0f} | "
                     f"{rate[key] / rate['spiff']:.2f}x | {cpu[key] * 1e6:,.0f} | "
                     f"{cpu['spiff'] / cpu[key]:.2f}x |")
    lines += [
        "",
        f"**Engine / SpiffWorkflow: {ratio:.2f}x** in steps per second, {cpu_ratio:.2f}x in "
        f"CPU per step (aim: at least {AIM:.0f}x, {'met' if ratio >= AIM else 'NOT met'}). "
        "Rows the engine wrote for "
        f"{args.n:,} evaluations (last round, opening included): "
        + ", ".join(f"{t} {c:,}" for t, c in rows.items()) + ". What changed, what is "
        "left and why: bench/PEERS.md.",
        "",
        f"Statements per step, counted at the driver over {args.count_n} evaluations "
        "(every `execute`/`executemany` on a DBAPI cursor, whoever issued it, that reads "
        "or writes data; beside them, per step, SQLite's `BEGIN IMMEDIATE` and "
        "PostgreSQL's pool ping (`pool_pre_ping`) also go through the cursor; psycopg's "
        "own BEGIN and the COMMITs do not):",
        "",
        "| step | " + " | ".join(f"{db} mean (min-max)" for db in counts) + " |",
        "| --- | " + " | ".join("---" for _ in counts) + " |",
    ]
    for step in STEPS:
        cells = []
        for db in counts:
            c = counts[db][step]
            extra = (f" + {c['transaction']:.0f} BEGIN" if c["transaction"] else "") + \
                (f" + {c['ping']:.0f} ping" if c["ping"] else "")
            cells.append(f"{c['mean']:.1f} ({c['min']:.0f}-{c['max']:.0f}){extra}")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    (e_sql, e_all), (s_sql, s_all) = driver["engine"], driver["spiff"]
    lines += [
        "",
        "SQLite's own calls (the driver's `execute`, `executemany` and `commit`, timed "
        "in one more run of each, CPU per step) against the rest of the step:",
        "",
        "| approach | CPU per step (us) | in SQLite's calls | the rest (the approach's "
        "Python) |",
        "| --- | --- | --- | --- |",
        f"| SpiffWorkflow | {s_all * 1e6:,.0f} | {s_sql * 1e6:,.0f} ({s_sql / s_all:.0%}) | "
        f"{(s_all - s_sql) * 1e6:,.0f} |",
        f"| this engine | {e_all * 1e6:,.0f} | {e_sql * 1e6:,.0f} ({e_sql / e_all:.0%}) | "
        f"{(e_all - e_sql) * 1e6:,.0f} |",
        "",
        f"At {AIM:.0f}x SpiffWorkflow a step would have {s_all / AIM * 1e6:,.0f} us of CPU "
        f"in all; SQLite's calls alone take the engine {e_sql * 1e6:,.0f} us of the rows it "
        "must write (the evaluation, its submission, timers, links, emails and the audit "
        "row, in six tables with their indexes, against SpiffWorkflow's one row).",
    ]
    lines += [
        "",
        f"Where an engine step's time goes (cProfile, {args.count_n * 5} evaluations' four "
        "steps on SQLite; the functions with the most time of their own, as a share of "
        "the whole):",
        "",
        "| function | calls | own time |",
        "| --- | --- | --- |",
        *profile,
    ]
    if scale:
        many = max((k for k in scale if k.isdigit()), key=int)
        lines += [
            "",
            f"PostgreSQL, {args.scale_n:,} evaluations, the same four steps: one process "
            f"{scale['1']:,.0f} steps/s; {many} processes on disjoint evaluations "
            f"{scale[many]:,.0f} steps/s together (**{scale[many] / scale['1']:.2f}x**; "
            f"aim {AIM:.0f}x, {'met' if scale[many] / scale['1'] >= AIM else 'NOT met'}). "
            f"The machine has {os.cpu_count()} cores shared with other work: in the same "
            f"run, {many} processes of pure Python did {scale['ceiling']:.2f}x one "
            "(`cpu_ceiling`), the most the engine's processes could gain were nothing "
            "waiting on a lock or the server.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
