"""The calendar of a cycle before launch: who gets which email when, if nobody acts.

`kpi cycle check` prints it so an admin can see, before opening a cycle, every task
email, reminder, missed-deadline notice, overdue notice and escalation the
deadlines alone will cause, for the organisation as it is in the database.

It is computed, not run: each evaluation is walked through its phases in memory,
and every decision is the effects core's (``workflow.effects.core``), the very
functions ``plan`` and the sweep call: what a due deadline row does (``due_timer``),
what a trigger and entering a phase do (``transition``). This module keeps no
decision of its own; it only applies what the core returns to the evaluations it
holds, the way the store would, and fires the rows as the sweep does: in rounds at
each sweep's instant, by time then by the order the rows were planned, an
evaluation's later rows waiting for the next round once one has changed it.

By default the sweep is on time (it runs at each instant a row falls due) and
nobody acts: every evaluation ends in a state that never moves alone, waiting on
named people (supervisor scoring), or finalised if the calendar gets it there.
``actions`` (people acting at given instants) and ``sweeps`` (the instants a sweep
runs, with downtime between them) make it the model of one run of the real system.

The supervisors' daily digest is predicted too, with the sweep's own rule
(``notices.digest_hold``): a notice that folds into a digest is listed with
``held`` set and the digest's instant as its time, and each recipient's digest of
that instant is an email of its own (event ``digest``), sent when at least one of
its items still waits for them then, as ``notices.fold_digests`` decides.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial
from itertools import count
from typing import Any

from sqlmodel import Session

from workflow.calendar import zone
from workflow.catalog import N_
from workflow.domain import Role, State, Trigger
from workflow.effects import core as effects
from workflow.effects.rows import superseded_reminders
from workflow.errors import Problem, WorkflowError
from workflow.evaluation_rows import AssignmentRecord
from workflow.permissions import SYSTEM_ACTOR
from workflow.petition import window_from_publication
from workflow.recusal import CALIBRATION
from workflow.service.core import PersonInfo, Service, Snapshot, load_people
from workflow.service.cycles import (
    PlannedEvaluation,
    PopulationPlan,
    opening_snapshot,
    plan_population,
)
from workflow.service.notices import DIGEST_EVENT, DIGEST_SETTLE, digest_hold, still_waiting_in
from workflow.service.publication import BEFORE_RESULT, PUBLISHED_EVENT, WITH_RESULT
from workflow.service.rules import CycleRules
from workflow.states import SPECS
from workflow.states.appeal_window import appeal_reviewer
from workflow.timing import PhaseWindow, full_time_windows, further_review_windows


@dataclass(frozen=True)
class PlannedEmail:
    """One email the deadlines will cause: a row of the simulation."""

    at: datetime  # the instant (UTC) it is queued to go out
    event: str  # the outbox event (template name)
    recipient_id: str
    reviewee_id: str | None  # whose evaluation it is about (None: a calibration pool)
    phase: State  # the phase the evaluation is in when it is sent
    timezone: str  # the recipient's (the cycle's when they have none)
    # Waits for the recipient's digest (``at`` is the digest's instant) and goes out
    # inside it, not alone.
    held: bool = False

    @property
    def local(self) -> datetime:
        """``at`` on the recipient's clock."""
        return self.at.astimezone(zone(self.timezone))

    @property
    def local_day(self) -> date:
        return self.local.date()


@dataclass(frozen=True)
class SimulatedEnd:
    """Where an evaluation stands when the deadlines have nothing more to do."""

    reviewee_id: str
    state: State
    waiting_on: tuple[str, ...]  # named people who must act; empty when finalised


@dataclass
class Simulation:
    emails: list[PlannedEmail] = field(default_factory=list)  # sorted by time

    @property
    def delivered(self) -> list[PlannedEmail]:
        """The messages that reach an inbox: the emails not held, and the digests."""
        return [e for e in self.emails if not e.held]
    ends: list[SimulatedEnd] = field(default_factory=list)
    windows: dict[str, list[PhaseWindow]] = field(default_factory=dict)  # reviewee -> phases


@dataclass(frozen=True)
class SimAction:
    """Someone acting: ``actor_id`` fires ``trigger`` on ``reviewee_id``'s evaluation at
    ``at``. At the instant of a sweep, the sweep goes first. An action the engine
    would refuse then (wrong state, not their turn, phase not open) does nothing."""

    at: datetime
    reviewee_id: str
    trigger: Trigger
    actor_id: str


@dataclass
class _Walk:
    """One evaluation being walked: its row, its pending deadline rows, what it sent."""

    snap: Snapshot
    queue: list[tuple[datetime, int, dict[str, Any]]]  # (fire_at, row id, row), unsorted
    emails: list[PlannedEmail]
    windows: list[PhaseWindow]
    digest_at: str | None  # the digest's local time, None when it is off
    states: list[tuple[datetime, State]]  # when it entered each state, in order

    def state_before(self, instant: datetime) -> State:
        """The state a sweep at ``instant`` finds (people acting then come after it)."""
        current = self.states[0][1]
        for since, state in self.states:
            if since >= instant:
                break
            current = state
        return current

    def state_at(self, instant: datetime) -> State:
        current = self.states[0][1]
        for since, state in self.states:
            if since > instant:
                break
            current = state
        return current


def simulate(rules: CycleRules, plan: PopulationPlan, people: Mapping[str, PersonInfo],
             admins: Iterable[str], opened_at: datetime, *, digest_at: str | None = None,
             actions: Sequence[SimAction] = (), sweeps: Sequence[datetime] | None = None
             ) -> Simulation:
    """Every email the deadlines (and ``actions``) cause for ``plan`` opened at ``opened_at``.

    Pure: ``people`` holds everyone the emails may go to (reviewees, supervisors,
    peers, the people above them, admins). ``digest_at`` is the supervisors' digest
    time ("HH:MM", the recipient's local time), None when the digest is off.
    ``sweeps``: the instants the sweep runs (None: on time, whenever a row falls due;
    after the last one, what is still pending stays so).
    """
    admin_ids = frozenset(admins)
    result = Simulation()
    seq = count(1)  # the order rows are planned in, as the sweep's row ids
    schedule = sorted(sweeps) if sweeps is not None else None
    by_reviewee: dict[str, list[SimAction]] = {}
    for action in sorted(actions, key=lambda a: a.at):
        by_reviewee.setdefault(action.reviewee_id, []).append(action)
    # (recipient, digest instant) -> whether each held item still waits then
    digests: dict[tuple[str, datetime], list[bool]] = {}
    walks: list[_Walk] = []
    takers = calibration_takers(plan)

    def walk_of(number: int, planned: PlannedEvaluation, published_at: datetime | None,
                rows: Any) -> _Walk:
        walk = _open(rules, planned, number, people, admin_ids, opened_at, plan.calibrator_id,
                     rows, digest_at, takers.get(planned.member.id))
        _run(rules, walk, by_reviewee.get(planned.member.id, []), schedule, people, rows,
             opened_at, published_at)
        return walk

    numbered = list(enumerate(plan.evaluations, start=1))
    if rules.petition_from_publication:
        # Each unit's publication couples its evaluations: the walks are run once to
        # find when each unit is published, then again with it (the same up to then).
        # The row ids of the second run are the ones kept: the first one's are thrown
        # away with it, as only their order within one evaluation matters.
        first = [(planned, walk_of(number, planned, None, count(1)))
                 for number, planned in numbered]
        published = _publications(first)
        walks = [walk_of(number, planned, published.get(planned.member.unit_id), seq)
                 for number, planned in numbered]
    else:
        walks = [walk_of(number, planned, None, seq) for number, planned in numbered]
    for planned, walk in zip(plan.evaluations, walks, strict=True):
        for e in walk.emails:
            if e.held:  # folded once the digest's time has settled, as the dispatcher does
                then = walk.state_at(e.at + DIGEST_SETTLE)
                digests.setdefault((e.recipient_id, e.at), []).append(
                    still_waiting_in(e.event, e.phase.value, then.value))
        snap = walk.snap
        spec = SPECS[snap.state]
        waiting = tuple(effects.recipients(snap, spec.waits_on, admin_ids,
                                           walk.windows[-1].due_at, snap.row)
                        ) if spec.waits_on else ()
        result.ends.append(SimulatedEnd(planned.member.id, snap.state, waiting))
        result.emails.extend(walk.emails)
        result.windows[planned.member.id] = walk.windows
    if plan.calibrator_id and rules.config.enabled(State.CALIBRATION):
        result.emails.extend(_pool(rules, walks, plan.calibrator_id, takers, people,
                                   admin_ids, schedule))
    for (recipient_id, instant), items_waiting in digests.items():
        if any(items_waiting):
            person = people[recipient_id]
            result.emails.append(PlannedEmail(instant, DIGEST_EVENT, recipient_id, None,
                                              State.SUPERVISOR_SCORING,
                                              person.timezone or rules.tz_name))
    result.emails.sort(key=lambda e: (e.at, e.recipient_id, e.event, e.reviewee_id or ""))
    return result


def simulate_cycle(svc: Service, session: Session, rules: CycleRules, opened_at: datetime,
                   *, actions: Sequence[SimAction] = (),
                   sweeps: Sequence[datetime] | None = None
                   ) -> tuple[PopulationPlan, Simulation]:
    """The population of ``rules`` in the current organisation, and its simulation
    (nobody acting and the sweep on time, unless ``actions`` and ``sweeps`` say)."""
    plan = plan_population(svc, session, rules)
    late = year_end_late(rules, opened_at)
    if late is not None:
        plan.warnings.append(late)
    config = rules.config
    # Those the cycle file names to decide (a council, who takes a case on), and
    # whoever calibrates instead of the calibrator (recusal).
    wanted: set[str | None] = {*svc.admins(rules), plan.calibrator_id, config.appeal_reviewer,
                               config.re_appeal_reviewer, config.recusal.appeal_review,
                               config.recusal.calibration, *calibration_takers(plan).values()}
    for e in plan.evaluations:
        wanted.update({e.member.id, e.supervisor_id, *e.peers})
    people = load_people(session, wanted)
    # The people above supervisors (and above them) for the escalation ladder, and as
    # far up as a petition against a petition's decision may go (re_review).
    for _ in range(1 + rules.further_reviews):
        above = {p.supervisor_id for p in people.values()} | set(config.evaluators.values())
        people.update(load_people(session, above - set(people)))
    digest_at = svc.settings.digest_at if svc.settings.digest_enabled else None
    return plan, simulate(rules, plan, people, svc.admins(rules), opened_at,
                          digest_at=digest_at, actions=actions, sweeps=sweeps)


YEAR_END_LATE = N_(
    "the year-end classification cannot finish by %(limit)s: if each phase runs its full "
    "time, the last evaluation is finalised on %(reached)s (its appeal window and the "
    "appeal's review included). Open the cycle earlier (phases.self_assessment.opens) "
    "or shorten its phases' due times")
YEAR_END_LATE_NOT_SPECIAL = N_(
    "the year-end classification cannot finish by %(limit)s: if each phase runs its full "
    "time, the last evaluation is finalised on %(reached)s (its appeal window and the "
    "appeal's review included). Open the cycle earlier (phases.self_assessment.opens) "
    "or shorten its phases' due times; an agency with special characteristics, which its "
    "direct superior lets finish by 15 January, says so in the cycle file with year_end: "
    "{special_agency: true}")


def year_end_late(rules: CycleRules, opened_at: datetime) -> Problem | None:
    """The warning of a year-end cycle whose calendar, each phase running its full time,
    finalises its last evaluation after the regulation's limit (15 December, or 15
    January for a special agency); None when it finishes in time or is not a year-end."""
    config = rules.config
    limit = config.year_end_limit()
    if limit is None:
        return None
    windows = full_time_windows(config, rules.calendar, opened_at)
    last = windows[-1].due_at
    # A regime that lets the decision be petitioned again (re_review) finishes after the
    # last further review has run its full time too.
    further = further_review_windows(config, rules.calendar, last, rules.further_reviews)
    if further:
        last = further[-1][2].due_at
    reached = last.astimezone(zone(config.timezone)).date()
    if reached <= limit:
        return None
    special = config.year_end is not None and config.year_end.special_agency
    message = YEAR_END_LATE if special else YEAR_END_LATE_NOT_SPECIAL
    return Problem(message, limit=limit.isoformat(), reached=reached.isoformat())


BEFORE_CALIBRATION = frozenset((State.SELF_ASSESSMENT, State.PEER_INPUT,
                                State.SUPERVISOR_SCORING))


def _pool_complete_at(walks: Sequence[_Walk]) -> datetime | None:
    """When the calibration pool became complete: the instant the last evaluation
    left the phases before calibration (nobody acts on the pool in a simulation, so
    it stays complete), if someone was waiting in calibration then."""
    left: list[datetime] = []
    for walk in walks:
        since = next((t for t, state in walk.states if state not in BEFORE_CALIBRATION), None)
        if since is None:
            return None  # someone is still before calibration: the pool never completes
        left.append(since)
    if not left:
        return None
    complete = max(left)
    waiting = any(w.state_at(complete) is State.CALIBRATION for w in walks)
    return complete if waiting else None


def calibration_takers(plan: PopulationPlan) -> dict[str, str]:
    """Reviewee -> who calibrates them instead of the cycle's calibrator (a conflict of
    interest, their own evaluation: ``recusal.calibration_recusals``), as the cycle's
    opening writes it (``recusals.hand_on_calibration``)."""
    return {r.reviewee_id: r.handed_to for r in plan.recusals
            if r.steps_aside_from == CALIBRATION and r.handed_to}


def _pool(rules: CycleRules, walks: Sequence[_Walk], calibrator_id: str,
          takers: Mapping[str, str], people: Mapping[str, PersonInfo], admins: frozenset[str],
          schedule: Sequence[datetime] | None) -> list[PlannedEmail]:
    """The calibration pool's own emails: the calibrator's task when the pool is
    complete, and the task of each person who calibrates some of its evaluations
    instead (recusal), then the rows of each (reminders, overdue, escalation) fired by
    the sweeps as the sweep's pool round fires them (``effects.due_pool_timer``), all
    due rows of a round at once; a decider's row whose evaluations have all left
    calibration is cancelled, as ``pool.waiting_for`` counts them."""
    complete = _pool_complete_at(walks)
    if complete is None:
        return []
    emails: list[PlannedEmail] = []

    def decider(walk: _Walk) -> str:
        return takers.get(walk.snap.row.reviewee_id, calibrator_id)

    def waiting_for(person_id: str, instant: datetime) -> int:
        return sum(1 for w in walks if decider(w) == person_id
                   and w.state_before(instant) is State.CALIBRATION)

    def emit(send: effects.Send) -> None:
        for person_id in send.to:
            person = people[person_id]
            emails.append(PlannedEmail(send.at, send.event, person_id, None,
                                       State.CALIBRATION, person.timezone or rules.tz_name))

    opening = effects.pool_opening(rules, complete, calibrator_id, people)
    for send in opening.sends:
        emit(send)
    others = sorted({decider(w) for w in walks if w.state_at(complete) is State.CALIBRATION}
                    - {calibrator_id})
    timers = list(opening.timers)
    for person_id in others:  # their own task, reminders and ladder (pool.phase_rows)
        theirs = effects.pool_opening(rules, complete, person_id, people)
        for send in theirs.sends:
            emit(send)
        timers += [{**t, "recipient_id": person_id} for t in theirs.timers]
    due = opening.window.due_at
    ids = count(1)
    queue = [{**t, "id": next(ids)} for t in timers]
    swept: datetime | None = None
    while queue:
        first = min(t["fire_at"] for t in queue)
        if schedule is None:
            now = first
        else:
            later = [s for s in schedule if s >= first and (swept is None or s > swept)]
            if not later:
                return emails  # no sweep comes: the rows stay pending
            now = later[0]
        swept = now
        fired = [t for t in queue if t["fire_at"] <= now]
        queue = [t for t in queue if t["fire_at"] > now]
        stale = superseded_reminders(fired)
        for timer in sorted(fired, key=lambda t: (t["fire_at"], t["id"])):
            # A row is the calibrator's, or that of whoever took evaluations on.
            person_id = timer["recipient_id"] or calibrator_id
            if not waiting_for(person_id, now):
                continue  # what they decide left calibration: the sweep cancels the row
            fx = effects.due_pool_timer(rules, timer, now, calibrator_id=person_id,
                                        due=due, people=people, admins=admins,
                                        superseded=timer["id"] in stale)
            for send in fx.sends:
                emit(send)
            if fx.escalation is not None:
                emit(effects.Send("escalation", fx.escalation.told, now))
            queue += [{**t, "id": next(ids)} for t in fx.timers]
    return emails


def _open(rules: CycleRules, planned: PlannedEvaluation, number: int,
          people: Mapping[str, PersonInfo], admins: frozenset[str], opened_at: datetime,
          calibrator_id: str | None, seq: Any, digest_at: str | None,
          taker: str | None = None) -> _Walk:
    """The evaluation as `kpi cycle open` writes it: in self_assessment, peers asked;
    ``taker``: who calibrates it instead of the calibrator, who steps aside from it."""
    snap = opening_snapshot(rules, planned, number, opened_at, calibrator_id, admins)
    if taker is not None and calibrator_id is not None:
        snap.view = replace(snap.view, calibrator_id=taker,
                            recused=snap.view.recused | {calibrator_id})
    row = snap.row
    state = snap.state
    fx = effects.opening(snap, opened_at, people)
    assert fx.window is not None  # the first phase has a deadline
    snap.row = row.changed(fx.values)
    walk = _Walk(snap, [], [], [fx.window], digest_at, [(opened_at, state)])
    for send in fx.sends:
        _emit(rules, walk, send, people)
    for timer in fx.timers:
        _push(walk, timer, seq)
    return walk


def _push(walk: _Walk, timer: dict[str, Any], seq: Any) -> None:
    walk.queue.append((timer["fire_at"], next(seq), timer))


def _publications(walks: Sequence[tuple[PlannedEvaluation, _Walk]]) -> dict[str, datetime]:
    """When each unit's results are published, as ``publication.publish_ready`` decides:
    the first instant none of the unit's evaluations is before its result and one has
    it (the simulation reopens nothing, so each leaves those states once)."""
    by_unit: dict[str, list[_Walk]] = {}
    for planned, walk in walks:
        by_unit.setdefault(planned.member.unit_id, []).append(walk)
    out: dict[str, datetime] = {}
    for unit_id, unit_walks in by_unit.items():
        left = [next((t for t, state in w.states if state not in BEFORE_RESULT), None)
                for w in unit_walks]
        if any(t is None for t in left):
            continue  # someone never gets a result: the unit is never published
        instant = max(t for t in left if t is not None)
        if any(w.state_at(instant) in WITH_RESULT for w in unit_walks):
            out[unit_id] = instant
    return out


def _publish(rules: CycleRules, walk: _Walk, published_at: datetime,
             people: Mapping[str, PersonInfo], seq: Any) -> None:
    """The unit's publication reaches a walk: a window waiting for it gets its deadline,
    its rows and the reviewee's email, as ``publication._start_windows`` writes them."""
    snap = walk.snap
    if snap.state is not State.APPEAL_WINDOW or snap.row.due_at is not None:
        return
    reviewee_id = snap.row.reviewee_id
    window, rows = window_from_publication(rules, snap.id, reviewee_id, published_at, people)
    snap.row = snap.row._replace(due_at=window.due_at)
    walk.windows.append(window)
    for row in rows:
        _push(walk, row, seq)
    reviewee = people.get(reviewee_id)
    if reviewee is not None and reviewee.active:
        _emit(rules, walk, effects.Send(PUBLISHED_EVENT, (reviewee_id,), published_at), people)


def _run(rules: CycleRules, walk: _Walk, actions: Sequence[SimAction],
         schedule: Sequence[datetime] | None, people: Mapping[str, PersonInfo], seq: Any,
         opened_at: datetime, published_at: datetime | None = None) -> None:
    """Sweeps and actions in time order (a sweep first at the same instant); the unit's
    publication after everything at its instant (it is written with the change that
    completes the unit)."""
    clock, swept, pending = opened_at, None, list(actions)
    while True:
        when = _next_sweep(walk, schedule, clock, swept)
        upcoming = [t for t in (when, pending[0].at if pending else None) if t is not None]
        if published_at is not None and (not upcoming or min(upcoming) > published_at):
            _publish(rules, walk, published_at, people, seq)
            published_at = None
            continue
        if pending and (when is None or pending[0].at < when):
            action = pending.pop(0)
            _act(rules, walk, action, people, seq)
            clock = max(clock, action.at)
            continue
        if when is None:
            return
        _sweep(rules, walk, when, people, seq)
        clock = swept = when


def _next_sweep(walk: _Walk, schedule: Sequence[datetime] | None, clock: datetime,
                swept: datetime | None) -> datetime | None:
    """The instant of the next sweep that finds a row due, None if none will."""
    if not walk.queue:
        return None
    first = min(fire_at for fire_at, _, _ in walk.queue)
    if schedule is None:
        return max(first, clock)
    i = bisect.bisect_left(schedule, max(first, clock))
    while i < len(schedule) and swept is not None and schedule[i] <= swept:
        i += 1
    return schedule[i] if i < len(schedule) else None


def _sweep(rules: CycleRules, walk: _Walk, now: datetime, people: Mapping[str, PersonInfo],
           seq: Any) -> None:
    """One sweep at ``now``: rounds until nothing is due, as ``sweep.tick`` runs them."""
    while True:
        due = {entry[1]: entry for entry in walk.queue if entry[0] <= now}
        if not due:
            return

        effects.sweep_round([{**timer, "id": row_id} for _, row_id, timer in due.values()],
                            partial(_fire, rules, walk, due, now, people, seq))


def _fire(rules: CycleRules, walk: _Walk, due: Mapping[int, tuple[datetime, int, Any]],
          now: datetime, people: Mapping[str, PersonInfo], seq: Any,
          timer: Mapping[str, Any], superseded: bool) -> effects.TimerEffects:
    """Fire one due row of the round, as the sweep's ``_fire`` does."""
    walk.queue.remove(due[timer["id"]])
    fx = effects.due_timer(walk.snap, timer, now, people, superseded=superseded)
    _apply_timer(rules, walk, timer, fx, now, people, seq)
    return fx


def _apply_timer(rules: CycleRules, walk: _Walk, timer: Mapping[str, Any],
                 fx: effects.TimerEffects, now: datetime, people: Mapping[str, PersonInfo],
                 seq: Any) -> None:
    """Apply what a due row does, as the sweep writes it."""
    snap = walk.snap
    if fx.moves_with is not None:
        _apply(rules, walk, effects.transition(snap, fx.moves_with, SYSTEM_ACTOR, now=now,
                                               people=people, entered_at=timer["fire_at"]),
               now, people, seq)
        return
    step = fx.escalation
    if step is not None:
        _emit(rules, walk, effects.Send("escalation", step.told, now), people)
        if step.role is not None:
            snap.assignments = [*snap.assignments, *(
                AssignmentRecord(-next(seq), snap.id, p, step.role.value, "pending", now,
                                 None, SYSTEM_ACTOR, None)
                for p in step.new_scorers)]
            _refresh_view(snap)
        snap.row = snap.row._replace(escalation_level=step.level,
                                     version=snap.row.version + 1)
    for send in fx.sends:
        _emit(rules, walk, send, people)
    for row in fx.timers:
        _push(walk, row, seq)


def _act(rules: CycleRules, walk: _Walk, action: SimAction, people: Mapping[str, PersonInfo],
         seq: Any) -> None:
    """Someone acts: the checks and effects of ``plan``, the store's part simulated."""
    snap = walk.snap
    try:
        effects.check(snap, action.trigger, action.actor_id, action.at)
    except WorkflowError:
        return  # refused, as the engine refuses it: nothing changes
    values: dict[str, Any] = {}
    if action.trigger is Trigger.SUBMIT_SCORE:
        values.update(scored_by=action.actor_id, scored_at=action.at)
    elif action.trigger is Trigger.LODGE_APPEAL:
        reviewer = appeal_reviewer(snap.row, rules.config, snap.view.admins, people,
                                   snap.view.recused,
                                   scorer_decides=rules.scorer_decides_petition)
        if reviewer is None:
            return
        values["appeal_reviewer_id"] = reviewer
    _apply(rules, walk, effects.transition(snap, action.trigger, action.actor_id,
                                           now=action.at, people=people, values=values),
           action.at, people, seq)


def _apply(rules: CycleRules, walk: _Walk, fx: effects.Effects, now: datetime,
           people: Mapping[str, PersonInfo], seq: Any) -> None:
    """Store a trigger's effects in memory: the row, the assignments, the rows, the mail."""
    snap = walk.snap
    snap.row = snap.row.changed({**fx.values, "version": snap.row.version + 1})
    status = dict(fx.assignment_status)
    snap.assignments = [a._replace(status=status.get(a.id, a.status))
                        for a in snap.assignments]
    _refresh_view(snap)
    if fx.moves:
        walk.queue.clear()  # the rows of the phase left are cancelled
        walk.states.append((now, fx.to_state))
        if fx.window is not None:
            walk.windows.append(fx.window)
    for row in fx.timers:
        _push(walk, row, seq)
    for send in fx.sends:
        _emit(rules, walk, send, people)


def _refresh_view(snap: Snapshot) -> None:
    """Who may act, from the row and the assignments, as the store's snapshot reads it."""
    peers = {a.person_id: a.status for a in snap.assignments
             if a.role == Role.PEER.value and a.status != "withdrawn"}
    escalation = frozenset(a.person_id for a in snap.assignments
                           if a.role == Role.ESCALATION_SUPERVISOR.value
                           and a.status != "withdrawn")
    snap.view = replace(snap.view, peers=peers, escalation_supervisors=escalation,
                        appeal_reviewer_id=snap.row.appeal_reviewer_id,
                        scored_by=snap.row.scored_by)


def _emit(rules: CycleRules, walk: _Walk, send: effects.Send,
          people: Mapping[str, PersonInfo]) -> None:
    """Queue what the core sends, as the outbox would hold it (held for a digest or not)."""
    snap = walk.snap
    due = snap.row.due_at
    # What the sweep's context says of the item, for the digest's rule.
    item = {"evaluation_id": snap.id, "state": snap.state.value,
            "reviewee_id": snap.row.reviewee_id, "due_at": due.isoformat() if due else None}
    for person_id in send.to:
        person = people[person_id]
        tz_name = person.timezone or rules.tz_name
        held_until = digest_hold(send.event, person_id, item, send.at, tz_name, walk.digest_at,
                                 rules.calendar)
        walk.emails.append(PlannedEmail(held_until or send.at, send.event, person_id,
                                        snap.row.reviewee_id, snap.state, tz_name,
                                        held=held_until is not None))
