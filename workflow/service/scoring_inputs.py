"""Gathering what a score is computed from: the submissions, the overrides, the team."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import State, SubmissionKind
from workflow.scoring import ScoreResult, ScoringInputs, SourceInput, TaskItem, Waiver, score
from workflow.scoring.model import Framework
from workflow.service.core import EVALUATION, Snapshot
from workflow.store.tables import OverrideFact, Submission

SUBMISSION = Submission.__table__  # type: ignore[attr-defined]
OVERRIDE = OverrideFact.__table__  # type: ignore[attr-defined]


def source_input(payload: Mapping[str, Any]) -> SourceInput:
    """A validated form payload as the scoring module's input."""
    points = {k: Decimal(v["points"]) for k, v in (payload.get("criteria") or {}).items()
              if v.get("points") not in (None, "")}
    actuals = {k: Decimal(v["actual"]) for k, v in (payload.get("ratios") or {}).items()
               if v.get("actual") not in (None, "")}
    raw_tasks = payload.get("tasks")
    tasks = None
    if raw_tasks is not None:
        tasks = [
            TaskItem(
                title=t["title"], completed=bool(t["completed"]),
                meets_requirements=bool(t.get("meets_requirements")),
                failed_assessments=int(t.get("failed_assessments") or 0),
                delays=int(t.get("delays") or 0),
                quality_waiver=Waiver(**t["quality_waiver"]) if t.get("quality_waiver") else None,
                progress_waiver=(Waiver(**t["progress_waiver"])
                                 if t.get("progress_waiver") else None),
            )
            for t in raw_tasks
        ]
    return SourceInput(points=points, actuals=actuals, tasks=tasks)


def submissions_of(session: Session, evaluation_id: int, kind: SubmissionKind
                   ) -> list[dict[str, Any]]:
    rows = session.execute(
        select(SUBMISSION.c.payload, SUBMISSION.c.author_id)
        .where(SUBMISSION.c.evaluation_id == evaluation_id, SUBMISSION.c.kind == kind.value)
        .order_by(SUBMISSION.c.id)
    ).all()
    return [dict(r.payload, _author=r.author_id) for r in rows]


def framework_of(snap: Snapshot) -> Framework:
    fw = snap.rules.frameworks.get(snap.row["framework_hash"])
    if fw is None:
        raise KeyError(f"framework {snap.row['framework_hash'][:12]} of evaluation {snap.id}")
    return fw


def inputs_for(session: Session, snap: Snapshot, supervisor_payload: Mapping[str, Any]
               ) -> ScoringInputs:
    """Everything the score of ``snap`` depends on, with ``supervisor_payload`` as the score."""
    selfs = submissions_of(session, snap.id, SubmissionKind.SELF_ASSESSMENT)
    peers = submissions_of(session, snap.id, SubmissionKind.PEER_INPUT)
    # Fewer answers than the quorum are withheld from everyone, the score included.
    if len(peers) < snap.rules.min_peer_responses:
        peers = []
    overrides = [r.override_id for r in session.execute(
        select(OVERRIDE.c.override_id).where(OVERRIDE.c.evaluation_id == snap.id))]
    subordinate_classes = None
    if snap.row["is_leader"]:
        subordinate_classes = [
            r.final_class or r.score_class for r in session.execute(
                select(EVALUATION.c.final_class, EVALUATION.c.score_class).where(
                    EVALUATION.c.cycle_id == snap.row["cycle_id"],
                    EVALUATION.c.supervisor_id == snap.row["reviewee_id"],
                    EVALUATION.c.state != State.CANCELLED.value,
                    EVALUATION.c.score_class.is_not(None)))
        ]
    return ScoringInputs(
        supervisor=source_input(supervisor_payload),
        self_assessment=source_input(selfs[-1]) if selfs else None,
        peers=[source_input(p) for p in peers],
        subordinate_classes=subordinate_classes,
        overrides=overrides,
        is_leader=bool(snap.row["is_leader"]),
    )


def compute(session: Session, snap: Snapshot, supervisor_payload: Mapping[str, Any]
            ) -> ScoreResult:
    return score(snap.rules.regime, framework_of(snap),
                 inputs_for(session, snap, supervisor_payload))
