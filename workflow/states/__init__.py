"""One module per state, each owning what that state owns (see ``base.StateSpec``)."""

from __future__ import annotations

from workflow.domain import State
from workflow.states import (
    appeal_review,
    appeal_window,
    calibration,
    cancelled,
    finalised,
    peer_input,
    self_assessment,
    supervisor_scoring,
)
from workflow.states.base import DeadlineRule, Notice, StateSpec

SPECS: dict[State, StateSpec] = {
    spec.state: spec
    for spec in (
        self_assessment.SPEC,
        peer_input.SPEC,
        supervisor_scoring.SPEC,
        calibration.SPEC,
        appeal_window.SPEC,
        appeal_review.SPEC,
        finalised.SPEC,
        cancelled.SPEC,
    )
}
assert set(SPECS) == set(State), "every state needs its module"

__all__ = ["SPECS", "DeadlineRule", "Notice", "StateSpec"]
