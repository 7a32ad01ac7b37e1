"""Helpers for driving a cycle in tests: times, payloads, and a World around a service."""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result
from sqlalchemy import select

from workflow import sample
from workflow.cli import main as kpi_main
from workflow.domain import State, Trigger
from workflow.service import calibration
from workflow.service.core import Service, load_snapshot
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.service.scoring_inputs import framework_of
from workflow.service.sweep import tick
from workflow.service.transition import Outcome, fire
from workflow.settings import PROJECT_ROOT
from workflow.store.tables import ASSIGNMENT, EVALUATION

DATA = Path(__file__).resolve().parent / "data"
CONFIG = PROJECT_ROOT / "config"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
# The peers of tests/data/small_cycle.yaml, as written there (tests replace it).
SMALL_CYCLE_PEERS = ('peers: {enabled: true, per_person: 2, min_responses: 2,\n'
                     '        min_responses_exception: {reason: "units of five", '
                     'decision: "QĐ 1/2026"}}')


def kpi(*args: str) -> Result:
    """Run the `kpi` command in this process (the settings come from the environment)."""
    return CliRunner().invoke(kpi_main, list(args))


def ok(result: Result) -> str:
    """The output of a `kpi` run that must succeed; its output and error when it did not."""
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result.output


def decree_335_changed(folder: Path, rule: str, replacement: str) -> Path:
    """A config folder in ``folder`` (the project's regimes and frameworks) whose Decree
    335 regime has its one line matching ``rule`` (a regular expression over one line)
    replaced by ``replacement``: a regime that differs from the shipped one in one rule."""
    config = folder / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    regime = config / "regimes" / "vn-decree-335-2025.yaml"
    text, n = re.subn(rule, replacement, regime.read_text(encoding="utf-8"), flags=re.M)
    assert n == 1, f"{rule!r} matches {n} lines of {regime.name}, not one"
    regime.write_text(text, encoding="utf-8")
    return config


def replayed(max_examples: int) -> Any:
    """The Hypothesis settings of the property tests that run whole cycles (the
    simulation beside the sweep): the same ``max_examples`` cycles on every run
    (derandomized, no example database), generated but never shrunk, no deadline: each
    example is seconds of real work, and a failure names its cycle as drawn."""
    from hypothesis import HealthCheck, Phase, settings

    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def at(text: str) -> datetime:
    """A local Viet Nam time ('2026-05-04 09:00') as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=VN).astimezone(UTC)


@dataclass
class World:
    """A service with an organisation and an open cycle, and short ways to act in it."""

    svc: Service
    cycle_id: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def ids(self) -> dict[str, int]:
        with self.svc.store.read() as s:
            rows = s.execute(select(EVALUATION.c.reviewee_id, EVALUATION.c.id)
                             .where(EVALUATION.c.cycle_id == self.cycle_id)).all()
        return {r.reviewee_id: r.id for r in rows}

    def ev(self, reviewee_id: str) -> int:
        return self.ids()[reviewee_id]

    def row(self, reviewee_id: str) -> dict[str, Any]:
        with self.svc.store.read() as s:
            r = s.execute(select(EVALUATION).where(EVALUATION.c.id == self.ev(reviewee_id))).one()
        return dict(r._mapping)

    def state(self, reviewee_id: str) -> State:
        return State(self.row(reviewee_id)["state"])

    def framework(self, reviewee_id: str) -> Any:
        with self.svc.store.read() as s:
            return framework_of(load_snapshot(self.svc, s, self.ev(reviewee_id), lock=False))

    def peers_of(self, reviewee_id: str) -> list[str]:
        with self.svc.store.read() as s:
            snap = load_snapshot(self.svc, s, self.ev(reviewee_id), lock=False)
        return sorted(snap.view.peers)

    def fire(self, reviewee_id: str, trigger: Trigger, actor: str, payload: Any = None,
             reason: str | None = None, when: str = "2026-05-05 09:00") -> Outcome:
        return fire(self.svc, self.ev(reviewee_id), trigger, actor, payload, reason,
                    now=at(when))

    def submit_self(self, reviewee_id: str, level: float = 0.8,
                    when: str = "2026-05-05 09:00") -> Outcome:
        payload = sample.self_assessment(self.framework(reviewee_id), self.rng, level)
        return self.fire(reviewee_id, Trigger.SUBMIT_SELF_ASSESSMENT, reviewee_id, payload,
                         when=when)

    def answer_peers(self, reviewee_id: str, level: float = 0.8,
                     when: str = "2026-05-08 09:00") -> None:
        for peer in self.peers_of(reviewee_id):
            payload = sample.peer_input(self.framework(reviewee_id), self.rng, level)
            self.fire(reviewee_id, Trigger.SUBMIT_PEER_INPUT, peer, payload, when=when)

    def score(self, reviewee_id: str, by: str | None = None, level: float = 0.8,
              when: str = "2026-05-12 09:00", **kw: Any) -> Outcome:
        scorer = by or self.row(reviewee_id)["supervisor_id"]
        payload = kw.get("payload") or sample.score(self.framework(reviewee_id), self.rng, level)
        return self.fire(reviewee_id, Trigger.SUBMIT_SCORE, scorer, payload, when=when)


def kpi_act(w: World, person: str, trigger: str, by: str, payload: dict[str, Any],
            folder: Path, when: str) -> Result:
    """`kpi act` on ``person``'s evaluation: ``trigger`` by ``by`` at ``when`` (local Viet
    Nam time), the payload written as the JSON file an admin would give (``folder``), run
    in this process on the world's database, secret and configuration folder."""
    path = folder / f"{trigger}-{person}-{by}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    settings = w.svc.settings
    return CliRunner().invoke(kpi_main, [
        "--now", at(when).isoformat(), "act", str(w.ev(person)), trigger, "--by", by,
        "--file", str(path)],
        env={"KPI_DATABASE_URL": settings.database_url, "KPI_SECRET_KEY": settings.secret_key,
             "KPI_CONFIG_DIR": str(settings.config_dir)})


def without_calibration(svc: Service, folder: Path, org: Path = DATA / "small_org.csv"
                        ) -> World:
    """The small world with calibration off (tests/data/small_cycle.yaml changed in that
    one line, written to ``folder``): a score goes straight to the appeal window."""
    import_org(svc, org, now=at("2026-05-01 09:00"))
    cycle = folder / "cycle.yaml"
    text = (DATA / "small_cycle.yaml").read_text(encoding="utf-8")
    off = text.replace("calibration: {enabled: true, calibrator: D1}",
                       "calibration: {enabled: false}")
    assert off != text, "small_cycle.yaml no longer names D1 its calibrator"
    cycle.write_text(off, encoding="utf-8")
    open_cycle(svc, cycle, now=at("2026-05-02 10:00"))
    return World(svc, "t-2026-04")


def small_world(svc: Service, opened_at: str = "2026-05-02 10:00") -> World:
    import_org(svc, DATA / "small_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "small_cycle.yaml", now=at(opened_at))
    return World(svc, "t-2026-04")


def seeded_small_world(seeded_service: Any, key: str = "small-world", **settings: Any) -> World:
    """This test's copy of ``small_world``, seeded once per test process under ``key``
    (``seeded_service``, tests/conftest.py): give settings that change what seeding
    writes (``admins``...) a key of their own."""
    return World(seeded_service(key, small_world, **settings), "t-2026-04")


def small_world_at_scoring(svc: Service) -> None:
    """The seed of a seeded world (``seeded_service``, tests/conftest.py): the small world
    with the deadlines of self-assessment and peer input passed (2026-05-12 18:00):
    everyone waits to be scored."""
    w = small_world(svc)
    tick(svc, at("2026-05-12 18:00"))
    assert {w.state(p) for p in w.ids()} == {State.SUPERVISOR_SCORING}


def seeded_small_world_at_scoring(seeded_service: Any, **settings: Any) -> World:
    """This test's copy of ``small_world_at_scoring``, seeded once per test process."""
    key = "small-at-scoring" + "".join(f"-{k}={v}" for k, v in sorted(settings.items()))
    return World(seeded_service(key, small_world_at_scoring, **settings), "t-2026-04")


def sample_world(svc: Service, opened_at: str = "2026-05-02 10:00") -> World:
    import_org(svc, CONFIG / "organisation.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, CONFIG / "cycles" / "sample-2026-04.yaml", now=at(opened_at))
    return World(svc, "snv-2026-04")


def approve_pool(svc: Service, cycle_id: str, calibrator: str, *, now: datetime) -> int:
    """The calibrator approves the pool, then whoever took on the evaluations the
    calibrator may not decide (their own among them: workflow.recusal) approves those.
    Returns how many evaluations moved on."""
    moved = calibration.approve(svc, cycle_id, calibrator, now=now)
    with svc.store.read() as s:
        takers = sorted(set(s.execute(select(ASSIGNMENT.c.person_id).join(
            EVALUATION, EVALUATION.c.id == ASSIGNMENT.c.evaluation_id).where(
            EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.state == State.CALIBRATION.value,
            ASSIGNMENT.c.role == "calibrator")).scalars()))
    for taker in takers:
        moved += calibration.approve(svc, cycle_id, taker, now=now)
    return moved


def move_class(svc: Service, evaluation_id: int, to_class: str, reason: str, calibrator: str,
               *, now: datetime) -> None:
    """``calibration.move_class`` by the calibrator, or by whoever took the evaluation on
    when the calibrator may not decide it (their own)."""
    with svc.store.read() as s:
        taker = s.execute(select(ASSIGNMENT.c.person_id).where(
            ASSIGNMENT.c.evaluation_id == evaluation_id,
            ASSIGNMENT.c.role == "calibrator")).scalar()
    calibration.move_class(svc, evaluation_id, to_class, reason, taker or calibrator, now=now)


TWO_AGENCY_SCOPES = (("A1", ("unit:BGD",)), ("E9", ("unit:BTC",)))


def _may(text: str, units: str, cycle_id: str) -> str:
    return (text.replace("two-2026-04", cycle_id).replace("April 2026", "May 2026")
            .replace("start: 2026-04-01, end: 2026-04-30", "start: 2026-05-01, end: 2026-05-31")
            .replace('"2026-05-04 08:00"', '"2026-06-01 08:00"')
            .replace("units: [BGD, P1, BTC, P9]", f"units: [{units}]"))


def two_agencies(new_service: Any, tmp_path: Path) -> Service:
    """The two-agency organisation (tests/data/two_agencies_*) with its April cycle open,
    A1 admin of SNV, E9 of STC, UB1 of everything, and a config folder of its own: May's
    cycle files of SNV (snv-2026-05.yaml), STC (stc-2026-05.yaml) and both
    (both-2026-05.yaml), and STC's quarterly series (series/stc-2026.yaml)."""
    config = tmp_path / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    (config / "cycles").mkdir()
    (config / "series").mkdir()
    base = (DATA / "two_agencies_cycle.yaml").read_text("utf-8")
    for name, units in (("stc", "BTC, P9"), ("snv", "BGD, P1"), ("both", "BGD, P1, BTC, P9")):
        (config / "cycles" / f"{name}-2026-05.yaml").write_text(
            _may(base, units, f"{name}-2026-05"), encoding="utf-8")
    shutil.copy(DATA / "two_agencies_series.yaml", config / "series" / "stc-2026.yaml")
    made = new_service(admins=("UB1",), admin_scope=TWO_AGENCY_SCOPES)
    svc = Service(made.store, replace(made.settings, config_dir=config))
    import_org(svc, DATA / "two_agencies_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, DATA / "two_agencies_cycle.yaml", now=at("2026-05-02 10:00"))
    return svc


def monthly_cycle_text(cycle_id: str, period: str, opens: str, s4_away: str | None) -> str:
    """tests/data/small_cycle.yaml as the monthly cycle ``cycle_id`` of a year (no
    calibration), with S4 left out for ``s4_away`` (the reason) when given."""
    text = ((DATA / "small_cycle.yaml").read_text(encoding="utf-8")
            .replace("id: t-2026-04", f"id: {cycle_id}")
            .replace("{kind: month, start: 2026-04-01, end: 2026-04-30}", period)
            .replace('opens: "2026-05-04 08:00"', f'opens: "{opens}"')
            .replace("calibration: {enabled: true, calibrator: D1}",
                     "calibration: {enabled: false}"))
    if s4_away is not None:
        text = text.replace("population: {units: [BGD, P1]}",
                            f"population: {{units: [BGD, P1], exclude: {{S4: {s4_away}}}}}")
    return text
