"""The pre-launch simulation and the real sweep are one set of decisions.

Hypothesis draws whole cycles: a calendar (the opening day, near Tet, May Day or
National Day; an extra day off of the cycle's own), each phase's due working days,
reminder offsets, the overdue series, an escalation ladder, time zones, the digest
on or off, which tasks people do or miss and when, and the downtime between sweeps.
Each cycle runs twice: on a real SQLite file through the service (``fire`` for the
people, ``tick`` for the clock, at instants chosen as the run goes), and through
``simulate`` with the same actions and the same sweep instants. Both must queue the
same emails (event, recipient, evaluation) at the same instants, and leave every
evaluation in the same state.

Calibration is on in about half the cycles: the pool's own emails (no evaluation:
the calibrator's task when the pool is complete, its reminders, overdue notices and
escalations) are compared too; an evaluation that reaches calibration waits there in
both (nobody approves). Only staff are scored, so no leader's unit results are
recomputed (a change the simulation does not model).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.support import DATA, at, replayed
from workflow import sample
from workflow.domain import State, TimerStatus, Trigger
from workflow.errors import WorkflowError
from workflow.service.core import Service, load_snapshot
from workflow.service.cycles import load_for_open, open_cycle
from workflow.service.notices import DIGEST_EVENT
from workflow.service.org import import_org
from workflow.service.rules import CycleRules
from workflow.service.scoring_inputs import framework_of
from workflow.service.simulate import SimAction, simulate_cycle
from workflow.service.sweep import tick
from workflow.service.transition import fire
from workflow.store.db import Store
from workflow.store.tables import DEADLINE, EVALUATION, OUTBOX

EVERYONE = ("D1", "H1", "S1", "S2", "S3", "S4", "A1")
STAFF = ("S1", "S2", "S3", "S4", "A1")  # scored by H1; nobody above them is recomputed
# Who may be named deciding a petition: the first reviewer (D1, or the admin where D1
# stepped aside), the second (UB1, D1's evaluator), someone it never is (H1, the scorer).
DECIDERS = ("D1", "UB1", "A1", "H1")
ZONES = ("", "", "Europe/Paris", "America/New_York", "Asia/Tokyo")
# Opening days: an ordinary week, the week of May Day, the eve of Tet, National Day.
OPENINGS = (date(2026, 5, 4), date(2026, 4, 27), date(2026, 2, 12), date(2026, 8, 31))
DOWNTIME = (timedelta(0), timedelta(0), timedelta(0), timedelta(minutes=1),
            timedelta(hours=3), timedelta(hours=20), timedelta(hours=30), timedelta(days=2),
            timedelta(days=5))


@dataclass(frozen=True)
class Scenario:
    cycle: str  # the cycle file's text
    opens: datetime  # self-assessment opens (UTC)
    zones: dict[str, str]
    digest: bool
    # (minutes after opening, reviewee, what, which peer): what people do, and when
    acts: tuple[tuple[int, str, str, int], ...]
    downtime: tuple[timedelta, ...]  # after each due instant, how late the sweep comes
    calibration: bool  # on: only staff are in the cycle, and all of them get scored


def _cycle_text(draw: st.DrawFn, opens: date, calibration: bool) -> str:
    days = st.integers(1, 5)
    hour = st.sampled_from(["07:30", "08:00", "13:15", "16:45"])
    reminders = draw(st.lists(st.tuples(st.integers(0, 3), hour), max_size=3,
                              unique=True))
    ladder = sorted(draw(st.lists(st.tuples(st.integers(0, 5),
                                            st.sampled_from(["assignee_supervisor", "admins"])),
                                  max_size=3, unique=True)))
    off = opens + timedelta(days=draw(st.integers(1, 20)))
    per_person = draw(st.integers(0, 2))
    period_end = opens.replace(day=1) - timedelta(days=1)
    lines = [
        "id: prop-cycle", 'name: "Property cycle"',
        f"period: {{kind: month, start: {period_end.replace(day=1)}, end: {period_end}}}",
        "timezone: Asia/Ho_Chi_Minh",
        f"holidays: {{extra_days_off: [{{date: {off}, name: \"Ngày nghỉ <b>riêng</b>\"}}]}}",
        "phases:",
        f"  self_assessment: {{opens: \"{opens} 08:00\", due: {{working_days: {draw(days)}}}}}",
        f"  peer_input: {{due: {{working_days: {draw(days)}}}}}",
        f"  supervisor_scoring: {{due: {{working_days: {draw(days)}}}}}",
        f"  calibration: {{due: {{working_days: {draw(days)}}}}}",
        f"  appeal_window: {{due: {{working_days: {draw(days)}}}}}",
        f"  appeal_review: {{due: {{working_days: {draw(days)}}}}}",
        "reminders: [" + ", ".join(f"{{working_days_before: {d}, at: \"{h}\"}}"
                                   for d, h in reminders) + "]",
        f"overdue: {{every_working_days: {draw(st.integers(1, 3))}, "
        f"at: \"{draw(hour)}\", max_repeats: {draw(st.integers(0, 3))}}}",
        "escalation: [" + ", ".join(f"{{after_working_days: {d}, to: {to}}}"
                                    for d, to in ladder) + "]",
        f"peers: {{enabled: {str(per_person > 0).lower()}, per_person: {max(per_person, 1)}, "
        f"min_responses: {draw(st.integers(1, 2))}, "
        # below the regime's quorum of 3: the world has units of two or three
        "min_responses_exception: {reason: \"small units\", decision: \"QĐ 1/2026\"}}",
        f"calibration: {{enabled: {str(calibration).lower()}, calibrator: D1}}",
        "admins: [A1]",
    ]
    if calibration:
        # The pool completes only when everyone in it is scored: the leaders (whom
        # nobody scores here) stay out, and the calibrator's ladder climbs to admins.
        lines.append('population: {units: [BGD, P1], exclude: {D1: "Giám đốc <b>Sở</b>", '
                     'H1: "leader \'on leave\'"}}')
    else:
        lines += ["population: {units: [BGD, P1]}", "evaluators: {D1: UB1}"]
    return "\n".join(lines) + "\n"


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    opens = draw(st.sampled_from(OPENINGS))
    calibration = draw(st.booleans())
    cycle = _cycle_text(draw, opens, calibration)
    zones = {p: draw(st.sampled_from(ZONES)) for p in EVERYONE}
    def minutes(first_day: int, last_day: int) -> st.SearchStrategy[int]:
        return st.integers(first_day * 24 * 60, last_day * 24 * 60)

    acts: list[tuple[int, str, str, int]] = []
    for person in STAFF if calibration else EVERYONE:
        if draw(st.booleans()):
            acts.append((draw(minutes(0, 6)), person, "self", 0))
        for peer in range(2):
            if draw(st.booleans()):
                acts.append((draw(minutes(0, 12)), person, "peer", peer))
        if calibration:  # every one scored, late enough that scoring has opened
            acts.append((draw(minutes(24, 30)), person, "score", 0))
        elif person in STAFF and draw(st.booleans()):
            acts.append((draw(minutes(2, 20)), person, "score", 0))
        respond = draw(st.sampled_from(["none", "accept", "appeal"]))
        if respond != "none":
            acts.append((draw(minutes(4, 30)), person, respond, 0))
    downtime = tuple(draw(st.lists(st.sampled_from(DOWNTIME), min_size=1, max_size=6)))
    return Scenario(cycle, at(f"{opens} 08:00"), zones, draw(st.booleans()), tuple(acts),
                    downtime, calibration)


def _seed(svc: Service, folder: Path, sc: Scenario,
          conflicts: dict[str, str] | None = None) -> None:
    org = (DATA / "small_org.csv").read_text(encoding="utf-8").splitlines()
    org = [org[0] + ",timezone"] + [line + "," + sc.zones.get(line.split(",")[0], "")
                                    for line in org[1:]]
    if conflicts is not None:  # a conflicts_with column (recusal)
        org = [org[0] + ",conflicts_with"] + [
            line + "," + conflicts.get(line.split(",")[0], "") for line in org[1:]]
    (folder / "org.csv").write_text("\n".join(org) + "\n", encoding="utf-8")
    (folder / "cycle.yaml").write_text(sc.cycle, encoding="utf-8")
    import_org(svc, folder / "org.csv", now=sc.opens - timedelta(days=4))


def _actions(svc: Service, sc: Scenario, ids: dict[str, int]) -> list[tuple[SimAction, Any]]:
    """What people do, as the simulation's actions with the payload the service gets."""
    rng = random.Random(5)
    out: list[tuple[SimAction, Any]] = []
    with svc.store.read() as s:
        snaps = {p: load_snapshot(svc, s, ids[p], lock=False) for p in ids}
    for minute, person, what, peer in sc.acts:
        when = sc.opens + timedelta(minutes=minute)
        snap = snaps[person]
        framework = framework_of(snap)
        if what == "self":
            out.append((SimAction(when, person, Trigger.SUBMIT_SELF_ASSESSMENT, person),
                        sample.self_assessment(framework, rng, 0.8)))
        elif what == "peer":
            peers = sorted(snap.view.peers)
            if peer < len(peers):
                out.append((SimAction(when, person, Trigger.SUBMIT_PEER_INPUT, peers[peer]),
                            sample.peer_input(framework, rng, 0.7)))
        elif what == "score":
            out.append((SimAction(when, person, Trigger.SUBMIT_SCORE, "H1"),
                        sample.score(framework, rng, 0.85)))
        elif what == "accept":
            out.append((SimAction(when, person, Trigger.ACCEPT_RESULT, person),
                        {"comment": 'Đồng ý "kết quả" <ok>'}))
        elif what == "decide":  # whoever the scenario names: refused unless theirs
            out.append((SimAction(when, person, Trigger.UPHOLD_SCORE, DECIDERS[peer]),
                        {"reason": 'Giữ nguyên "kết quả" <b>đã chấm</b>'}))
        else:
            out.append((SimAction(when, person, Trigger.LODGE_APPEAL, person),
                        {"reasons": "Điểm chưa phản ánh <b>đúng</b> & \"đủ\""}))
    return sorted(out, key=lambda pair: pair[0].at)


def _next_due(svc: Service) -> datetime | None:
    with svc.store.read() as s:
        found: datetime | None = s.execute(
            select(func.min(DEADLINE.c.fire_at))
            .where(DEADLINE.c.status == TimerStatus.PENDING.value)).scalar_one()
    return found


def _run_real(svc: Service, sc: Scenario, actions: list[tuple[SimAction, Any]],
              ids: dict[str, int]) -> list[datetime]:
    """People act and the sweep runs, late by the scenario's downtime; the sweeps' instants."""
    sweeps: list[datetime] = []
    pending = list(actions)
    for _ in range(600):
        due = _next_due(svc)
        when = None if due is None else due + sc.downtime[len(sweeps) % len(sc.downtime)]
        if pending and (when is None or pending[0][0].at < when):
            action, payload = pending.pop(0)
            # Refused when it is not theirs to do now: the simulation refuses it too.
            with contextlib.suppress(WorkflowError):
                fire(svc, ids[action.reviewee_id], action.trigger, action.actor_id, payload,
                     now=action.at)
            continue
        if when is None:
            return sweeps
        tick(svc, when)
        sweeps.append(when)
    raise AssertionError("the cycle did not settle in 600 steps")


def _outbox(svc: Service) -> Counter[tuple[str, str, int | None, datetime]]:
    with svc.store.read() as s:
        return Counter((r.event, r.recipient_id, r.evaluation_id, r.available_at)
                       for r in s.execute(select(OUTBOX.c.event, OUTBOX.c.recipient_id,
                                                 OUTBOX.c.evaluation_id, OUTBOX.c.available_at)))


@pytest.mark.sqlite_only
# Derandomized and without shrinking: the same dozen cycles on every run, in bounded time.
@replayed(16)
@given(sc=scenarios())
def test_the_simulation_sends_what_the_sweep_sends_for_any_cycle(
        sc: Scenario, schema_template: Path) -> None:
    run = simulated_beside_swept(sc, schema_template, prefix="kpi-prop-")
    if sc.calibration and set(run.states.values()) == {State.CALIBRATION}:
        # The pool completed: its emails were compared, not vacuously absent.
        assert run.queued[("task_calibration", "D1", None, max(
            a.at for a, _ in run.actions if a.trigger is Trigger.SUBMIT_SCORE))] == 1


@dataclass(frozen=True)
class SimulatedAndSwept:
    """What one scenario left, once the simulation's emails and end states were found
    equal to the real run's (``simulated_beside_swept`` asserts that)."""

    rules: CycleRules
    queued: Counter[tuple[str, str, int | None, datetime]]
    states: dict[str, State]
    actions: list[tuple[SimAction, Any]]


def simulated_beside_swept(sc: Scenario, schema_template: Path, *, prefix: str,
                           config_dir: Callable[[Path], Path] | None = None,
                           conflicts: dict[str, str] | None = None) -> SimulatedAndSwept:
    """The scenario run for real (people act, the sweep runs late by its downtime) on a
    fresh SQLite file, then simulated from the same opening with the same actions and
    sweep instants; asserts that both queue the same emails at the same instants (digests
    aside) and end in the same states. ``config_dir`` makes the regimes' folder (a regime
    changed for the test) in the scenario's folder."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(tmp)
        db = folder / "kpi.sqlite3"
        shutil.copy(schema_template, db)
        url = f"sqlite:///{db}"
        settings_ = make_settings(url, digest_enabled=sc.digest)
        if config_dir is not None:
            settings_ = replace(settings_, config_dir=config_dir(folder))
        svc = Service(Store(url), settings_)
        try:
            _seed(svc, folder, sc, conflicts)
            opened_at = sc.opens - timedelta(days=2)
            # The organisation as it is before launch: what `kpi cycle check` reads.
            _, rules = load_for_open(svc, folder / "cycle.yaml")
            open_cycle(svc, folder / "cycle.yaml", now=opened_at)
            with svc.store.read() as s:
                ids = {r.reviewee_id: r.id for r in s.execute(
                    select(EVALUATION.c.reviewee_id, EVALUATION.c.id))}
            actions = _actions(svc, sc, ids)
            sweeps = _run_real(svc, sc, actions, ids)
            with svc.store.read() as s:
                _, sim = simulate_cycle(svc, s, rules, opened_at,
                                        actions=[a for a, _ in actions], sweeps=sweeps)
                states = {r.reviewee_id: State(r.state) for r in s.execute(
                    select(EVALUATION.c.reviewee_id, EVALUATION.c.state))}
            predicted = Counter((e.event, e.recipient_id,
                                 ids[e.reviewee_id] if e.reviewee_id else None, e.at)
                                for e in sim.emails if e.event != DIGEST_EVENT)
            queued = _outbox(svc)
            assert queued == predicted, (
                f"only queued: {sorted((queued - predicted).elements())}; "
                f"only predicted: {sorted((predicted - queued).elements())}")
            assert {e.reviewee_id: e.state for e in sim.ends} == states
            return SimulatedAndSwept(rules, queued, states, actions)
        finally:
            svc.store.dispose()

