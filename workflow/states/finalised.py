"""finalised: terminal and read-only; only an admin may reopen it, with a reason."""

from __future__ import annotations

from workflow.domain import State, Trigger
from workflow.states.base import Notice, StateSpec, TriggerContext, TriggerEffect


def reopened(_ctx: TriggerContext) -> TriggerEffect:
    """A reopened evaluation says so for good: its record shows it was corrected. Its
    new result starts a new petition count: the appeals already lodged stay on the
    record and bar another (the reopening is the correction they asked for)."""
    return TriggerEffect(values={"reopened": True, "petition_round": 0})


SPEC = StateSpec(
    state=State.FINALISED,
    summary="Terminal, read-only, exported to the personnel record.",
    waits_on=None,
    deadline=None,
    on_enter=(Notice("finalised", "reviewee"),),
    on_enter_by={
        Trigger.UPHOLD_SCORE: (Notice("appeal_decided", "reviewee"),),
        Trigger.REVISE_SCORE: (Notice("appeal_decided", "reviewee"),
                               Notice("appeal_decided", "supervisor")),
    },
    effects={Trigger.REOPEN: reopened},
)
