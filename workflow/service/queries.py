"""Read-only use cases: status, score explanation, audit verification.

Status aggregates in SQL (GROUP BY), never row by row, so it answers as fast for a
province as for a unit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, case, func, select
from sqlmodel import Session

from workflow.clock import utc_now
from workflow.domain import OPEN_STATES, State, SubmissionKind, Trigger
from workflow.errors import CycleNotFound
from workflow.scoring import Line, ScoreResult, lines, shown
from workflow.scoring.explain import msg, pool_name
from workflow.service import audit_check
from workflow.service.core import Service, Snapshot, load_people, load_snapshot
from workflow.service.rowtypes import DeadLetter, OverdueItem
from workflow.service.scoring_inputs import compute, score_basis
from workflow.store import audit
from workflow.store.tables import (
    AUDIT,
    CYCLE,
    EVALUATION,
    MOVE,
    OUTBOX,
    PERSON,
    SUBMISSION,
    UNIT,
)


@dataclass
class CycleStatus:
    cycle_id: str
    name: str
    by_state: dict[str, int] = field(default_factory=dict)
    by_unit: dict[str, dict[str, int]] = field(default_factory=dict)  # unit -> state -> n
    unit_names: dict[str, str] = field(default_factory=dict)
    overdue: list[OverdueItem] = field(default_factory=list)
    overdue_count: int = 0
    flags: dict[str, int] = field(default_factory=dict)


@dataclass
class Status:
    cycles: list[CycleStatus]
    outbox: dict[str, int]
    dead_letters: list[DeadLetter]


def status(svc: Service, cycle_id: str | None = None, *, now: datetime | None = None,
           overdue_limit: int = 20, units: Collection[str] | None = None) -> Status:
    """Progress by state and unit, overdue items, and the outbox (dead letters first).

    ``units``: only the evaluations of these units (an admin of some agencies,
    workflow/service/admin_scope.py), their emails included; None: everything."""
    now = now or utc_now()
    in_units = () if units is None else (EVALUATION.c.unit_id.in_(sorted(units)),)
    with svc.store.read() as session:
        cycles_q = select(CYCLE.c.id, CYCLE.c.name).order_by(CYCLE.c.opened_at)
        if cycle_id:
            cycles_q = cycles_q.where(CYCLE.c.id == cycle_id)
        cycles = session.execute(cycles_q).all()
        if cycle_id and not cycles:
            raise CycleNotFound(cycle_id)
        units = dict(session.execute(select(UNIT.c.id, UNIT.c.name)).all())
        out: list[CycleStatus] = []
        for c in cycles:
            cs = CycleStatus(c.id, c.name)
            for unit_id, state, n in session.execute(
                select(EVALUATION.c.unit_id, EVALUATION.c.state, func.count())
                .where(EVALUATION.c.cycle_id == c.id, *in_units)
                .group_by(EVALUATION.c.unit_id, EVALUATION.c.state)
            ):
                cs.by_unit.setdefault(unit_id, {})[state] = n
                cs.by_state[state] = cs.by_state.get(state, 0) + n
                cs.unit_names[unit_id] = units.get(unit_id, unit_id)
            cs.flags = _flag_sums(session, c.id, in_units)
            overdue_filter = (EVALUATION.c.cycle_id == c.id, *in_units, EVALUATION.c.due_at < now,
                              EVALUATION.c.state.in_([s.value for s in OPEN_STATES]))
            cs.overdue_count = int(session.execute(
                select(func.count()).select_from(EVALUATION).where(*overdue_filter)
            ).scalar_one())
            rows = session.execute(
                select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.state,
                       EVALUATION.c.due_at, EVALUATION.c.supervisor_id,
                       EVALUATION.c.appeal_reviewer_id, EVALUATION.c.escalation_level)
                .where(*overdue_filter).order_by(EVALUATION.c.due_at).limit(overdue_limit)
            ).all()
            people = load_people(session, [r.reviewee_id for r in rows])
            cs.overdue = [OverdueItem(
                evaluation_id=r.id, reviewee_id=r.reviewee_id,
                reviewee_name=people[r.reviewee_id].full_name if r.reviewee_id in people
                else r.reviewee_id,
                state=State(r.state), due_at=r.due_at, waiting_on=_waiting_on(r),
                escalation_level=r.escalation_level,
            ) for r in rows]
            out.append(cs)
        mail = OUTBOX if units is None else OUTBOX.join(
            EVALUATION, EVALUATION.c.id == OUTBOX.c.evaluation_id)
        outbox = dict(session.execute(
            select(OUTBOX.c.status, func.count()).select_from(mail).where(*in_units)
            .group_by(OUTBOX.c.status)).all())
        # With the recipient's address as the organisation has it now: a retry goes
        # there (notifications/outbox.py), so an admin sees whether HR corrected it.
        dead = [DeadLetter(**r._mapping) for r in session.execute(
            select(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.recipient_email, OUTBOX.c.attempts,
                   OUTBOX.c.last_error, OUTBOX.c.evaluation_id,
                   PERSON.c.email.label("current_email"))
            .select_from(mail.outerjoin(PERSON, PERSON.c.id == OUTBOX.c.recipient_id))
            .where(OUTBOX.c.status == "dead", *in_units).order_by(OUTBOX.c.id).limit(50))]
    return Status(out, outbox, dead)


def _flag_sums(session: Session, cycle_id: str, where: tuple[Any, ...] = ()) -> dict[str, int]:
    names = ("self_assessment_missing", "peer_quorum_not_reached", "escalated", "extended",
             "reopened")
    cols = [func.sum(case((EVALUATION.c[n].is_(True), 1), else_=0)) for n in names]
    row = session.execute(
        select(*cols).where(EVALUATION.c.cycle_id == cycle_id, *where)).one()
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}


def _waiting_on(row: Row[Any]) -> str | None:
    state = State(row.state)
    who: str | None = None
    if state is State.SUPERVISOR_SCORING:
        who = row.supervisor_id
    elif state in (State.SELF_ASSESSMENT, State.APPEAL_WINDOW):
        who = row.reviewee_id
    elif state is State.APPEAL_REVIEW:
        who = row.appeal_reviewer_id
    return who


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
        people = load_people(session, [snap.row["reviewee_id"]])
        basis = score_basis(session, evaluation_id)
        result = compute(session, snap, basis) if basis is not None else None
        facts = _facts(session, snap)
    row = snap.row
    regime = snap.rules.regime
    matches = None
    if result is not None and row["score"] is not None:
        matches = (Decimal(row["score"]) == result.total
                   and row["score_class"] == result.class_id)
    note = None
    if row["final_class"] and row["score_class"] and row["final_class"] != row["score_class"]:
        note = (f"calibration moved the class from {row['score_class']} to "
                f"{row['final_class']}; the score did not change")
    out: list[Line] = []
    stamp = dict(row["score_stamp"] or {})
    if result is not None:
        out.append(Line("rules", "rules", 0, msg(
            "rules", regime=result.regime.id, regime_version=result.regime.version,
            framework=result.framework.id, framework_version=result.framework.version,
            hash=result.framework.content_hash[:12])))
        out.extend(facts["revision"])
        out.extend(lines(result, self_missing=bool(row["self_assessment_missing"])))
        out.extend(facts["moves"])
        cap = stamp.get("quota_cap")
        if isinstance(cap, dict):
            out.append(Line("quota", "quota", 0, msg(
                "quota_cap", cls=regime.band(str(cap["class"])).label,
                to_cls=regime.band(str(cap["to"])).label,
                pools=[pool_name(str(p)) for p in cap["pools"]])))
        out.extend(facts["recomputed"])
        if row["final_class"] and row["final_class"] != result.class_id:
            out.append(Line("final_class", "final_class", 0, msg(
                "final_class", cls=regime.band(row["final_class"]).label)))
    stale = bool(facts["stale"]) and row["state"] == State.FINALISED.value and matches is False
    if stale:
        out.extend(facts["stale"])
    person = people.get(row["reviewee_id"])
    return Explanation(evaluation_id, row["reviewee_id"],
                       person.full_name if person else row["reviewee_id"],
                       person.locale if person else "vi", row["state"],
                       row["score"], row["score_class"], row["final_class"], result,
                       stamp, matches, note, out, stale)


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
    for m in session.execute(select(MOVE).where(MOVE.c.evaluation_id == snap.id)
                             .order_by(MOVE.c.id)):
        out["moves"].append(Line("calibration", "calibration", 0, msg(
            "calibration", from_cls=regime.band(m.from_class).label,
            to_cls=regime.band(m.to_class).label, by=m.moved_by, at=f"{m.moved_at:%Y-%m-%d}",
            reason=m.reason)))
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


def verify_audit(svc: Service, anchor: Mapping[str, Any] | None = None) -> audit.VerifyResult:
    """The chain, what it vouches for, and an anchor when given (``audit_check.verify``)."""
    return audit_check.verify(svc, anchor)


__all__ = ["explain", "shown", "status", "verify_audit"]
