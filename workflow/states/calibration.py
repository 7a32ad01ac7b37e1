"""calibration: the evaluation waits until its quota pool's calibration is approved.

Calibration never changes a score; it may only move "excellent" down to "well
completed", each move with a reason, and the approval moves the whole pool on.
"""

from __future__ import annotations

from workflow.domain import State
from workflow.states.base import DeadlineRule, StateSpec

SPEC = StateSpec(
    state=State.CALIBRATION,
    summary="Waits for the calibrator to apply the quota and approve the pool.",
    waits_on="calibrator",
    # The calibrator's clock starts when the last evaluation of the pool is scored.
    deadline=DeadlineRule(moves_with=None, escalates=True, pool_level=True),
    # The calibrator is told once per cycle, when the pool is complete (service).
    on_enter=(),
)
