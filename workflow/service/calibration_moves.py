"""Undoing a calibration move before the pool is approved.

Until the pool's calibration is approved whoever calibrates the evaluation (the
cycle's calibrator, or whoever took it on by recusal) may undo a move, with a reason:
the class goes back to the one the score gives, and the undo is a move row of its own
(well completed back to excellent), vouched by an ``undo_move`` audit row
(``audit_seal.verify_moves``). After approval a move is contested by appeal: the
reviewer may restore the class (``class_restore``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.errors import NothingToUndo
from workflow.service.calibration import in_calibration, reason_given, record_move
from workflow.service.core import Service
from workflow.store.tables import MOVE

UNDO_TRIGGER = "undo_move"


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
    with svc.store.write() as session:
        # Refused to whoever does not decide it before the reason is read (as a move).
        snap, _quota = in_calibration(svc, session, evaluation_id, UNDO_TRIGGER, actor_id, now)
        reason = reason_given(evaluation_id, reason,
                              N_("undoing a calibration move needs a reason"))
        current = snap.row.final_class
        move = last_move(session, evaluation_id)
        if (move is None or move["to_class"] != current or current == snap.row.score_class
                or move["from_class"] != snap.row.score_class):
            raise NothingToUndo(evaluation_id, current)
        back = str(move["from_class"])
        record_move(svc, session, snap, UNDO_TRIGGER, back, reason, actor_id, now)
    return back
