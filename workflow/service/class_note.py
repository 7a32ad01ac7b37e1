"""Why a person's class is not the one their score gives, as the record says.

The reviewee's result page and result email, and the appeal reviewer's page, state
the class by score, the class after calibration and the calibrator's recorded reason;
after an appeal reviewer restored the class, that too, with their reason. A move the
calibrator undid before approval is not the person's concern: their class is their
score's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import SubmissionKind
from workflow.scoring.model import Labels, Regime
from workflow.store.tables import MOVE, SUBMISSION


@dataclass(frozen=True)
class ClassNote:
    """Why a person's class is not the one their score gives, as the record says."""

    by_score: str  # the class the score gives
    final: str  # the class after calibration
    reason: str  # the calibrator's recorded reason
    moved_by: str
    moved_at: datetime
    by_score_label: Labels
    final_label: Labels
    restored: bool = False  # an appeal reviewer put the class back (then final == by_score)
    restore_reason: str | None = None


def class_note(session: Session, evaluation_id: int, score_class: str | None,
               final_class: str | None, regime: Regime, *, restoring: str | None = None
               ) -> ClassNote | None:
    """What the record says about a class calibration moved (or a reviewer restored).

    ``restoring``: the reason of a restore being decided now (its decision is not
    written yet when its emails are)."""
    if not score_class or not final_class:
        return None
    moves = [dict(r._mapping) for r in session.execute(
        select(MOVE).where(MOVE.c.evaluation_id == evaluation_id).order_by(MOVE.c.id))]
    downs = [m for m in moves if m["from_class"] == score_class]
    if not downs:
        return None
    down = downs[-1]
    restored_reason = None
    if final_class == score_class:
        # moved, then undone by the calibrator: nothing to explain to the person; moved,
        # then restored on appeal: the restore is part of their result.
        if moves[-1]["from_class"] != score_class:
            return None  # the last move row is the calibrator's undo
        restore = restoring if restoring is not None else restore_decision(session,
                                                                           evaluation_id)
        if restore is None:
            return None
        restored_reason = restore
    elif final_class != down["to_class"]:
        return None
    return ClassNote(score_class, str(down["to_class"]), str(down["reason"]),
                     str(down["moved_by"]), down["moved_at"],
                     regime.band(score_class).label, regime.band(str(down["to_class"])).label,
                     restored=restored_reason is not None, restore_reason=restored_reason)


def restore_decision(session: Session, evaluation_id: int) -> str | None:
    """The reason of the appeal decision that restored the class, or None."""
    decided = SubmissionKind.APPEAL_DECISION.value
    for payload in session.execute(
            select(SUBMISSION.c.payload).where(SUBMISSION.c.evaluation_id == evaluation_id,
                                               SUBMISSION.c.kind == decided)
            .order_by(SUBMISSION.c.id.desc())).scalars():
        if payload.get("restore_class"):
            return str(payload.get("reason") or "")
    return None


def note_context(note: ClassNote | None, tz_name: str) -> dict[str, Any] | None:
    """The note as an email's context (``calibration``): labels in both languages."""
    if note is None:
        return None
    return {"by_score": {"en": note.by_score_label.en, "vi": note.by_score_label.vi},
            "final": {"en": note.final_label.en, "vi": note.final_label.vi},
            "reason": note.reason, "moved_by": note.moved_by,
            "moved_at": note.moved_at.isoformat(), "restored": note.restored,
            "restore_reason": note.restore_reason, "cycle_timezone": tz_name}
