"""Admins sending mail again: a dead letter back into the queue, or a task email anew.

Both are on the record (an audit row). A task email sent anew carries a fresh link;
the old one stays good until it is used or expires, so a person who finds the first
email later is not locked out.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from workflow import permissions
from workflow.clock import utc_now
from workflow.domain import Role, State
from workflow.errors import NotADeadLetter, NoTaskEmail, NotFound, NotPermitted
from workflow.service.core import Service, load_people, load_snapshot
from workflow.service.notices import notices_for
from workflow.service.transition import base_context, result_context, write_mail
from workflow.states import Notice
from workflow.store import audit
from workflow.store.tables import EVALUATION, OUTBOX

# The email that hands each waiting state's task to whoever it waits on.
TASK_NOTICES: Mapping[State, Notice] = {
    State.SELF_ASSESSMENT: Notice("task_self_assessment", "reviewee"),
    State.PEER_INPUT: Notice("task_peer_input", "peers"),
    State.SUPERVISOR_SCORING: Notice("task_supervisor_scoring", "scorers"),
    State.APPEAL_WINDOW: Notice("result", "reviewee"),
    State.APPEAL_REVIEW: Notice("task_appeal_review", "appeal_reviewer"),
}


def requeue_dead_letters(svc: Service, outbox_ids: Sequence[int] | None, actor_id: str, *,
                         now: datetime | None = None,
                         cycles: Collection[str] | None = None) -> int:
    """Put dead letters (those of ``outbox_ids``, or all when None) back in the queue,
    their attempts reset, each keeping its Message-ID; how many.

    One transaction, an audit row per message. Naming a message that does not exist
    or is not a dead letter is an error and requeues nothing. Used by the dashboard's
    "send again" and by `kpi mail retry`.

    ``cycles``: the cycles the actor administers (the dashboard's admin of some
    cycles): each message must belong to one of them, and a message of no cycle (a
    sign-in link, a digest) needs an admin of the settings. NotPermitted otherwise,
    and nothing is requeued. None (the command line, run by the operator): any.
    """
    now = now or utc_now()
    with svc.store.write() as session:
        stmt = select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.evaluation_id, OUTBOX.c.event,
                      OUTBOX.c.recipient_id)
        if outbox_ids is None:
            rows = session.execute(stmt.where(OUTBOX.c.status == "dead")).all()
        else:
            wanted = sorted(set(outbox_ids))
            rows = session.execute(stmt.where(OUTBOX.c.id.in_(wanted))).all()
            found = {r.id: r.status for r in rows}
            for outbox_id in wanted:
                if outbox_id not in found:
                    raise NotFound(f"outbox message {outbox_id} does not exist; `kpi status` "
                                   "lists the dead letters")
                if found[outbox_id] != "dead":
                    raise NotADeadLetter(outbox_id, found[outbox_id])
        if cycles is not None:
            _check_cycles(svc, session, rows, actor_id, cycles)
        if not rows:
            return 0
        session.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows])).values(
            status="pending", attempts=0, available_at=now, lease_until=None, last_error=None))
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="resend_dead_letter",
            evaluation_id=r.evaluation_id, reason=f"{r.event} to {r.recipient_id}",
            payload={"outbox_id": r.id}) for r in rows])
    return len(rows)


def _check_cycles(svc: Service, session: Session, rows: Sequence[Any], actor_id: str,
                  cycles: Collection[str]) -> None:
    ids = [r.evaluation_id for r in rows if r.evaluation_id is not None]
    cycle_of = dict(session.execute(select(EVALUATION.c.id, EVALUATION.c.cycle_id)
                                    .where(EVALUATION.c.id.in_(ids))).all()) if ids else {}
    contexts = dict(session.execute(select(OUTBOX.c.id, OUTBOX.c.context).where(
        OUTBOX.c.id.in_([r.id for r in rows]))).all())
    for r in rows:
        cycle = cycle_of.get(r.evaluation_id) or (contexts.get(r.id) or {}).get("cycle_id")
        if cycle is None and actor_id in svc.settings.admins:
            continue
        if cycle is None or cycle not in cycles:
            raise NotPermitted(r.evaluation_id or 0, actor_id, "resend_dead_letter", (
                f"outbox message {r.id} belongs to "
                f"{'cycle ' + str(cycle) if cycle else 'no cycle'}, which they do not "
                "administer"))


def resend_task(svc: Service, evaluation_id: int, actor_id: str, *,
                now: datetime | None = None) -> int:
    """Email the current task again, with a fresh link, to whoever it waits on."""
    now = now or utc_now()
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        if Role.ADMIN not in permissions.roles_of(actor_id, snap.view, now):
            raise NotPermitted(evaluation_id, actor_id, "resend", "it needs the role admin")
        notice = TASK_NOTICES.get(snap.state)
        if notice is None:
            raise NoTaskEmail(evaluation_id, snap.state.value)
        row = snap.row
        people = load_people(session, {row.reviewee_id, row.supervisor_id,
                                       row.appeal_reviewer_id, *snap.pending_peers(),
                                       *snap.view.escalation_supervisors,
                                       *(d.person_id for d in snap.view.acting_supervisors)})
        context = base_context(snap, row, people)
        if snap.state is State.APPEAL_WINDOW:
            context.update(result_context(snap, row))
        mail = notices_for(svc, snap, [notice], people=people, context=context,
                           key=f"resend:{evaluation_id}:{secrets.token_hex(6)}", now=now,
                           row=row, link_expires_at=row.due_at)
        write_mail(session, mail)
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="resend_task",
            evaluation_id=evaluation_id, cycle_id=row.cycle_id,
            from_state=snap.state.value, to_state=snap.state.value,
            reason=f"{notice.event} sent again to {len(mail.outbox)} person(s)")])
    return len(mail.outbox)
