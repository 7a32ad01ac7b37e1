"""Calibration of a cycle's quota pools: the meter, moves down with reasons, approval.

Calibration never changes a score: it may only move an evaluation from the quota's
limited class (excellent) to the class below it (well completed), each move with a
reason, while the evaluation waits in calibration. The calibrator cannot approve
while any pool breaks its quota or while some evaluation has not reached
calibration yet; approval moves every evaluation waiting in calibration on together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from workflow import permissions
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import Role, State, Trigger
from workflow.errors import (
    CycleNotFound,
    ExceptionRatioRefused,
    MoveNotAllowed,
    NoQuota,
    NothingToCalibrate,
    NotInCalibration,
    NotPermitted,
    NotTheirCalibration,
    PoolIncomplete,
    Problem,
    QuotaNotHeld,
    Recused,
    RecusedFromCalibration,
    SubmissionInvalid,
)
from workflow.scoring.model import Quota
from workflow.scoring.quota import (
    MovesNeeded,
    PoolMember,
    PoolMeter,
    breaking_members,
    meters,
    moves_needed,
)
from workflow.service import pool, recusals
from workflow.service.core import Service, Snapshot, load_people, load_snapshot, load_snapshots
from workflow.service.rowtypes import ExtensionRecord, PoolMemberLine
from workflow.service.rules import CycleRules
from workflow.service.transition import REASON_LIMIT, Change, plan, write
from workflow.store import audit
from workflow.store.tables import (
    APPROVAL,
    EVALUATION,
    EXTENSION,
    MOVE,
    Cycle,
)

BEFORE_CALIBRATION = pool.BEFORE_CALIBRATION


@dataclass(frozen=True)
class CalibrationView:
    cycle_id: str
    calibrator_id: str | None
    meters: list[PoolMeter]
    waiting: int  # evaluations in calibration
    not_yet_scored: int  # evaluations still before calibration
    exception_ratio: Decimal | None
    exception_decision: str | None
    members: list[PoolMemberLine]  # the pool, for the calibration page
    # The fewest moves that make every pool hold together, and whose move counts twice.
    needed: MovesNeeded | None = None
    # The pool's deadline as last extended (until when, who approved, who recorded it,
    # why), with the names of the two as the organisation has them; None: never extended.
    extension: PoolExtension | None = None
    timezone: str = "Asia/Ho_Chi_Minh"

    @property
    def breaking(self) -> list[PoolMeter]:
        return [m for m in self.meters if m.breaks]

    @property
    def can_approve(self) -> bool:
        return self.waiting > 0 and self.not_yet_scored == 0 and not self.breaking


@dataclass(frozen=True)
class PoolExtension:
    """The last extension of a cycle's calibration deadline (the pool's)."""

    record: ExtensionRecord
    approved_by_name: str  # the approver's name where the record holds an employee id
    created_by_name: str


def pool_extension(session: Session, cycle_id: str) -> PoolExtension | None:
    """The cycle's last calibration extension: one row, the newest (a pool is extended
    as a whole, so every evaluation of it has the same row)."""
    found = session.execute(
        select(EXTENSION).join(EVALUATION, EVALUATION.c.id == EXTENSION.c.evaluation_id)
        .where(EVALUATION.c.cycle_id == cycle_id,
               EXTENSION.c.phase == State.CALIBRATION.value)
        .order_by(EXTENSION.c.created_at.desc(), EXTENSION.c.id.desc()).limit(1)).first()
    if found is None:
        return None
    record = ExtensionRecord.of(found._mapping)
    people = load_people(session, {record.approved_by, record.created_by})

    def name(text: str) -> str:
        return people[text].full_name if text in people else text

    return PoolExtension(record, name(record.approved_by), name(record.created_by))


def _rules_and_cycle(svc: Service, session: Session, cycle_id: str) -> tuple[CycleRules, Cycle]:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise CycleNotFound(cycle_id)
    return svc.rules.get(session, cycle_id), cycle


def view(svc: Service, cycle_id: str, session: Session | None = None) -> CalibrationView:
    """The pools of ``cycle_id`` with their quota meters, for the calibrator."""
    if session is None:
        with svc.store.read() as s:
            return view(svc, cycle_id, s)
    rules, cycle = _rules_and_cycle(svc, session, cycle_id)
    quota = rules.regime.quota
    rows = session.execute(
        select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.task_group,
               EVALUATION.c.unit_id, EVALUATION.c.state, EVALUATION.c.score,
               EVALUATION.c.score_class, EVALUATION.c.final_class)
        .where(EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.state != State.CANCELLED.value)
        .order_by(EVALUATION.c.unit_id, EVALUATION.c.reviewee_id)
    ).all()
    members = [PoolMember(r.id, r.reviewee_id, r.task_group, r.final_class) for r in rows]
    ratio = rules.config.calibration.exception_ratio
    pool_meters = meters(quota, members, ratio) if quota else []
    breaking = breaking_members(quota, members, ratio) if quota else {}
    needed = moves_needed(quota, members, ratio) if quota else None
    # Who decides each evaluation's calibration: whoever took it on by recusal, else
    # the cycle's calibrator (one query for the cycle, not one per evaluation).
    instead = pool.takers(session, cycle_id)
    deciders = {r.id: instead.get(r.id, cycle.calibrator_id) for r in rows}
    people = load_people(session, {*(r.reviewee_id for r in rows), *deciders.values()} - {None})

    def name(person_id: str | None) -> str:
        return people[person_id].full_name if person_id in people else ""

    return CalibrationView(
        cycle_id=cycle_id, calibrator_id=cycle.calibrator_id, meters=pool_meters,
        waiting=sum(1 for r in rows if r.state == State.CALIBRATION.value),
        not_yet_scored=sum(1 for r in rows if r.state in BEFORE_CALIBRATION),
        exception_ratio=ratio, exception_decision=rules.config.calibration.exception_decision,
        members=[PoolMemberLine(
            evaluation_id=r.id, reviewee_id=r.reviewee_id,
            reviewee_name=name(r.reviewee_id),
            unit_id=r.unit_id, task_group=r.task_group, state=State(r.state),
            score=r.score, score_class=r.score_class, final_class=r.final_class,
            breaks=tuple(breaking.get(r.id, ())),
            decided_by=deciders[r.id], decided_by_name=name(deciders[r.id]),
        ) for r in rows],
        needed=needed, extension=pool_extension(session, cycle_id), timezone=rules.tz_name,
    )


def reason_given(evaluation_id: int, reason: str | None, missing: str) -> str:
    """The reason of a calibration move or undo, stripped; refused when empty or too long."""
    text = (reason or "").strip()
    if not text:
        raise SubmissionInvalid(evaluation_id, {"reason": Problem(missing)})
    if len(text) > REASON_LIMIT:
        raise SubmissionInvalid(evaluation_id, {
            "reason": Problem(N_("at most %(limit)s characters"), limit=REASON_LIMIT)})
    return text


def in_calibration(svc: Service, session: Session, evaluation_id: int, action: str,
                   actor_id: str, now: datetime) -> tuple[Snapshot, Quota]:
    """The evaluation a move or an undo changes, locked in ``session``, with its quota.

    Refused unless ``actor_id`` decides its calibration (``NotTheirCalibration``,
    ``RecusedFromCalibration`` on their own evaluation or one they stepped aside from,
    both naming who decides), it waits in calibration and its
    regime has a quota."""
    snap = load_snapshot(svc, session, evaluation_id)
    try:
        permissions.check_record(action, actor_id, snap.view, now)
    except NotPermitted as exc:
        # The refusal names who decides instead, so the person knows whom to ask.
        decider = snap.view.calibrator_id
        name = load_people(session, [decider])[decider].full_name if decider else ""
        why = str(exc).split(": ", 1)[-1]
        refused = RecusedFromCalibration if isinstance(exc, Recused) else NotTheirCalibration
        raise refused(evaluation_id, actor_id, action, why, decider, name) from exc
    if snap.state is not State.CALIBRATION:
        raise NotInCalibration(evaluation_id, snap.state.value)
    quota = snap.rules.regime.quota
    if quota is None:
        raise NoQuota(snap.rules.regime.id)
    return snap, quota


def record_move(svc: Service, session: Session, snap: Snapshot, trigger: str, to_class: str,
                reason: str, actor_id: str, now: datetime) -> None:
    """Write a class change of calibration: the evaluation, its move row, its audit row
    (whose payload is the move row's own: ``audit_seal.verify_moves`` checks it)."""
    current = snap.row.final_class
    change = Change(snap.id, snap.row.cycle_id, snap.version, snap.state, snap.state,
                    trigger, actor_id, Role.CALIBRATOR, now,
                    {"final_class": to_class, "updated_at": now})
    change.audit.append(audit.AuditEntry(
        actor_id=actor_id, role=Role.CALIBRATOR.value, at=now, trigger=trigger,
        evaluation_id=snap.id, cycle_id=snap.row.cycle_id,
        from_state=snap.state.value, to_state=snap.state.value, reason=reason,
        payload={"from_class": current, "to_class": to_class}))
    session.execute(insert(MOVE).values(
        cycle_id=snap.row.cycle_id, evaluation_id=snap.id, from_class=current,
        to_class=to_class, reason=reason, moved_by=actor_id, moved_at=now))
    write(svc, session, [change])


def move_class(svc: Service, evaluation_id: int, to_class: str, reason: str, actor_id: str,
               *, now: datetime | None = None) -> None:
    """Move one evaluation down from the limited class, with a reason; the score stays."""
    now = now or utc_now()
    with svc.store.write() as session:
        # Who may decide first, then what they wrote: a stranger's empty form is refused
        # as a stranger's, not corrected as if it were theirs to send.
        snap, quota = in_calibration(svc, session, evaluation_id, "move_class", actor_id, now)
        reason = reason_given(evaluation_id, reason, N_("a calibration move needs a reason"))
        current = snap.row.final_class
        if current != quota.limited_class or to_class != quota.may_move_to:
            regime = snap.rules.regime
            raise MoveNotAllowed(evaluation_id, current, quota.limited_class,
                                 quota.may_move_to,
                                 (regime.band(quota.limited_class).label,
                                  regime.band(quota.may_move_to).label))
        record_move(svc, session, snap, "move_class", to_class, reason, actor_id, now)


def approve(svc: Service, cycle_id: str, actor_id: str, *, now: datetime | None = None
            ) -> int:
    """Approve the cycle's calibration: every evaluation in calibration moves on together."""
    now = now or utc_now()
    with svc.store.write() as session:
        _, cycle = _rules_and_cycle(svc, session, cycle_id)
        if actor_id != cycle.calibrator_id \
                and cycle_id not in recusals.calibrates_instead(session, actor_id):
            raise NotPermitted(0, actor_id, "approve_calibration",
                               f"only the calibrator of cycle {cycle_id} "
                               f"({cycle.calibrator_id}) approves it")
        rules = svc.rules.get(session, cycle_id)
        current = view(svc, cycle_id, session)
        _check_exception(rules, current)
        if current.not_yet_scored:
            raise PoolIncomplete(cycle_id, current.not_yet_scored)
        if current.breaking:
            quota = rules.regime.quota
            assert quota is not None  # only a quota can break
            raise QuotaNotHeld(cycle_id, [(m.pool, m.limited, m.allowed, m.relative)
                                          for m in current.breaking],
                               rules.regime.band(quota.limited_class).label,
                               rules.regime.band(quota.may_move_to).label)
        ids = [int(r) for r in session.execute(
            select(EVALUATION.c.id).where(EVALUATION.c.cycle_id == cycle_id,
                                          EVALUATION.c.state == State.CALIBRATION.value)
        ).scalars()]
        if not ids:
            raise NothingToCalibrate(cycle_id)
        snaps = load_snapshots(svc, session, ids)
        # The calibrator approves the evaluations they decide; those they are in conflict
        # with (their own among them) are approved by whoever took them on (recusal).
        mine = [snap for snap in snaps.values() if snap.view.calibrator_id == actor_id
                and actor_id not in snap.view.recused and actor_id != snap.row.reviewee_id]
        if not mine:
            raise NotPermitted(0, actor_id, "approve_calibration",
                               f"none of the evaluations waiting in calibration in cycle "
                               f"{cycle_id} is theirs to approve")
        changes = [plan(svc, session, snap, Trigger.APPROVE_CALIBRATION, actor_id, now=now)
                   for snap in mine]
        if len(mine) == len(snaps):
            pool.cancel_timers(session, cycle_id, now)
        pools = {m.pool: {"limited": m.limited, "relative": m.relative, "allowed": m.allowed,
                          "ratio": str(m.ratio), "metered": m.metered}
                 for m in current.meters}
        record: dict[str, Any] = {"pools": pools, "evaluations": len(changes)}
        if current.exception_ratio is not None:
            record["exception_ratio"] = str(current.exception_ratio)
            record["exception_decision"] = current.exception_decision
        session.execute(insert(APPROVAL).values(
            cycle_id=cycle_id, approved_by=actor_id, approved_at=now, pools=record))
        write(svc, session, changes)
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.CALIBRATOR.value, at=now,
            trigger="approve_calibration_pools", cycle_id=cycle_id,
            reason=_approval_reason(current), payload=record)])
    return len(changes)


def _check_exception(rules: CycleRules, current: CalibrationView) -> None:
    """An exception ratio needs its decision on record and stays within the regime's ceiling."""
    quota = rules.regime.quota
    ratio = current.exception_ratio
    if ratio is None or quota is None:
        return
    if not (current.exception_decision or "").strip():
        raise ExceptionRatioRefused(
            current.cycle_id, ratio, f"cycle {current.cycle_id}: the exception ratio {ratio} "
            "needs calibration.exception_decision, the decision on record")
    ceiling = quota.exception_max_ratio
    if ceiling is not None and ratio > ceiling:
        raise ExceptionRatioRefused(
            current.cycle_id, ratio, f"cycle {current.cycle_id}: the exception ratio {ratio} "
            f"is above the most regime {rules.regime.id} allows ({ceiling})")


def _approval_reason(current: CalibrationView) -> str:
    held = "; ".join(f"{m.pool} {m.limited}/{m.allowed}" + ("" if m.metered else " (not metered)")
                     for m in current.meters)
    text = f"every pool holds its quota: {held or 'no quota'}"
    if current.exception_ratio is not None:
        text += (f"; exception ratio {current.exception_ratio} by decision "
                 f"{current.exception_decision}")
    return text
