"""Conflicts of interest a later organisation import declares (issue 17).

A cycle reads ``conflicts_with`` when it opens (``service.recusals``). When a later
`kpi org import` (or the admin's /admin/org apply: the same service call) adds a
conflict between a reviewee and someone who decides their open evaluation, the case
moves as at opening, on the record: whoever scores it hands it to the next free person
up (or the evaluator the cycle file names), whoever calibrates it to the cycle's
``recusal.calibration`` person (else the calibrator's own evaluator), whoever reviews
its appeal to the next reviewer in line; the one in conflict gets a ``recused`` row (the
permission check refuses them anything on it from then on), an audit row says why, and
the new decider gets the task email when the case waits for them now. Removing a
conflict moves nothing back (the preview says so). The preview (``--dry-run``, the
page's preview) lists the same hand-overs, computed by the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from workflow import recusal
from workflow.domain import OPEN_STATES, Role, State, SubmissionKind
from workflow.effects import core as effects
from workflow.evaluation_rows import EvaluationRecord
from workflow.service import petition_rounds, pool
from workflow.service.change import Change, base_context
from workflow.service.core import Service, Snapshot, load_people, load_snapshots
from workflow.service.notices import make_mail, notices_for
from workflow.service.recusals import OrgLine, assignment_rows, audit_entries
from workflow.states import Notice
from workflow.states.appeal_window import appeal_reviewer
from workflow.store.tables import DEADLINE, EVALUATION, SUBMISSION, Cycle

BEFORE_SCORING = (State.SELF_ASSESSMENT, State.PEER_INPUT, State.SUPERVISOR_SCORING)
TASK_OF = {recusal.SCORING: (State.SUPERVISOR_SCORING,
                             Notice("task_supervisor_scoring", "supervisor")),
           recusal.APPEAL_REVIEW: (State.APPEAL_REVIEW,
                                   Notice("task_appeal_review", "appeal_reviewer"))}


@dataclass(frozen=True)
class HandOver:
    """One open evaluation whose decider the import puts in conflict with its reviewee."""

    evaluation_id: int
    cycle_id: str
    state: str
    reviewee_id: str
    person_id: str  # steps aside
    steps_aside_from: str  # scoring, calibration, appeal_review, or deciding (no case moves)
    handed_to: str | None  # who takes it on; None: nobody free (an admin reassigns it)

    def describe(self) -> str:
        """One line for `kpi org import` and its ``--dry-run``."""
        if self.steps_aside_from == recusal.DECIDING:
            return (f"{self.person_id} may no longer decide anything on {self.reviewee_id}'s "
                    f"evaluation {self.evaluation_id} ({self.cycle_id}, {self.state})")
        taker = (f"{self.handed_to} takes it on" if self.handed_to else
                 "nobody above is free: an admin reassigns it (kpi reassign)")
        return (f"{self.person_id} steps aside from {self.steps_aside_from} on "
                f"{self.reviewee_id}'s evaluation {self.evaluation_id} ({self.cycle_id}, "
                f"{self.state}); {taker}")


def conflict_pairs(before: Mapping[str, str | None], after: Mapping[str, str | None]
                   ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(added, removed) conflicts, each pair both ways: (person, the one they conflict with)."""
    old = recusal.conflict_map(before.items())
    new = recusal.conflict_map(after.items())
    added = {(a, b) for a, others in new.items() for b in others
             if b not in old.get(a, frozenset())}
    removed = {(a, b) for a, others in old.items() for b in others
               if b not in new.get(a, frozenset())}
    return added, removed


def plan(svc: Service, session: Session, added: set[tuple[str, str]],
         conflicts_after: Mapping[str, frozenset[str]], *, lock: bool
         ) -> list[tuple[Snapshot, list[HandOver]]]:
    """The hand-overs the added conflicts make on open evaluations, by evaluation."""
    reviewees = sorted({a for a, _ in added})
    if not reviewees:
        return []
    ids = list(session.execute(
        select(EVALUATION.c.id).where(EVALUATION.c.reviewee_id.in_(reviewees),
                                      EVALUATION.c.state.in_([s.value for s in OPEN_STATES]))
        .order_by(EVALUATION.c.id)).scalars())
    out: list[tuple[Snapshot, list[HandOver]]] = []
    calibrators: dict[str, tuple[str | None, dict[int, str]]] = {}
    for snap in load_snapshots(svc, session, ids, lock=lock).values():
        cycle_id = snap.row.cycle_id
        if cycle_id not in calibrators:
            cycle = session.get(Cycle, cycle_id)
            calibrators[cycle_id] = (cycle.calibrator_id if cycle else None,
                                     pool.takers(session, cycle_id))
        calibrator, instead = calibrators[cycle_id]
        found = _of(session, snap, added, conflicts_after,
                    instead.get(snap.id, calibrator))
        if found:
            out.append((snap, found))
    return out


def _of(session: Session, snap: Snapshot, added: set[tuple[str, str]],
        conflicts_after: Mapping[str, frozenset[str]], calibrates: str | None
        ) -> list[HandOver]:
    row, config = snap.row, snap.rules.config
    reviewee = row.reviewee_id
    newly = sorted(b for a, b in added if a == reviewee and b not in snap.view.recused)
    line = OrgLine(session, config)
    excluded = {reviewee, *conflicts_after.get(reviewee, frozenset()), *snap.view.recused}
    out: list[HandOver] = []

    def hand(person: str, what: str, taker: str | None) -> None:
        out.append(HandOver(snap.id, row.cycle_id, snap.state.value, reviewee, person,
                            what, taker))

    for person in newly:
        if snap.state in BEFORE_SCORING and person == row.supervisor_id:
            hand(person, recusal.SCORING,
                 recusal.first_free([config.evaluators.get(reviewee)], excluded)
                 or recusal.next_up(person, line.above, excluded))
        elif (config.enabled(State.CALIBRATION) and person == calibrates
              and snap.state.value in [*pool.BEFORE_CALIBRATION, State.CALIBRATION.value]):
            hand(person, recusal.CALIBRATION, recusal.first_free(
                [config.recusal.calibration, line.above(person)], {*excluded, person}))
        elif snap.state is State.APPEAL_REVIEW and person == row.appeal_reviewer_id:
            people = load_people(session, [row.supervisor_id, row.scored_by, person])
            hand(person, recusal.APPEAL_REVIEW, appeal_reviewer(
                row, config, snap.view.admins, people, {*excluded, person},
                scorer_decides=snap.rules.scorer_decides_petition))
        else:
            hand(person, recusal.DECIDING, None)
    return out


def changes(svc: Service, session: Session, planned: Iterable[tuple[Snapshot, list[HandOver]]],
            *, file_name: str, actor_id: str, now: datetime) -> list[Change]:
    """The planned hand-overs as changes to write (``transition.write``): one per
    evaluation, each with its assignment rows, audit rows and task email."""
    planned = list(planned)  # read twice: here and for the calibration tasks
    out: list[Change] = []
    for snap, handovers in planned:
        row = snap.row
        values: dict[str, Any] = {"updated_at": now}
        reason = f"{recusal.FROM_ORGANISATION} ({file_name})"
        recusals = [recusal.Recusal(h.reviewee_id, h.person_id, h.steps_aside_from,
                                    h.handed_to, reason) for h in handovers]
        for h in handovers:
            if h.handed_to and h.steps_aside_from == recusal.SCORING:
                values["supervisor_id"] = h.handed_to
            if h.handed_to and h.steps_aside_from == recusal.APPEAL_REVIEW:
                values["appeal_reviewer_id"] = h.handed_to
        change = Change(snap.id, row.cycle_id, snap.version, snap.state, snap.state,
                        "recuse", actor_id, Role.ADMIN, now, values)
        change.new_assignments = assignment_rows(snap.id, recusals, now, actor_id)
        # A substitute calibrator who steps aside in turn: their row ends, or the view
        # (the first live ``calibrator`` row) would keep them as the one who decides.
        leaving = {h.person_id for h in handovers if h.handed_to
                   and h.steps_aside_from == recusal.CALIBRATION}
        change.assignment_status = [(a.id, "withdrawn") for a in snap.assignments
                                    if a.person_id in leaving
                                    and a.role == recusal.CALIBRATOR_INSTEAD]
        change.audit += audit_entries(snap.id, row.cycle_id, recusals, now, actor_id,
                                      Role.ADMIN.value, snap.state.value)
        after = row.changed(values)
        tasks = [notice for h in handovers if h.handed_to
                 for state, notice in [TASK_OF.get(h.steps_aside_from, (None, None))]
                 if notice is not None and state is snap.state]
        if tasks:
            people = load_people(session, {
                after.reviewee_id, after.supervisor_id, after.appeal_reviewer_id,
                *snap.view.admins, *snap.view.escalation_supervisors,
                *(d.person_id for d in snap.view.acting_supervisors)} - {None})
            # The reminders and the escalation ladder follow the case to its new decider.
            timers = effects.replan(snap, after, now, people, due_moved=False)
            if timers.cancel_kinds:
                change.timers = list(timers.timers)
                change.cancel_kinds = timers.cancel_kinds
            context = {**base_context(snap, after, people), "reason": reason,
                       "trigger": "recuse"}
            if snap.state is State.APPEAL_REVIEW:
                context.update(_appeal_context(session, snap))
            change.mail = notices_for(svc, snap, tasks, people=people, context=context,
                                      key=f"ev:{snap.id}:v{snap.version + 1}", now=now,
                                      row=after, link_expires_at=after.due_at)
        _notes(svc, session, snap, after, handovers, now, change)
        out.append(change)
    _calibration_tasks(svc, session, planned, out, now)
    return out


def _calibration_tasks(svc: Service, session: Session,
                       planned: Iterable[tuple[Snapshot, list[HandOver]]],
                       out: list[Change], now: datetime) -> None:
    """The calibration task email to whoever takes on calibrating an evaluation of a
    pool already open (its deadline running): the one the pool's opening sends those
    who calibrate instead of the calibrator, one per taker and cycle, counting what
    they decide now. A pool not open yet sends it when it opens (``pool.open_if_complete``
    reads the ``calibrator`` rows written here)."""
    by_change = {c.evaluation_id: c for c in out}
    taken: dict[tuple[str, str], list[Snapshot]] = {}
    for snap, handovers in planned:
        for h in handovers:
            if (h.handed_to and h.steps_aside_from == recusal.CALIBRATION
                    and snap.state is State.CALIBRATION):
                taken.setdefault((snap.row.cycle_id, h.handed_to), []).append(snap)
    for (cycle_id, taker), snaps in sorted(taken.items()):
        if not pool.pending_timers(session, cycle_id):
            continue
        first = snaps[0]
        rules = first.rules
        person = load_people(session, [taker]).get(taker)
        if person is None or not person.active:
            continue
        cycle = session.get(Cycle, cycle_id)
        if cycle is None:
            continue
        _before, waiting = pool.counts(session, cycle_id)
        # The rows this import writes are not in the store yet: counted here.
        earlier = pool.takers(session, cycle_id, waiting_only=True)
        count = pool.waiting_for(session, cycle, taker, waiting) + sum(
            1 for s in snaps if earlier.get(s.id) != taker)
        due_at = first.row.due_at
        by_change[first.id].mail.extend(make_mail(
            svc, event="task_calibration", person=person,
            dedupe_key=f"ev:{first.id}:v{first.version + 1}:task_calibration:{taker}",
            context={"cycle_id": cycle_id, "cycle_name": rules.config.name,
                     "evaluations": count,
                     "due_at": due_at.isoformat() if due_at else None,
                     "cycle_timezone": rules.tz_name, "state": State.CALIBRATION.value},
            now=now, evaluation_id=None, link_expires_at=due_at, cycle_tz=rules.tz_name))


def hand_over_pool_timers(svc: Service, session: Session,
                          planned: Iterable[tuple[Snapshot, list[HandOver]]],
                          now: datetime) -> None:
    """In an open pool (its clock running), the pool's reminders, due row and ladder
    follow its evaluations to whoever takes on calibrating them: the taker gets the rows
    its opening would have made them, from ``now`` on (none if they have theirs), and
    one who stepped aside and decides nothing more in the pool has theirs cancelled.
    Run after the hand-overs are written (``transition.write``), in their transaction:
    who decides what is read from the rows they wrote."""
    moved: dict[str, list[HandOver]] = {}
    for snap, handovers in planned:
        for h in handovers:
            if (h.handed_to and h.steps_aside_from == recusal.CALIBRATION
                    and snap.state is State.CALIBRATION):
                moved.setdefault(snap.row.cycle_id, []).append(h)
    for cycle_id, handovers in sorted(moved.items()):
        window = pool.open_window(session, cycle_id)
        if window is None or not pool.pending_timers(session, cycle_id):
            continue  # not open yet: its opening makes everyone's rows
        cycle = session.get(Cycle, cycle_id)
        if cycle is None or cycle.calibrator_id is None:
            continue
        rules = svc.rules.get(session, cycle_id)
        _before, waiting = pool.counts(session, cycle_id)
        has_rows = pool.pending_recipients(session, cycle)
        takers = sorted({h.handed_to for h in handovers if h.handed_to} - has_rows)
        people = load_people(session, takers)
        rows = [row for taker in takers if taker in people and people[taker].active
                for row in pool.taker_rows(rules, cycle_id, window, taker, people,
                                           not_before=now, after=now)]
        if rows:
            session.execute(insert(DEADLINE), rows)
        for person_id in sorted({h.person_id for h in handovers} & has_rows):
            if not pool.waiting_for(session, cycle, person_id, waiting):
                pool.cancel_timers_of(session, cycle, person_id, now)


def _notes(svc: Service, session: Session, snap: Snapshot, after: EvaluationRecord,
           handovers: list[HandOver], now: datetime, change: Change) -> None:
    """A note to each one who stepped aside from a case that moved: who decides it now."""
    moved = [h for h in handovers if h.handed_to and h.steps_aside_from in (
        recusal.SCORING, recusal.CALIBRATION, recusal.APPEAL_REVIEW)]
    if not moved:
        return
    people = load_people(session, {after.reviewee_id,
                                   *(x for h in moved for x in (h.person_id, h.handed_to))})
    for h in moved:
        person, taker = people.get(h.person_id), people.get(h.handed_to or "")
        if person is None or not person.active:
            continue
        # The text says why (the organisation file); the record's reason is English.
        context = {**base_context(snap, after, people), "reason": None, "due_at": None,
                   "trigger": "recuse", "action_url": None,
                   "steps_aside_from": h.steps_aside_from,
                   "assignee_name": taker.full_name if taker else h.handed_to}
        change.mail.extend(make_mail(
            svc, event="stepped_aside", person=person, context=context, now=now,
            dedupe_key=f"ev:{snap.id}:v{snap.version + 1}:stepped_aside:{h.person_id}",
            evaluation_id=snap.id, cycle_tz=snap.rules.tz_name,
            calendar=snap.rules.calendar))


def _appeal_context(session: Session, snap: Snapshot) -> dict[str, Any]:
    """What the appeal reviewer's task email shows: the reasons, the round."""
    reasons = session.execute(
        select(SUBMISSION.c.payload).where(SUBMISSION.c.evaluation_id == snap.id,
                                           SUBMISSION.c.kind == SubmissionKind.APPEAL.value)
        .order_by(SUBMISSION.c.id.desc())).scalar()
    round_ = effects.petition_round(snap.row)
    people: dict[str, Any] = {}
    return {"appeal_reasons": (reasons or {}).get("reasons"), "review_round": round_,
            "earlier_decision": petition_rounds.earlier_decision(session, snap.id, people)
            if round_ >= 2 else None}
