"""Admins sending mail again: a dead letter back into the queue, or a task email anew.

Both are on the record (an audit row). A task email sent anew carries a fresh link;
the old one stays good until it is used or expires, so a person who finds the first
email later is not locked out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select, update

from workflow.clock import utc_now
from workflow.domain import Role, State
from workflow.errors import NotFound, NotPermitted, WorkflowError
from workflow.service.core import Service, load_people, load_snapshot
from workflow.service.notices import notices_for
from workflow.service.transition import OUTBOX, base_context, result_context, write_mail
from workflow.states import Notice
from workflow.store import audit

# The email that hands each waiting state's task to whoever it waits on.
TASK_NOTICES: Mapping[State, Notice] = {
    State.SELF_ASSESSMENT: Notice("task_self_assessment", "reviewee"),
    State.PEER_INPUT: Notice("task_peer_input", "peers"),
    State.SUPERVISOR_SCORING: Notice("task_supervisor_scoring", "scorers"),
    State.APPEAL_WINDOW: Notice("result", "reviewee"),
    State.APPEAL_REVIEW: Notice("task_appeal_review", "appeal_reviewer"),
}


def requeue_dead_letter(svc: Service, outbox_id: int, actor_id: str, *,
                        now: datetime | None = None) -> None:
    """Put a dead letter back in the queue, its attempts reset; the same Message-ID."""
    now = now or utc_now()
    with svc.store.write() as session:
        row = session.execute(select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.evaluation_id,
                                     OUTBOX.c.event, OUTBOX.c.recipient_id)
                              .where(OUTBOX.c.id == outbox_id)).first()
        if row is None:
            raise NotFound(f"outbox message {outbox_id} does not exist")
        if row.status != "dead":
            raise WorkflowError(f"outbox message {outbox_id} is {row.status}, not a dead "
                                "letter; only dead letters are sent again")
        session.execute(update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(
            status="pending", attempts=0, available_at=now, lease_until=None, last_error=None))
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="resend_dead_letter",
            evaluation_id=row.evaluation_id, reason=f"{row.event} to {row.recipient_id}",
            payload={"outbox_id": outbox_id})])


def resend_task(svc: Service, evaluation_id: int, actor_id: str, *,
                now: datetime | None = None) -> int:
    """Email the current task again, with a fresh link, to whoever it waits on."""
    now = now or utc_now()
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        if actor_id not in snap.view.admins:
            raise NotPermitted(evaluation_id, actor_id, "resend", "it needs the role admin")
        notice = TASK_NOTICES.get(snap.state)
        if notice is None:
            raise WorkflowError(f"evaluation {evaluation_id} is {snap.state.value}: no task "
                                "email to send again (calibration links go to the calibrator "
                                "from the calibration page)")
        row = snap.row
        people = load_people(session, {row["reviewee_id"], row["supervisor_id"],
                                       row["appeal_reviewer_id"], *snap.pending_peers(),
                                       *snap.view.escalation_supervisors,
                                       *(d.person_id for d in snap.view.acting_supervisors)})
        context = base_context(snap, row, people)
        if snap.state is State.APPEAL_WINDOW:
            context.update(result_context(snap, row))
        mail = notices_for(svc, snap, [notice], people=people, context=context,
                           key=f"resend:{evaluation_id}:{secrets.token_hex(6)}", now=now,
                           row=row, link_expires_at=row["due_at"])
        write_mail(session, mail)
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="resend_task",
            evaluation_id=evaluation_id, cycle_id=row["cycle_id"],
            from_state=snap.state.value, to_state=snap.state.value,
            reason=f"{notice.event} sent again to {len(mail.outbox)} person(s)")])
    return len(mail.outbox)
