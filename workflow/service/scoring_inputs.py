"""Gathering what a score is computed from, and the columns a score is stored in.

The inputs: the submissions (the supervisor's score, the reviewee's proposal, the
peers' answers when the quorum was reached), the recorded override facts, the
people a leader manages with their classes, and, for a longer period (the year
end), the finalised shorter periods of the same person with the imported ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlmodel import Session

from workflow.domain import State, SubmissionKind, Trigger
from workflow.errors import SubmissionInvalid
from workflow.scoring import (
    OverrideNote,
    PeriodScore,
    ScoreResult,
    ScoringInputs,
    SourceInput,
    Subordinate,
    TaskItem,
    Waiver,
    score,
)
from workflow.scoring.model import CriterionKind, Framework
from workflow.scoring.periods import PeriodStatus
from workflow.scoring.tasks import WAIVER_KINDS, Approver, confirm_waivers
from workflow.service import quota_guard
from workflow.service.core import Snapshot, taken_score_reads
from workflow.store import bulk
from workflow.store.tables import (
    AUDIT,
    CYCLE,
    EVALUATION,
    IMPORTED,
    OVERRIDE,
    PERSON,
    SUBMISSION,
)

SCORED_STATES = (State.CALIBRATION, State.APPEAL_WINDOW, State.APPEAL_REVIEW, State.FINALISED)


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
                quality_waiver=_waiver(t.get("quality_waiver")),
                progress_waiver=_waiver(t.get("progress_waiver")),
            )
            for t in raw_tasks
        ]
    return SourceInput(points=points, actuals=actuals, tasks=tasks)


def _waiver(stored: Mapping[str, Any] | None) -> Waiver | None:
    if not stored:
        return None
    return Waiver(str(stored.get("approver") or ""), str(stored.get("reason") or ""),
                  str(stored.get("approver_id") or ""))


def waiver_approvers(session: Session, snap: Snapshot) -> list[Approver]:
    """Who may confirm a deduction waiver for the reviewee of ``snap``, in line order.

    Every leader or deputy (``is_leader``) above the reviewee: the evaluation's
    supervisor (a named evaluator for the head of the agency) and the organisation's
    line above them; then the people the regime names (``waivers.approvers``: an
    employee id, a position or a position group). Never the reviewee; only active people.
    """
    reviewee = snap.row.reviewee_id
    found: list[Approver] = []
    seen = {reviewee}
    current: str | None = snap.row.supervisor_id
    while current is not None and current not in seen:
        seen.add(current)
        row = session.execute(select(PERSON.c.id, PERSON.c.full_name, PERSON.c.is_leader,
                                     PERSON.c.active, PERSON.c.supervisor_id)
                              .where(PERSON.c.id == current)).first()
        if row is None:
            break
        if row.is_leader and row.active:
            found.append(Approver(row.id, row.full_name))
        current = row.supervisor_id
    named = [n.strip() for n in snap.rules.regime.waivers.approvers if n.strip()]
    if named:
        keys = [n.casefold() for n in named]
        rows = session.execute(
            select(PERSON.c.id, PERSON.c.full_name, PERSON.c.position_id,
                   PERSON.c.position_group)
            .where(PERSON.c.active.is_(True), PERSON.c.id != reviewee)
            .order_by(PERSON.c.id)).all()
        listed = {a.person_id for a in found}
        for r in rows:
            if r.id not in listed and any(k in keys for k in (
                    r.id.casefold(), r.position_id.casefold(), r.position_group.casefold())):
                found.append(Approver(r.id, r.full_name))
    return found


def confirm_score_waivers(session: Session, snap: Snapshot, trigger: Trigger,
                          clean: dict[str, Any]) -> dict[str, Any]:
    """A validated score (or appeal revision) with each waiver's approver recognised as a
    person allowed to confirm it; SubmissionInvalid naming the item and who may, else."""
    score_payload = clean.get("score") if trigger is Trigger.REVISE_SCORE else clean
    items = (score_payload or {}).get("tasks")
    if not items or not any(t.get(k) for t in items for k in WAIVER_KINDS):
        return clean
    confirmed, problems = confirm_waivers(items, waiver_approvers(session, snap))
    if problems:
        raise SubmissionInvalid(snap.id, problems)
    if trigger is Trigger.REVISE_SCORE:
        return {**clean, "score": {**clean["score"], "tasks": confirmed}}
    return {**clean, "tasks": confirmed}


def submissions_of(session: Session, evaluation_id: int, kind: SubmissionKind
                   ) -> list[dict[str, Any]]:
    """Every submission of ``kind`` on the evaluation, oldest first, with its author."""
    rows = session.execute(
        select(SUBMISSION.c.payload, SUBMISSION.c.author_id)
        .where(SUBMISSION.c.evaluation_id == evaluation_id, SUBMISSION.c.kind == kind.value)
        .order_by(SUBMISSION.c.id)
    ).all()
    return [dict(r.payload, _author=r.author_id) for r in rows]


def score_basis(session: Session, evaluation_id: int) -> dict[str, Any] | None:
    """The score payload in force: the last appeal revision, else the last supervisor score."""
    revisions = [p for p in submissions_of(session, evaluation_id,
                                           SubmissionKind.APPEAL_DECISION)
                 if p.get("decision") == Trigger.REVISE_SCORE.value]
    if revisions:
        return dict(revisions[-1]["score"])
    scores = submissions_of(session, evaluation_id, SubmissionKind.SUPERVISOR_SCORE)
    return scores[-1] if scores else None


def framework_of(snap: Snapshot) -> Framework:
    """The framework the evaluation was opened with (by content hash)."""
    fw = snap.rules.frameworks.get(snap.row.framework_hash)
    if fw is None:
        raise KeyError(f"framework {snap.row.framework_hash[:12]} of evaluation {snap.id}")
    return fw


def subordinates_of(session: Session, snap: Snapshot) -> list[Subordinate]:
    """The people the reviewee manages in this cycle, with their classes.

    ``scope: subtree``: everyone below them in the cycle's supervisor tree (a recursive
    query, so a head of agency sees the whole agency); ``direct``: their direct reports.
    Cancelled evaluations are not counted, but the tree goes on through them.
    """
    rule = snap.rules.regime.unit_results
    cycle_id, leader = snap.row.cycle_id, snap.row.reviewee_id
    if rule is not None and rule.scope == "subtree":
        below = (select(EVALUATION.c.reviewee_id)
                 .where(EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.supervisor_id == leader)
                 .cte("below", recursive=True))
        deeper = EVALUATION.alias("deeper")
        below = below.union(select(deeper.c.reviewee_id).where(
            deeper.c.cycle_id == cycle_id, deeper.c.supervisor_id == below.c.reviewee_id))
        who: ColumnElement[bool] = EVALUATION.c.reviewee_id.in_(select(below.c.reviewee_id))
    else:
        who = EVALUATION.c.supervisor_id == leader
    rows = session.execute(
        select(EVALUATION.c.reviewee_id, EVALUATION.c.final_class, EVALUATION.c.score_class)
        .where(EVALUATION.c.cycle_id == cycle_id, who,
               EVALUATION.c.reviewee_id != leader,
               EVALUATION.c.state != State.CANCELLED.value)
        .order_by(EVALUATION.c.reviewee_id)).all()
    return [Subordinate(r.reviewee_id, r.final_class or r.score_class) for r in rows]


def _cancel_reasons(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(AUDIT.c.evaluation_id, AUDIT.c.reason)
        .where(AUDIT.c.evaluation_id.in_(ids), AUDIT.c.trigger == Trigger.CANCEL.value)
        .order_by(AUDIT.c.seq)).all()
    return {r.evaluation_id: r.reason or "" for r in rows}


def periods_of(session: Session, snap: Snapshot) -> list[PeriodScore]:
    """The shorter periods of the reviewee within this cycle's period, with the imported ones.

    Those of this database: every cycle of the same regime whose period lies inside
    this one (this cycle excluded); finalised ones are worked, cancelled ones carry
    the reason they were cancelled (leave, transfer), others are not finalised yet.
    """
    reviewee = snap.row.reviewee_id
    return periods_of_people(session, snap.row.cycle_id, snap.rules.config.period,
                             snap.rules.regime.id, [reviewee]).get(reviewee, [])


def periods_of_people(session: Session, cycle_id: str, period: Any, regime_id: str,
                      reviewee_ids: Sequence[str]) -> dict[str, list[PeriodScore]]:
    """``periods_of`` for several people of one cycle at once (the report's year-end
    notes): two statements, whatever their number."""
    if not reviewee_ids:
        return {}
    rows = session.execute(
        select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.state,
               EVALUATION.c.score, EVALUATION.c.final_class, EVALUATION.c.score_stamp,
               CYCLE.c.id.label("cycle"), CYCLE.c.period_start, CYCLE.c.period_end)
        .join(CYCLE, CYCLE.c.id == EVALUATION.c.cycle_id)
        .where(EVALUATION.c.reviewee_id.in_(list(reviewee_ids)),
               CYCLE.c.id != cycle_id,
               CYCLE.c.regime_id == regime_id,
               CYCLE.c.period_start >= period.start, CYCLE.c.period_end <= period.end)
        .order_by(CYCLE.c.period_start, CYCLE.c.id)).all()
    rows = [r for r in rows if (r.period_start, r.period_end) != (period.start, period.end)]
    reasons = _cancel_reasons(session, [r.id for r in rows
                                        if r.state == State.CANCELLED.value])
    out: dict[str, list[PeriodScore]] = {}
    for r in rows:
        status: PeriodStatus = ("worked" if r.state == State.FINALISED.value else
                                "cancelled" if r.state == State.CANCELLED.value else "open")
        groups = {k: Decimal(v) for k, v in ((r.score_stamp or {}).get("groups") or {}).items()}
        out.setdefault(r.reviewee_id, []).append(PeriodScore(
            r.cycle, r.period_start, r.period_end, status,
            groups if status == "worked" else {},
            Decimal(r.score) if r.score and status == "worked" else None,
            r.final_class if status == "worked" else None, "", reasons.get(r.id, "")))
    for r in session.execute(
            select(IMPORTED).where(IMPORTED.c.cycle_id == cycle_id,
                                   IMPORTED.c.person_id.in_(list(reviewee_ids)))
            .order_by(IMPORTED.c.period_start)):
        status = "worked" if r.status == "worked" else "leave"
        start: date = r.period_start
        out.setdefault(r.person_id, []).append(PeriodScore(
            f"{start:%Y-%m}", start, r.period_end, status,
            {k: Decimal(v) for k, v in (r.groups or {}).items()},
            Decimal(r.total) if r.total else None, r.class_id, r.source_agency, r.document))
    return out


# The submissions a score reads (the reviewee's, the peers') and the evaluation's
# override facts, in one statement on the driver's cursor: a supervisor's score sent
# three queries through SQLAlchemy, each built, compiled and processed again (issue 16).
_SCORE_READS = (
    "SELECT 0, s.id, s.kind, s.payload, s.author_id, NULL, NULL, NULL, NULL "
    "FROM submission s WHERE s.evaluation_id = {p} AND s.kind IN ({p}, {p}) UNION ALL "
    "SELECT 1, o.id, NULL, NULL, NULL, o.override_id, o.source_document, o.recorded_by, "
    "o.recorded_at FROM overridefact o WHERE o.evaluation_id = {p} ORDER BY 1, 2")
_SCORE_READS_SQL = {"sqlite": _SCORE_READS.format(p="?"),
                    "postgresql": _SCORE_READS.format(p="%s")}


def _score_reads(session: Session, evaluation_id: int
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[OverrideNote]]:
    """The evaluation's self-assessments and peer answers (oldest first, each with its
    ``_author``, as ``submissions_of`` gives them) and its override facts."""
    # A step's snapshot read them already (core.SCORE_READS), decoded; else one query.
    rows = taken_score_reads(session, evaluation_id)
    if rows is None:
        dialect = bulk.dialect(session)
        payload_of, recorded_at_of = bulk.result_processors(
            dialect, [SUBMISSION.c.payload, OVERRIDE.c.recorded_at])
        rows = [(part, id_, kind,
                 payload_of(payload) if payload_of and payload is not None else payload,
                 author, override_id, document, by,
                 recorded_at_of(at) if recorded_at_of and at is not None else at)
                for part, id_, kind, payload, author, override_id, document, by, at
                in bulk.query(session, _SCORE_READS_SQL[dialect.name], (
                    evaluation_id, SubmissionKind.SELF_ASSESSMENT.value,
                    SubmissionKind.PEER_INPUT.value, evaluation_id))]
    selfs: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    notes: list[OverrideNote] = []
    for part, _id, kind, payload, author, override_id, document, by, at in rows:
        if part == 0:
            (selfs if kind == SubmissionKind.SELF_ASSESSMENT.value else peers).append(
                dict(payload, _author=author))
        else:
            notes.append(OverrideNote(override_id, document, by, at.isoformat()))
    return selfs, peers, notes


def inputs_for(session: Session, snap: Snapshot, supervisor_payload: Mapping[str, Any]
               ) -> ScoringInputs:
    """Everything the score of ``snap`` depends on, with ``supervisor_payload`` as the score."""
    framework = framework_of(snap)
    selfs, peers, overrides = _score_reads(session, snap.id)
    # Fewer answers than the quorum are withheld from everyone, the score included.
    if len(peers) < snap.rules.min_peer_responses:
        peers = []
    return ScoringInputs(
        supervisor=source_input(supervisor_payload),
        self_assessment=source_input(selfs[-1]) if selfs else None,
        peers=[source_input(p) for p in peers],
        subordinates=(subordinates_of(session, snap)
                      if framework.has(CriterionKind.UNIT_RESULTS) else None),
        overrides=overrides,
        is_leader=bool(snap.row.is_leader),
        periods=periods_of(session, snap) if framework.has(CriterionKind.PERIOD_MEAN) else None,
    )


def compute(session: Session, snap: Snapshot, supervisor_payload: Mapping[str, Any]
            ) -> ScoreResult:
    """The score of ``snap`` with ``supervisor_payload`` as the score given."""
    return score(snap.rules.regime, framework_of(snap),
                 inputs_for(session, snap, supervisor_payload))


def scored_values(session: Session, snap: Snapshot, result: ScoreResult) -> dict[str, Any]:
    """The evaluation's columns for a (re)computed score: score, classes, stamp.

    The final class is the class of the score, except that calibration has a say:
    while the evaluation waits in calibration, a move the calibrator made stands as
    long as the score still earns the limited class; after the pool's calibration was
    approved, the limited class is given only where the pool still has room for it
    (else the class the quota moves it to, on the record in the stamp), so a later
    appeal or recomputation never breaks an approved quota.
    """
    quota = snap.rules.regime.quota
    final = result.class_id
    stored = result.stamp
    moved = (quota is not None and snap.state is State.CALIBRATION
             and snap.row.score_class == quota.limited_class
             and snap.row.final_class == quota.may_move_to)
    if moved and quota is not None and final == quota.limited_class:
        final = quota.may_move_to
    else:
        full = quota_guard.full_pools(session, snap, final)
        if full and quota is not None:
            stored["quota_cap"] = {"class": final, "to": quota.may_move_to, "pools": full}
            final = quota.may_move_to
    return {"score": str(result.total), "score_class": result.class_id, "final_class": final,
            "score_stamp": stored}


__all__ = ["SCORED_STATES", "compute", "confirm_score_waivers", "framework_of", "inputs_for",
           "score_basis", "scored_values", "source_input", "submissions_of",
           "waiver_approvers"]
