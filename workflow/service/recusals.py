"""Recusal in the store: conflicts of interest read from the organisation, the case
handed on when a cycle opens, and a scorer declaring a conflict on the scoring form.

What a recusal means, who takes a case on and why, is ``workflow.recusal``'s (pure).
Here it is written down: an assignment row ``recused`` for whoever steps aside (the
permission check reads it), an assignment row ``calibrator`` for whoever calibrates an
evaluation instead of the cycle's calibrator, the evaluation's new supervisor when the
scorer steps aside, an audit row with the reason, and the task email to the new decider.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from workflow import recusal
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.cycle_config import CycleFile
from workflow.domain import SCORER_ROLES, Role, State
from workflow.effects import core as effects
from workflow.errors import NotPermitted, Problem, SubmissionInvalid, WorkflowError
from workflow.permissions import roles_of
from workflow.service.change import base_context
from workflow.service.core import Service, load_people, load_snapshot
from workflow.service.notices import notices_for
from workflow.service.transition import REASON_LIMIT, Change, write
from workflow.states import Notice
from workflow.store import audit
from workflow.store.tables import ASSIGNMENT, EVALUATION, PERSON


class NobodyToHandOn(WorkflowError):
    """A case cannot be handed on: everyone up the line is in conflict or there is nobody."""

    user_message = N_("Nobody above you can take this case on. Please ask the HR "
                      "administrator to reassign it.")


class OrgLine:
    """The organisation's conflicts of interest and supervisor line, read once."""

    def __init__(self, session: Session, config: CycleFile) -> None:
        self.session = session
        self.config = config
        self.conflicts = recusal.conflict_map(
            (r.id, r.conflicts_with) for r in session.execute(
                select(PERSON.c.id, PERSON.c.conflicts_with)
                .where(PERSON.c.conflicts_with.is_not(None))))
        self._above: dict[str, str | None] = {}

    def of(self, person_id: str) -> frozenset[str]:
        return self.conflicts.get(person_id, frozenset())

    def above(self, person_id: str) -> str | None:
        """The person's supervisor, else the evaluator the cycle file names for them."""
        if person_id not in self._above:
            sup = self.session.execute(select(PERSON.c.supervisor_id).where(
                PERSON.c.id == person_id)).scalar()
            self._above[person_id] = sup or self.config.evaluators.get(person_id)
        return self._above[person_id]

    def scorer(self, reviewee_id: str, evaluator: str
               ) -> tuple[str | None, list[recusal.Recusal]]:
        """Who scores ``reviewee_id`` when ``evaluator`` would, and the recusals on the
        record: everyone in conflict with the reviewee steps aside from deciding."""
        mine = self.of(reviewee_id)
        out: list[recusal.Recusal] = []
        taker: str | None = evaluator
        if evaluator in mine:
            excluded = {*mine, reviewee_id}
            taker = (recusal.first_free([self.config.evaluators.get(reviewee_id)], excluded)
                     or recusal.next_up(evaluator, self.above, excluded))
            out.append(recusal.Recusal(reviewee_id, evaluator, recusal.SCORING, taker,
                                       recusal.FROM_ORGANISATION))
        out += [recusal.Recusal(reviewee_id, p, recusal.DECIDING, None,
                                recusal.FROM_ORGANISATION)
                for p in sorted(mine) if p != evaluator]
        return taker, out

    def calibration(self, calibrator_id: str | None, reviewees: Iterable[str]
                    ) -> list[recusal.Recusal]:
        return recusal.calibration_recusals(calibrator_id, reviewees, self.conflicts,
                                            self.config.recusal.calibration, self.above)


def describe(r: recusal.Recusal) -> str:
    """One recusal as `kpi cycle check` prints it."""
    taker = f"; {r.handed_to} takes it on" if r.handed_to else ""
    return (f"{r.person_id} steps aside from {r.steps_aside_from} on {r.reviewee_id}'s "
            f"evaluation ({r.reason}){taker}")


def on_record(r: recusal.Recusal) -> str:
    """The audit row's reason: why, who steps aside from what, who takes it on."""
    taker = f"; {r.handed_to} takes it on" if r.handed_to else ""
    return f"{r.reason} ({r.person_id} steps aside from {r.steps_aside_from}{taker})"


def assignment_rows(evaluation_id: int, recusals: Sequence[recusal.Recusal], now: datetime,
                    actor_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in recusals:
        rows.append({"evaluation_id": evaluation_id, "person_id": r.person_id,
                     "role": recusal.RECUSED, "status": "pending", "valid_from": now,
                     "valid_until": None, "created_by": actor_id,
                     "reason": f"{r.steps_aside_from}: {r.reason}"[:2000]})
        if r.steps_aside_from == recusal.CALIBRATION and r.handed_to:
            rows.append({"evaluation_id": evaluation_id, "person_id": r.handed_to,
                         "role": recusal.CALIBRATOR_INSTEAD, "status": "pending",
                         "valid_from": now, "valid_until": None, "created_by": actor_id,
                         "reason": f"calibrates instead of {r.person_id}: {r.reason}"[:2000]})
    return rows


def audit_entries(evaluation_id: int, cycle_id: str, recusals: Sequence[recusal.Recusal],
                  now: datetime, actor_id: str, role: str, state: str | None
                  ) -> list[audit.AuditEntry]:
    return [audit.AuditEntry(
        actor_id=actor_id, role=role, at=now, trigger="recuse", evaluation_id=evaluation_id,
        cycle_id=cycle_id, from_state=state, to_state=state, reason=on_record(r),
        payload={"person": r.person_id, "steps_aside_from": r.steps_aside_from,
                 "handed_to": r.handed_to}) for r in recusals]


def hand_on_calibration(session: Session, line: OrgLine, cycle_id: str,
                        calibrator_id: str | None, now: datetime, actor_id: str) -> list[str]:
    """When a cycle opens: the evaluations its calibrator is in conflict with (their own
    among them) are calibrated by someone else. Returns the problems (nobody free)."""
    if not calibrator_id:
        return []
    concerned = {calibrator_id, *line.of(calibrator_id)}
    found = dict(session.execute(select(EVALUATION.c.reviewee_id, EVALUATION.c.id).where(
        EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.reviewee_id.in_(sorted(concerned)))
    ).all())
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    entries: list[audit.AuditEntry] = []
    for r in line.calibration(calibrator_id, sorted(found)):
        if r.handed_to is None:
            problems.append(nobody_calibrates(r))
            continue
        rows += assignment_rows(found[r.reviewee_id], [r], now, actor_id)
        entries += audit_entries(found[r.reviewee_id], cycle_id, [r], now, actor_id,
                                 Role.ADMIN.value, State.SELF_ASSESSMENT.value)
    if rows:
        session.execute(insert(ASSIGNMENT), rows)
        audit.append(session, entries)
    return problems


# Problems that keep a cycle from opening: catalogue messages, so that the admin console
# says them in its language (the CLI prints their English).
NOBODY_CALIBRATES = N_("%(reviewee)s: the calibrator %(person)s may not calibrate this "
                       "evaluation (%(reason)s) and nobody takes it on: name one under "
                       "recusal.calibration in the cycle file")
NOBODY_SCORES = N_("%(reviewee)s: their supervisor %(evaluator)s has a conflict of interest "
                   "with them and nobody above is free: name someone else who scores them "
                   "under evaluators: {%(reviewee)s: EVALUATOR_ID}")


def nobody_calibrates(r: recusal.Recusal) -> str:
    return Problem(NOBODY_CALIBRATES, reviewee=r.reviewee_id, person=r.person_id,
                   reason=r.reason)


def nobody_scores(reviewee_id: str, evaluator: str) -> str:
    return Problem(NOBODY_SCORES, reviewee=reviewee_id, evaluator=evaluator)


# --- declaring a conflict on the scoring form ----------------------------------------


def declare_conflict(svc: Service, evaluation_id: int, actor_id: str, reason: str, *,
                     now: datetime | None = None) -> str:
    """A scorer declares a conflict of interest with the reviewee and steps aside.

    One transaction: the ``recused`` row, the audit row with the reason and, when the
    assigned supervisor steps aside, the next free person up as the new supervisor,
    who gets the scoring task email. An acting or escalation supervisor who steps
    aside only loses their part. Returns who now scores (the new supervisor).
    """
    now = now or utc_now()
    text = (reason or "").strip()
    if not text:
        raise SubmissionInvalid(evaluation_id, {"conflict_reason": Problem(
            N_("say why you have a conflict of interest (for example: a relative)"),
            english="a conflict of interest needs a reason")})
    if len(text) > REASON_LIMIT:
        raise SubmissionInvalid(evaluation_id, {"conflict_reason": Problem(
            N_("at most %(limit)s characters"), limit=REASON_LIMIT)})
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        roles = roles_of(actor_id, snap.view, now) & SCORER_ROLES
        if not roles or actor_id in snap.view.recused:
            raise NotPermitted(evaluation_id, actor_id, "declare_conflict",
                               "only a scorer of the evaluation steps aside from scoring it")
        if snap.state is not State.SUPERVISOR_SCORING:
            raise NotPermitted(evaluation_id, actor_id, "declare_conflict",
                               f"the evaluation is {snap.state.value}, not waiting for a score")
        line = OrgLine(session, snap.rules.config)
        excluded = {snap.row.reviewee_id, actor_id, *snap.view.recused,
                    *line.of(snap.row.reviewee_id)}
        sup = snap.row.supervisor_id
        values: dict[str, Any] = {"updated_at": now}
        taker = sup
        if actor_id == sup:
            taker = recusal.next_up(actor_id, line.above, excluded)
            if taker is None:
                raise NobodyToHandOn(f"{actor_id} may not score evaluation {evaluation_id} "
                                     "and nobody above them is free to: an admin reassigns "
                                     "it (`kpi reassign`)")
            values["supervisor_id"] = taker
        r = recusal.Recusal(snap.row.reviewee_id, actor_id, recusal.SCORING, taker, text)
        role = sorted(roles)[0]
        change = Change(snap.id, snap.row.cycle_id, snap.version, snap.state, snap.state,
                        "recuse", actor_id, role, now, values)
        change.audit += audit_entries(snap.id, snap.row.cycle_id, [r], now, actor_id,
                                      role.value, snap.state.value)
        # The scorer's own rows (an acting or escalation part) end with the recusal.
        change.assignment_status = [(a.id, "withdrawn") for a in snap.assignments
                                    if a.person_id == actor_id
                                    and a.role in {x.value for x in SCORER_ROLES}]
        session.execute(insert(ASSIGNMENT), assignment_rows(snap.id, [r], now, actor_id))
        if "supervisor_id" in values:
            row = snap.row.changed(values)
            people = load_people(session, {
                row.reviewee_id, taker, actor_id, *snap.view.admins,
                *snap.view.escalation_supervisors,
                *(d.person_id for d in snap.view.acting_supervisors)} - {None})
            # The reminders and the escalation ladder follow the case to its new scorer.
            timers = effects.replan(snap, row, now, people, due_moved=False)
            if timers.cancel_kinds:
                change.timers = list(timers.timers)
                change.cancel_kinds = timers.cancel_kinds
            change.mail = notices_for(
                svc, snap, [Notice("task_supervisor_scoring", "supervisor")], people=people,
                context={**base_context(snap, row, people), "reason": text,
                         "trigger": "recuse"},
                key=f"ev:{evaluation_id}:v{snap.version + 1}", now=now, row=row,
                link_expires_at=row.due_at)
        write(svc, session, [change])
    return taker or ""


def calibrates_instead(session: Session, person_id: str) -> set[str]:
    """The cycles in which ``person_id`` calibrates some evaluation instead of the
    cycle's calibrator (who has a conflict of interest with its reviewee)."""
    return set(session.execute(select(EVALUATION.c.cycle_id).join(
        ASSIGNMENT, EVALUATION.c.id == ASSIGNMENT.c.evaluation_id).where(
        ASSIGNMENT.c.person_id == person_id, ASSIGNMENT.c.role == recusal.CALIBRATOR_INSTEAD,
        ASSIGNMENT.c.status != "withdrawn").distinct()).scalars())
