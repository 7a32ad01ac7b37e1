"""Read-only use cases: score explanation, audit verification (the status is in
``workflow.service.status``, light to import for `kpi status`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from workflow.domain import State, SubmissionKind, Trigger
from workflow.progress import SILENT, Progress
from workflow.scoring import Line, ScoreResult, lines, shown
from workflow.scoring.display import shown_total
from workflow.scoring.explain import Num, msg, pool_name
from workflow.service import audit_check
from workflow.service.core import Service, Snapshot, load_people, load_snapshot
from workflow.service.scoring_inputs import compute, score_basis
from workflow.service.status import status
from workflow.store import audit
from workflow.store.tables import (
    AUDIT,
    MOVE,
    SUBMISSION,
)


@dataclass(frozen=True)
class Explanation:
    evaluation_id: int
    reviewee_id: str
    reviewee_name: str
    locale: str  # the reviewee's language: the one the result email and page use
    state: str
    stored_score: str | None
    stored_class: str | None
    final_class: str | None
    result: ScoreResult | None
    stamp: dict[str, object]
    recomputed_matches: bool | None
    calibration_note: str | None
    lines: list[Line] = field(default_factory=list)  # the breakdown, in both languages
    stale: bool = False  # finalised, and the unit results changed after (see the lines)


def explain(svc: Service, evaluation_id: int) -> Explanation:
    """Recompute the score from the stored submissions with the stamped rules, line by line.

    The lines are the score's breakdown (``workflow.scoring.explain``) with the facts
    on the record around it: the appeal revision it comes from, calibration moves and
    quota caps, recomputations of a leader's unit results.
    """
    with svc.store.read() as session:
        snap = load_snapshot(svc, session, evaluation_id, lock=False)
        people = load_people(session, [snap.row.reviewee_id])
        basis = score_basis(session, evaluation_id)
        result = compute(session, snap, basis) if basis is not None else None
        facts = _facts(session, snap)
        withheld = _peers_withheld(session, snap)
    row = snap.row
    regime = snap.rules.regime
    matches = None
    if result is not None and row.score is not None:
        matches = (Decimal(row.score) == result.total
                   and row.score_class == result.class_id)
    note = None
    if row.final_class and row.score_class and row.final_class != row.score_class:
        note = (f"calibration moved the class from {row.score_class} to "
                f"{row.final_class}; the score did not change")
    out: list[Line] = []
    stamp = dict(row.score_stamp or {})
    if result is not None:
        out.append(Line("rules", "rules", 0, msg(
            "rules", regime=result.regime.id, regime_version=result.regime.version,
            framework=result.framework.id, framework_version=result.framework.version,
            hash=result.framework.content_hash[:12])))
        out.extend(facts["revision"])
        out.extend(lines(result, self_missing=bool(row.self_assessment_missing),
                         peers_withheld=withheld))
        out.extend(facts["moves"])
        cap = stamp.get("quota_cap")
        if isinstance(cap, dict):
            out.append(Line("quota", "quota", 0, msg(
                "quota_cap", cls=regime.band(str(cap["class"])).label,
                to_cls=regime.band(str(cap["to"])).label,
                pools=[pool_name(str(p)) for p in cap["pools"]])))
        out.extend(facts["recomputed"])
        if row.final_class and row.final_class != result.class_id:
            out.append(Line("final_class", "final_class", 0, msg(
                "final_class", cls=regime.band(row.final_class).label)))
    stale = bool(facts["stale"]) and row.state == State.FINALISED.value and matches is False
    if stale:
        # a mismatch needs a recomputed result and a recorded score
        assert result is not None and row.score is not None and row.score_class is not None
        # The recorded result stands: both are shown, the recorded one first.
        out.append(Line("recorded", "recorded", 0, msg(
            "recorded_vs_recomputed",
            stored=Num(shown_total(row.score, regime), regime.display.places),
            stored_cls=regime.band(row.score_class).label,
            total=Num(shown_total(result.total, regime), regime.display.places),
            cls=regime.band(result.class_id).label)))
        out.extend(facts["stale"])
    person = people.get(row.reviewee_id)
    return Explanation(evaluation_id, row.reviewee_id,
                       person.full_name if person else row.reviewee_id,
                       person.locale if person else "vi", row.state,
                       row.score, row.score_class, row.final_class, result,
                       stamp, matches, note, out, stale)


def _peers_withheld(session: Session, snap: Snapshot) -> tuple[int, int] | None:
    """(answers that arrived, the quorum) when the colleagues' input was left out."""
    if not snap.row.peer_quorum_not_reached:
        return None
    answered = int(session.execute(
        select(func.count()).select_from(SUBMISSION)
        .where(SUBMISSION.c.evaluation_id == snap.id,
               SUBMISSION.c.kind == SubmissionKind.PEER_INPUT.value)).scalar_one())
    quorum = snap.rules.min_peer_responses
    return (answered, quorum) if answered < quorum else None


def _facts(session: Session, snap: Snapshot) -> dict[str, list[Line]]:
    """What the record says happened to the score and class, as bilingual lines."""
    regime = snap.rules.regime
    out: dict[str, list[Line]] = {"revision": [], "moves": [], "recomputed": [], "stale": []}
    revisions = session.execute(
        select(SUBMISSION.c.author_id, SUBMISSION.c.submitted_at, SUBMISSION.c.payload)
        .where(SUBMISSION.c.evaluation_id == snap.id,
               SUBMISSION.c.kind == SubmissionKind.APPEAL_DECISION.value)
        .order_by(SUBMISSION.c.id)).all()
    revised = [r for r in revisions if r.payload.get("decision") == Trigger.REVISE_SCORE.value]
    if revised:
        r = revised[-1]
        out["revision"].append(Line("appeal", "appeal", 0, msg(
            "appeal_revised", by=r.author_id, at=f"{r.submitted_at:%Y-%m-%d}",
            reason=r.payload.get("reason") or "-")))
    quota = regime.quota
    for m in session.execute(select(MOVE).where(MOVE.c.evaluation_id == snap.id)
                             .order_by(MOVE.c.id)):
        # a row back up to the limited class is the calibrator's undo of a move
        undo = quota is not None and m.to_class == quota.limited_class
        out["moves"].append(Line("calibration", "calibration", 0, msg(
            "calibration_undone" if undo else "calibration",
            from_cls=regime.band(m.from_class).label,
            to_cls=regime.band(m.to_class).label, by=m.moved_by, at=f"{m.moved_at:%Y-%m-%d}",
            reason=m.reason)))
    for r in revisions:
        if r.payload.get("restore_class"):
            out["moves"].append(Line("calibration", "restored", 0, msg(
                "appeal_restored", cls=regime.band(snap.row.score_class or "").label,
                by=r.author_id, at=f"{r.submitted_at:%Y-%m-%d}",
                reason=r.payload.get("reason") or "-")))
    for a in session.execute(
            select(AUDIT.c.trigger, AUDIT.c.at, AUDIT.c.reason)
            .where(AUDIT.c.evaluation_id == snap.id,
                   AUDIT.c.trigger.in_(["recompute_unit_results", "unit_results_stale"]))
            .order_by(AUDIT.c.seq)):
        if a.trigger == "recompute_unit_results":
            out["recomputed"].append(Line("recomputed", "recomputed", 0, msg(
                "recomputed", at=f"{a.at:%Y-%m-%d}", reason=a.reason or "")))
        else:
            out["stale"].append(Line("stale", "stale", 0, msg("stale", reason=a.reason or "")))
    return out


def verify_audit(svc: Service, anchor: Mapping[str, Any] | None = None,
                 progress: Progress = SILENT) -> audit.VerifyResult:
    """The chain, what it vouches for, and an anchor when given (``audit_check.verify``)."""
    return audit_check.verify(svc, anchor, progress)


__all__ = ["explain", "shown", "status", "verify_audit"]
