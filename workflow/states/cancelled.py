"""cancelled: terminal; an admin cancelled it with a reason (transfer, long leave,
created in error)."""

from __future__ import annotations

from workflow.domain import State
from workflow.states.base import Notice, StateSpec

SPEC = StateSpec(
    state=State.CANCELLED,
    summary="Terminal: cancelled by an admin, with a reason.",
    waits_on=None,
    deadline=None,
    on_enter=(Notice("cancelled", "reviewee"), Notice("cancelled", "supervisor")),
)
