"""Forms saved but not submitted: one draft per evaluation, author and kind.

A draft keeps what was typed, as typed (the form's own field names and text), so the
page shows it again exactly; it is checked only when it is submitted. Saving needs
the same right as submitting: the author must be the one the evaluation waits on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from workflow import permissions
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import SubmissionKind, Trigger
from workflow.errors import Problem, SubmissionInvalid, TransitionNotAllowed
from workflow.machine import accepts
from workflow.service.core import Service, load_snapshot
from workflow.store.tables import DRAFT

DRAFT_LIMIT = 200_000  # characters of JSON: far above any real form, below abuse
DRAFT_FIELDS = 2000

# The trigger a draft of each kind is a draft of (for the permission check).
DRAFT_TRIGGERS: Mapping[SubmissionKind, Trigger] = {
    SubmissionKind.SELF_ASSESSMENT: Trigger.SUBMIT_SELF_ASSESSMENT,
    SubmissionKind.PEER_INPUT: Trigger.SUBMIT_PEER_INPUT,
    SubmissionKind.SUPERVISOR_SCORE: Trigger.SUBMIT_SCORE,
    SubmissionKind.APPEAL_DECISION: Trigger.REVISE_SCORE,
}


def save(svc: Service, evaluation_id: int, author_id: str, kind: SubmissionKind,
         fields: Mapping[str, str], *, now: datetime | None = None) -> None:
    """Keep ``fields`` as the author's draft, replacing the previous one."""
    now = now or utc_now()
    trigger = DRAFT_TRIGGERS[kind]
    clean = {str(k): str(v) for k, v in fields.items()}
    if len(clean) > DRAFT_FIELDS or len(json.dumps(clean)) > DRAFT_LIMIT:
        raise SubmissionInvalid(evaluation_id, {"_form": Problem(
            N_("the draft is too large to keep (at most %(limit)s characters)"),
            limit=DRAFT_LIMIT)})
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        permissions.check(trigger, author_id, snap.view, now)
        if not accepts(snap.state, trigger):
            raise TransitionNotAllowed(evaluation_id, trigger.value, snap.state.value)
        _upsert(session, {"evaluation_id": evaluation_id, "author_id": author_id,
                          "kind": kind.value, "payload": clean, "saved_at": now})


def _upsert(session: Session, row: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(DRAFT).values(**row)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["evaluation_id", "author_id", "kind"],
        set_={"payload": stmt.excluded.payload, "saved_at": stmt.excluded.saved_at}))


def load(svc: Service, evaluation_id: int, author_id: str, kind: SubmissionKind
         ) -> tuple[dict[str, str], datetime] | None:
    """The author's draft and when it was saved, or None."""
    with svc.store.read() as session:
        row = session.execute(select(DRAFT.c.payload, DRAFT.c.saved_at).where(
            DRAFT.c.evaluation_id == evaluation_id, DRAFT.c.author_id == author_id,
            DRAFT.c.kind == kind.value)).first()
    if row is None:
        return None
    return dict(row.payload), row.saved_at


def discard(svc: Service, evaluation_id: int, author_id: str) -> None:
    with svc.store.write() as session:
        session.execute(delete(DRAFT).where(DRAFT.c.evaluation_id == evaluation_id,
                                            DRAFT.c.author_id == author_id))
