"""What the emails of a petition against a petition's decision show (the regime's
``re_review``): until when and to whom a decision may be petitioned again, and, for
the one who reviews it, the decision petitioned and its reason.

The move itself (a decision opening a fresh window, who reviews next) is the
machine's and the appeal window's (``workflow.states.appeal_window.re_reviewer``);
this only reads the store for the facts the emails carry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import SubmissionKind
from workflow.effects import core as effects
from workflow.evaluation_rows import EvaluationRecord
from workflow.service.core import PersonInfo, Snapshot, load_people
from workflow.states.appeal_window import re_reviewer
from workflow.store.tables import SUBMISSION


def again_context(session: Session, snap: Snapshot, row: EvaluationRecord,
                  people: dict[str, PersonInfo]) -> dict[str, Any]:
    """For a decision that opens a fresh petition window (``row``: after it): until
    when the person may petition again, and who would review it."""
    people.update(load_people(session, [row.appeal_reviewer_id]))
    next_id = re_reviewer(row, snap.rules.config, snap.view.admins, people, snap.view.recused)
    if next_id:
        people.update(load_people(session, [next_id]))
    person = people.get(next_id or "")
    due = row.due_at
    return {"until": due.isoformat() if due else None, "to_id": next_id,
            "to_name": person.full_name if person else next_id,
            "round": effects.petition_round(row) + 1}


def earlier_decision(session: Session, evaluation_id: int,
                     people: dict[str, PersonInfo]) -> dict[str, Any] | None:
    """The last petition decision on record (the one now petitioned): decision, reason,
    who decided and when, for the next reviewer's task email."""
    found = session.execute(
        select(SUBMISSION.c.author_id, SUBMISSION.c.submitted_at, SUBMISSION.c.payload)
        .where(SUBMISSION.c.evaluation_id == evaluation_id,
               SUBMISSION.c.kind == SubmissionKind.APPEAL_DECISION.value)
        .order_by(SUBMISSION.c.id.desc())).first()
    if found is None:
        return None
    payload = dict(found.payload or {})
    people.update(load_people(session, [found.author_id]))
    author = people.get(found.author_id)
    return {"decision": payload.get("decision"), "reason": payload.get("reason"),
            "by_name": author.full_name if author else found.author_id,
            "at": found.submitted_at.isoformat()}
