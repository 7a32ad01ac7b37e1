"""Form fields named as people read them: a problem's field is shown by its label
(the criterion's, "Item 3: Title"), never by its path (``criteria.innovation.points``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from workflow.catalog import N_
from workflow.scoring.model import Framework, Regime

if TYPE_CHECKING:
    from workflow.web.context import Req



_TASK_FIELD = re.compile(r"^tasks\[(\d{1,4})\](?:\.(\w+))?(?:\.(\w+))?$")
FIELD_WORDS = {
    "evidence": N_("Evidence"), "title": N_("Title"), "completed": N_("Completed"),
    "meets_requirements": N_("Meets the requirements"),
    "failed_assessments": N_("Failed assessments"), "delays": N_("Delays"),
    "quality_waiver": N_("Quality deduction waived (objective cause)"),
    "progress_waiver": N_("Progress deduction waived (objective cause)"),
    "approver": N_("Confirmed by"), "reason": N_("Reason"), "note": N_("Note"),
    "comment": N_("Comment"), "reasons": N_("Your reasons"), "revise_reason": N_("Reason"),
    "tasks": N_("Assigned products and work items"), "score": N_("The new score"),
    "email": N_("Email address"), "new_due": N_("New deadline (local time)"),
    "approved_by": N_("Approved by"), "new_supervisor": N_("New supervisor (employee id)"),
    "new_peer": N_("New peer (employee id)"), "supervisor": N_("Supervisor (employee id)"),
    "acting": N_("Acting supervisor (employee id)"), "until": N_("Until (local time)"),
}


def field_namer(req: Req, framework: Framework | None, regime: Regime | None
                ) -> Callable[[str], str]:
    """A form field's path (``criteria.innovation.points``, ``tasks[2].title``) as the
    person reads it: the criterion's label, "Item 3: Title"; never the path itself."""
    criteria = {c.id: c.label for c in framework.criteria} if framework else {}
    groups = {g.id: g.label for g in regime.groups} if regime else {}

    def word(key: str) -> str:
        message = FIELD_WORDS.get(key)
        return req.gettext(message) if message else ""

    def name(path: str) -> str:
        path = path.removeprefix("score.")
        for prefix in ("criteria.", "ratios."):
            if path.startswith(prefix):
                cid, _, part = path[len(prefix):].partition(".")
                label = req.label(criteria.get(cid)) if cid in criteria else ""
                extra = word(part) if part not in ("", "points", "actual") else ""
                return f"{label} ({extra})" if label and extra else label
        m = _TASK_FIELD.match(path)
        if m:
            item = req.gettext("Item %(n)s", n=int(m.group(1)) + 1)
            parts = [word(p) for p in (m.group(2), m.group(3)) if p]
            return ": ".join([item, *[p for p in parts if p]])
        if path in groups:
            return req.label(groups[path])
        tail = path.rpartition(".")[2]  # "<cycle>.acting", "cancel_reason"
        return word(tail) or word(tail.rpartition("_")[2])

    return name

