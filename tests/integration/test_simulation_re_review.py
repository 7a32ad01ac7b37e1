"""The simulation follows a petition reviewed again, and the calibrator's substitute,
as the engine runs them.

The same random cycles as ``test_simulation_is_the_sweep`` (calendars near Tet and
National Day, the digest, downtime between sweeps, people acting or not), on a regime
with ``petition.re_review: true``: people petition, someone (the right reviewer or
not) upholds, people petition the decision again and someone decides that. The
calibrator D1 has a conflict of interest with S2 (the organisation file), so S2's
calibration is UB1's (``recusal.calibration``), with its own task, reminders, overdue
notices and ladder, and S2's petition goes past D1. Run through the real service and
through ``simulate``: both queue the same emails at the same instants and leave every
evaluation in the same state. (Derandomized: of the drawn cycles, several reach a first
decision and its fresh window, one a second review, and the calibration ones the
substitute's pool emails; measured when the test was written.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.test_simulation_is_the_sweep import (
    DECIDERS,
    DOWNTIME,
    EVERYONE,
    OPENINGS,
    STAFF,
    ZONES,
    Scenario,
    _cycle_text,
    simulated_beside_swept,
)
from tests.support import at, decree_335_changed, replayed
from workflow.domain import State

DAY = 24 * 60
CONFLICTS = {"D1": "S2"}


@st.composite
def re_review_scenarios(draw: st.DrawFn) -> Scenario:
    opens = draw(st.sampled_from(OPENINGS))
    calibration = draw(st.booleans())
    cycle = _cycle_text(draw, opens, calibration) + "recusal: {calibration: UB1}\n"
    zones = {p: draw(st.sampled_from(ZONES)) for p in EVERYONE}
    acts: list[tuple[int, str, str, int]] = []
    for person in STAFF if calibration else EVERYONE:
        if draw(st.booleans()):
            acts.append((draw(st.integers(0, 6 * DAY)), person, "self", 0))
        if calibration:  # the pool waits for its approval: nobody gets a result
            acts.append((draw(st.integers(24 * DAY, 30 * DAY)), person, "score", 0))
            continue
        if person not in STAFF:
            continue
        start = draw(st.integers(6 * DAY, 16 * DAY))
        acts.append((start, person, "score", 0))
        # Petition, decide, petition again, decide: each maybe, soon after the last.
        for step in ("appeal", "decide", "appeal", "decide"):
            if not draw(st.integers(0, 3)):
                break
            start = draw(st.integers(start + 60, start + 4 * DAY))
            acts.append((start, person, step,
                         draw(st.integers(0, len(DECIDERS) - 1)) if step == "decide" else 0))
    downtime = tuple(draw(st.lists(st.sampled_from(DOWNTIME), min_size=1, max_size=6)))
    return Scenario(cycle, at(f"{opens} 08:00"), zones, draw(st.booleans()), tuple(acts),
                    downtime, calibration)


def _config_with_re_review(folder: Path) -> Path:
    return decree_335_changed(folder, r"^  re_review: false.*$", "  re_review: true")


@pytest.mark.sqlite_only
@replayed(14)
@given(sc=re_review_scenarios())
def test_the_simulation_sends_what_the_sweep_sends_with_re_review_and_a_substitute(
        sc: Scenario, schema_template: Path) -> None:
    run = simulated_beside_swept(sc, schema_template, prefix="kpi-rr-",
                                 config_dir=_config_with_re_review, conflicts=CONFLICTS)
    assert run.rules.further_reviews == 1
    if sc.calibration and set(run.states.values()) == {State.CALIBRATION}:
        # The pool completed: the substitute's task was compared, not absent.
        assert [k for k in run.queued if k[0] == "task_calibration" and k[1] == "UB1"]

