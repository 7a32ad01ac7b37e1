"""One planned change of an evaluation, and the facts its emails show.

A ``Change`` is a value: ``transition.plan`` (and the sweep, the records, the
leaders' recomputation) build them; ``transition.write`` stores them. It sits below
both so that ``leaders`` can plan a leader's recomputation without importing
``transition``, which calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from workflow.domain import Role, State
from workflow.evaluation_rows import EvaluationRecord
from workflow.scoring import shown, shown_total
from workflow.scoring.display import shown_breakdown
from workflow.service.core import PersonInfo, Snapshot
from workflow.service.notices import Mail
from workflow.store import audit


@dataclass
class Change:
    """Everything one trigger does to one evaluation, before it is written."""

    evaluation_id: int
    cycle_id: str
    expected_version: int
    from_state: State
    to_state: State
    action: str  # the trigger's value, or a record's name (escalate, extend, reassign...)
    actor_id: str
    role: Role
    at: datetime
    values: dict[str, Any]
    submission: dict[str, Any] | None = None
    assignment_status: list[tuple[int, str]] = field(default_factory=list)
    new_assignments: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    mail: Mail = field(default_factory=lambda: Mail([], []))
    audit: list[audit.AuditEntry] = field(default_factory=list)
    # Kinds of the phase's pending timers that ``timers`` replace (all when it moves).
    cancel_kinds: tuple[str, ...] = ()

    @property
    def moves(self) -> bool:
        return self.from_state is not self.to_state


def result_context(snap: Snapshot, row: EvaluationRecord) -> dict[str, Any]:
    """The facts a result email shows: score, class, breakdown, appeal deadline."""
    regime = snap.rules.regime
    class_id = row.final_class or row.score_class
    score = row.score
    ctx: dict[str, Any] = {"class_id": class_id,
                           "score": None if score in (None, "")
                           else str(shown_total(Decimal(str(score)), regime))}
    if class_id:
        band = regime.band(class_id)
        ctx["class_label"] = {"en": band.label.en, "vi": band.label.vi}
    # Each line rounded by the regime's display rule, adding up to the shown total.
    ctx["breakdown"] = shown_breakdown(score, row.score_stamp, regime)
    petition = regime.petition
    if petition is not None and petition.starts == "publication" and row.due_at is None:
        # No date yet: the window runs from the unit's publication; the email says how long.
        ctx["petition_window"] = {"days": petition.window.days,
                                  "working_days": petition.window.working_days}
    return ctx


def shown_or_none(value: Any) -> str | None:
    return None if value in (None, "") else shown(Decimal(str(value)))


def base_context(snap: Snapshot, row: EvaluationRecord, people: Mapping[str, PersonInfo]
                 ) -> dict[str, Any]:
    reviewee = people.get(row.reviewee_id)
    config = snap.rules.config
    due = row.due_at
    return {
        "cycle_id": snap.row.cycle_id, "cycle_name": config.name,
        "period_start": config.period.start.isoformat(),
        "period_end": config.period.end.isoformat(),
        "evaluation_id": snap.id, "reviewee_id": row.reviewee_id,
        "reviewee_name": reviewee.full_name if reviewee else row.reviewee_id,
        "state": row.state.value, "due_at": due.isoformat() if due else None,
        "cycle_timezone": config.timezone,
    }
