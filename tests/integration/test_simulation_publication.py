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

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.test_simulation_is_the_sweep import (
    DOWNTIME,
    OPENINGS,
    STAFF,
    ZONES,
    Scenario,
    _cycle_text,
    simulated_beside_swept,
)
from tests.support import at, decree_335_changed, replayed
from workflow.domain import State

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
    return decree_335_changed(folder, r"^  starts: notification", "  starts: publication")


@pytest.mark.sqlite_only
@replayed(12)
@given(sc=publication_scenarios())
def test_the_simulation_starts_the_petition_window_at_the_units_publication(
        sc: Scenario, schema_template: Path) -> None:
    run = simulated_beside_swept(sc, schema_template, prefix="kpi-pub-",
                                 config_dir=_config_from_publication)
    assert run.rules.petition_from_publication
    if State.SUPERVISOR_SCORING not in run.states.values():
        # Everyone got a result: the unit was published and the emails compared
        # include the publication's, not vacuously absent.
        published = [k for k in run.queued if k[0] == PUBLISHED]
        assert published, sorted(run.queued)
        assert len({k[3] for k in published}) == 1  # one instant: the last score
