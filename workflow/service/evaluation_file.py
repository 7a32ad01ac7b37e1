"""The file of one evaluation for its admins (issue 18, item 5): the score's breakdown
line by line, what was handed in, the extensions, the audit trail with the state of
its links in the chain, the emails sent about it and how each was delivered, and the
actions its state allows.

Peers stay anonymous as on every admin page: their answers are shown only as the
quorum-aware summary (``pages.peer_summary``), and an audit row or a submission of a
peer says "a peer", never who; the emails list who was asked (the admin page already
names the peers asked), never what they answered.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from workflow.domain import OPEN_STATES, Role, State, SubmissionKind
from workflow.errors import EvaluationNotFound
from workflow.scoring import Line
from workflow.service import admin_exports, admin_scope, pages, queries
from workflow.service.core import Service
from workflow.service.resend import TASK_NOTICES
from workflow.states import SPECS
from workflow.store import audit
from workflow.store.tables import AUDIT, EVALUATION, OUTBOX, SUBMISSION

# What each kind of submission says in words a person typed (shown as it is, escaped).
TEXT_FIELDS = {
    SubmissionKind.SELF_ASSESSMENT.value: ("note",),
    SubmissionKind.SUPERVISOR_SCORE.value: ("comment",),
    SubmissionKind.APPEAL.value: ("reason", "reasons"),
    SubmissionKind.APPEAL_DECISION.value: ("reason",),
    SubmissionKind.ACCEPTANCE.value: ("comment",),
}


@dataclass(frozen=True)
class SubmissionLine:
    kind: str
    role: str
    author_id: str | None  # None: a peer (anonymous)
    submitted_at: datetime
    texts: tuple[tuple[str, str], ...]  # (field, what was typed), never a peer's


@dataclass(frozen=True)
class AuditLine:
    seq: int
    at: datetime
    actor_id: str | None  # None: a peer (anonymous)
    role: str
    trigger: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    intact: bool  # its hash holds and it follows the row before it in the chain


@dataclass(frozen=True)
class EmailLine:
    id: int
    event: str
    recipient_id: str | None
    recipient_name: str
    recipient_email: str
    status: str  # pending | sending | sent | dead | held | dropped...
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class AdminFile:
    """Everything the admin page of one evaluation shows beyond its facts."""

    evaluation_id: int
    lines: list[Line]  # the breakdown, as `kpi score explain` prints it
    recomputed_matches: bool | None
    submissions: list[SubmissionLine]
    audit: list[AuditLine]
    chain_keyed: bool
    emails: list[EmailLine]
    actions: frozenset[str]  # extend, reassign_supervisor, reassign_peer, resend, cancel, reopen

    @property
    def chain_intact(self) -> bool:
        return all(a.intact for a in self.audit)

    @property
    def first_broken(self) -> int | None:
        return next((a.seq for a in self.audit if not a.intact), None)


def allowed_actions(state: State, due_at: datetime | None, pending_peers: int) -> frozenset[str]:
    """The admin actions the state allows (the service checks again when one is asked)."""
    if state is State.FINALISED:
        return frozenset({"reopen"})
    if state not in OPEN_STATES:
        return frozenset()
    out = {"reassign_supervisor", "cancel"}
    deadline = SPECS[state].deadline
    if due_at is not None and not (deadline and deadline.pool_level):
        out.add("extend")  # a pool's deadline is extended for the whole cycle
    if state in (State.SELF_ASSESSMENT, State.PEER_INPUT) and pending_peers:
        out.add("reassign_peer")
    if state in TASK_NOTICES:
        out.add("resend")
    return frozenset(out)


def _texts(kind: str, payload: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for name in TEXT_FIELDS.get(kind, ()):
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            out.append((name, value))
    return tuple(out)


def admin_file(svc: Service, admin_id: str, evaluation_id: int,
               file: pages.EvaluationFile | None = None) -> AdminFile:
    """The file of ``evaluation_id`` for ``admin_id`` (NotAdminOfCycle outside their
    cycles); ``file``: the evaluation's page file when the caller has read it already."""
    # The agency scope (settings' [admin_scope]): an admin of some agencies opens the
    # files of their evaluations, not the others'.
    mine = admin_scope.scope_for(svc, admin_id)
    with svc.store.read() as session:
        found = session.execute(select(EVALUATION.c.cycle_id, EVALUATION.c.unit_id).where(
            EVALUATION.c.id == evaluation_id)).first()
        if found is None:
            raise EvaluationNotFound(evaluation_id)
        cycle_id = found.cycle_id
        if not mine.may_see_evaluation(str(cycle_id), str(found.unit_id)):
            raise admin_exports.NotAdminOfCycle(admin_id, str(cycle_id))
        submissions = [SubmissionLine(
            r.kind, r.role, None if r.role == Role.PEER.value else r.author_id, r.submitted_at,
            () if r.role == Role.PEER.value else _texts(r.kind, dict(r.payload or {})))
            for r in session.execute(
                select(SUBMISSION.c.kind, SUBMISSION.c.role, SUBMISSION.c.author_id,
                       SUBMISSION.c.submitted_at, SUBMISSION.c.payload)
                .where(SUBMISSION.c.evaluation_id == evaluation_id).order_by(SUBMISSION.c.id))]
        trail = _audit_lines(session, evaluation_id)
        keyed = audit.key_for(session) is not None
        emails = [EmailLine(r.id, r.event, r.recipient_id, r.recipient_name, r.recipient_email,
                            r.status, r.attempts, r.last_error, r.created_at, r.sent_at)
                  for r in session.execute(
                      select(OUTBOX.c.id, OUTBOX.c.event, OUTBOX.c.recipient_id,
                             OUTBOX.c.recipient_name, OUTBOX.c.recipient_email,
                             OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.last_error,
                             OUTBOX.c.created_at, OUTBOX.c.sent_at)
                      .where(OUTBOX.c.evaluation_id == evaluation_id).order_by(OUTBOX.c.id))]
    file = file or pages.evaluation_file(svc, evaluation_id)
    explanation = queries.explain(svc, evaluation_id)
    pending = sum(1 for a in file.peer_assignments if a.status == "pending")
    return AdminFile(evaluation_id, explanation.lines, explanation.recomputed_matches,
                     submissions, trail, keyed, emails,
                     allowed_actions(file.state, file.due_at, pending))


def _audit_lines(session: Any, evaluation_id: int) -> list[AuditLine]:
    """The evaluation's audit rows, each checked where it stands in the chain: its hash
    recomputed (with the chain's key) and its link to the row just before it. The whole
    chain is walked by the audit verification; this checks the rows this page shows."""
    rows = [dict(r._mapping) for r in session.execute(
        select(AUDIT).where(AUDIT.c.evaluation_id == evaluation_id).order_by(AUDIT.c.seq))]
    before = {int(r.seq): str(r.row_hash) for r in session.execute(
        select(AUDIT.c.seq, AUDIT.c.row_hash).where(
            AUDIT.c.seq.in_([r["seq"] - 1 for r in rows if r["seq"] > 1])))}
    key = audit.key_for(session)
    out = []
    for r in rows:
        previous = audit.GENESIS_HASH if r["seq"] == 1 else before.get(r["seq"] - 1)
        intact = (previous is not None and r["prev_hash"] == previous
                  and hmac.compare_digest(audit.row_hash(r["prev_hash"], r, key), r["row_hash"]))
        out.append(AuditLine(r["seq"], r["at"],
                             None if r["role"] == Role.PEER.value else r["actor_id"], r["role"],
                             r["trigger"], r["from_state"], r["to_state"], r["reason"], intact))
    return out
