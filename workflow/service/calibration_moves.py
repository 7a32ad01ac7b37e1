"""Undoing a calibration move before the pool is approved.

Until the pool's calibration is approved the calibrator may undo a move, with a
reason: the class goes back to the one the score gives, and the undo is a move row of
its own (well completed back to excellent), vouched by an ``undo_move`` audit row
(``audit_seal.verify_moves``). After approval a move is contested by appeal: the
reviewer may restore the class (``class_restore``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel import Session

from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import Role, State
from workflow.errors import (
    EvaluationNotFound,
    NoQuota,
    NothingToUndo,
    NotInCalibration,
    NotPermitted,
    Problem,
    SubmissionInvalid,
)
from workflow.service.core import Service, load_snapshots
from workflow.service.transition import REASON_LIMIT, Change, write
from workflow.store import audit
from workflow.store.tables import MOVE

UNDO_TRIGGER = "undo_move"


def _reason(evaluation_id: int, reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise SubmissionInvalid(evaluation_id, {"reason": Problem(what)})
    if len(text) > REASON_LIMIT:
        raise SubmissionInvalid(evaluation_id, {
            "reason": Problem(N_("at most %(limit)s characters"), limit=REASON_LIMIT)})
    return text


def last_move(session: Session, evaluation_id: int) -> dict[str, object] | None:
    """The latest move row of an evaluation (a move down or an undo), or None."""
    row = session.execute(select(MOVE).where(MOVE.c.evaluation_id == evaluation_id)
                          .order_by(MOVE.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row is not None else None


def undo_move(svc: Service, evaluation_id: int, reason: str, actor_id: str, *,
              now: datetime | None = None) -> str:
    """Undo the calibration move of one evaluation, with a reason, before approval.

    Returns the class it is back in (the one its score gives)."""
    now = now or utc_now()
    reason = _reason(evaluation_id, reason, N_("undoing a calibration move needs a reason"))
    with svc.store.write() as session:
        snap = load_snapshots(svc, session, [evaluation_id]).get(evaluation_id)
        if snap is None:
            raise EvaluationNotFound(evaluation_id)
        if actor_id != snap.view.calibrator_id:
            raise NotPermitted(evaluation_id, actor_id, "undo_move",
                               "only the cycle's calibrator undoes a calibration move")
        if snap.state is not State.CALIBRATION:
            raise NotInCalibration(evaluation_id, snap.state.value)
        quota = snap.rules.regime.quota
        if quota is None:
            raise NoQuota(snap.rules.regime.id)
        current = snap.row["final_class"]
        move = last_move(session, evaluation_id)
        if (move is None or move["to_class"] != current or current == snap.row["score_class"]
                or move["from_class"] != snap.row["score_class"]):
            raise NothingToUndo(evaluation_id, current)
        back = str(move["from_class"])
        change = Change(evaluation_id, snap.row["cycle_id"], snap.version, snap.state,
                        snap.state, UNDO_TRIGGER, actor_id, Role.CALIBRATOR, now,
                        {"final_class": back, "updated_at": now})
        # The payload is the move row's own (audit_seal.verify_moves checks it).
        change.audit.append(audit.AuditEntry(
            actor_id=actor_id, role=Role.CALIBRATOR.value, at=now, trigger=UNDO_TRIGGER,
            evaluation_id=evaluation_id, cycle_id=snap.row["cycle_id"],
            from_state=snap.state.value, to_state=snap.state.value, reason=reason,
            payload={"from_class": current, "to_class": back}))
        session.execute(insert(MOVE).values(
            cycle_id=snap.row["cycle_id"], evaluation_id=evaluation_id, from_class=current,
            to_class=back, reason=reason, moved_by=actor_id, moved_at=now))
        write(svc, session, [change])
    return back
