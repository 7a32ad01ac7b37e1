"""The simulation starts the petition window at the unit's publication, as the engine does.

Where the regime runs the petition window from the publication of the unit's results
(``petition.starts: publication``), an evaluation entering the appeal window waits with
no deadline until every evaluation of its unit has its result; then each waiting
window gets its deadline, reminders and the reviewee's ``results_published`` email
(``service/publication.py``). `kpi cycle check`'s simulation models it: the same random
cycles as ``test_simulation_is_the_sweep`` (calendars near Tet and National Day, the
digest, downtime between sweeps, people acting or not), with the unit's staff all
scored at random instants and answering, or not, before and after the publication;
run through the real service and through ``simulate``, both queue the same emails at
the same instants and leave every evaluation in the same state.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import make_settings
from tests.integration.test_simulation_is_the_sweep import (
    DOWNTIME,
    OPENINGS,
    STAFF,
    ZONES,
    Scenario,
    _actions,
    _cycle_text,
    _outbox,
    _run_real,
    _seed,
)
from tests.support import CONFIG, at
from workflow.domain import State
from workflow.service.core import Service
from workflow.service.cycles import load_for_open, open_cycle
from workflow.service.notices import DIGEST_EVENT
from workflow.service.simulate import simulate_cycle
from workflow.store.db import Store
from workflow.store.tables import EVALUATION

PUBLISHED = "results_published"
EVERYONE = ("D1", "H1", "S1", "S2", "S3", "S4", "A1")
DAY = 24 * 60


@st.composite
def publication_scenarios(draw: st.DrawFn) -> Scenario:
    opens = draw(st.sampled_from(OPENINGS))
    cycle = _cycle_text(draw, opens, calibration=False)
    # Only staff, all of them scored: unit P1 gets its results, one score at a time.
    cycle = cycle.replace("population: {units: [BGD, P1]}\nevaluators: {D1: UB1}\n",
                          'population: {units: [BGD, P1], exclude: {D1: "Giám đốc <b>Sở</b>",'
                          ' H1: "leader \'on leave\'"}}\n')
    assert "exclude" in cycle
    zones = {p: draw(st.sampled_from(ZONES)) for p in EVERYONE}
    acts: list[tuple[int, str, str, int]] = []
    for person in STAFF:
        if draw(st.booleans()):
            acts.append((draw(st.integers(0, 6 * DAY)), person, "self", 0))
        for peer in range(2):
            if draw(st.booleans()):
                acts.append((draw(st.integers(0, 12 * DAY)), person, "peer", peer))
        acts.append((draw(st.integers(24 * DAY, 30 * DAY)), person, "score", 0))
        respond = draw(st.sampled_from(["none", "accept", "appeal"]))
        if respond != "none":  # before the publication, or after it, or too late
            acts.append((draw(st.integers(24 * DAY, 45 * DAY)), person, respond, 0))
    downtime = tuple(draw(st.lists(st.sampled_from(DOWNTIME), min_size=1, max_size=6)))
    return Scenario(cycle, at(f"{opens} 08:00"), zones, draw(st.booleans()), tuple(acts),
                    downtime, False)


def _config_from_publication(folder: Path) -> Path:
    """The project's config with Decree 335's petition window run from publication."""
    config = folder / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    regime = config / "regimes" / "vn-decree-335-2025.yaml"
    text = regime.read_text(encoding="utf-8")
    assert "  starts: notification" in text
    regime.write_text(text.replace("  starts: notification", "  starts: publication"),
                      encoding="utf-8")
    return config


@pytest.mark.sqlite_only
@settings(max_examples=12, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sc=publication_scenarios())
def test_the_simulation_starts_the_petition_window_at_the_units_publication(
        sc: Scenario, schema_template: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="kpi-pub-") as tmp:
        folder = Path(tmp)
        db = folder / "kpi.sqlite3"
        shutil.copy(schema_template, db)
        url = f"sqlite:///{db}"
        svc = Service(Store(url), replace(make_settings(url, digest_enabled=sc.digest),
                                          config_dir=_config_from_publication(folder)))
        try:
            _seed(svc, folder, sc)
            opened_at = sc.opens - timedelta(days=2)
            _, rules = load_for_open(svc, folder / "cycle.yaml")
            assert rules.petition_from_publication
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
            if State.SUPERVISOR_SCORING not in states.values():
                # Everyone got a result: the unit was published and the emails compared
                # include the publication's, not vacuously absent.
                published = [k for k in queued if k[0] == PUBLISHED]
                assert published, sorted(queued)
                assert len({k[3] for k in published}) == 1  # one instant: the last score
        finally:
            svc.store.dispose()
