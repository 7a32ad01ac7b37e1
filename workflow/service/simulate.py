"""The calendar of a cycle before launch: who gets which email when, if nobody acts.

`kpi cycle check` prints it so an admin can see, before opening a cycle, every task
email, reminder, missed-deadline notice, overdue notice and escalation the
deadlines alone will cause, for the organisation as it is in the database.

It is computed, not run: each evaluation is walked through its phases in memory
with the very functions the sweep uses (``timing``'s windows and times, the deadline
rows of ``timers``, the state specs' notices and deadline rules, ``machine`` for
where a deadline leads, ``notices.recipients`` for who is waited on), in the order
the sweep fires rows (time, then the order the rows were planned). Nobody acting,
every evaluation ends in a state that never moves alone, waiting on named people
(supervisor scoring), or finalised if the calendar gets it there.

The supervisors' daily digest is predicted too, with the sweep's own rule
(``notices.digest_hold``): a notice that folds into a digest is listed with
``held`` set and the digest's instant as its time, and each recipient's digest of
that instant is an email of its own (event ``digest``), sent when at least one of
its items still waits for them then, as ``notices.fold_digests`` decides.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import count
from typing import Any

from sqlmodel import Session

from workflow import machine
from workflow.calendar import zone
from workflow.domain import Role, State, TimerKind, Trigger
from workflow.permissions import EvaluationView
from workflow.service.core import PersonInfo, Service, Snapshot, load_people
from workflow.service.cycles import PlannedEvaluation, PopulationPlan, plan_population
from workflow.service.notices import (
    DIGEST_EVENT,
    DIGEST_SETTLE,
    digest_hold,
    recipients,
    still_waiting_in,
)
from workflow.service.rules import CycleRules
from workflow.service.timers import (
    assignee_of,
    escalation_role,
    escalation_targets,
    overdue_rows,
    phase_timers,
)
from workflow.states import SPECS, Notice
from workflow.timing import PhaseWindow, phase_window


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


@dataclass
class _Walk:
    """One evaluation being walked: its row, its pending deadline rows, what it sent."""

    snap: Snapshot
    queue: list[tuple[datetime, int, dict[str, Any]]]
    emails: list[PlannedEmail]
    windows: list[PhaseWindow]
    digest_at: str | None  # the digest's local time, None when it is off
    states: list[tuple[datetime, State]]  # when it entered each state, in order

    def state_at(self, instant: datetime) -> State:
        current = self.states[0][1]
        for since, state in self.states:
            if since > instant:
                break
            current = state
        return current


def simulate(rules: CycleRules, plan: PopulationPlan, people: Mapping[str, PersonInfo],
             admins: Iterable[str], opened_at: datetime, *, digest_at: str | None = None
             ) -> Simulation:
    """Every email the deadlines cause for ``plan`` opened at ``opened_at``, nobody acting.

    Pure: ``people`` holds everyone the emails may go to (reviewees, supervisors,
    peers, the people above them, admins). ``digest_at`` is the supervisors' digest
    time ("HH:MM", the recipient's local time), None when the digest is off.
    """
    admin_ids = frozenset(admins)
    result = Simulation()
    seq = count()  # the order rows are planned in, as the sweep's row ids
    # (recipient, digest instant) -> whether each held item still waits then
    digests: dict[tuple[str, datetime], list[bool]] = {}
    for number, planned in enumerate(plan.evaluations, start=1):
        walk = _open(rules, planned, number, people, admin_ids, opened_at, plan.calibrator_id,
                     seq, digest_at)
        while walk.queue:
            fire_at, _, timer = heapq.heappop(walk.queue)
            _fire(rules, walk, timer, fire_at, people, seq)
        for e in walk.emails:
            if e.held:  # folded once the digest's time has settled, as the dispatcher does
                then = walk.state_at(e.at + DIGEST_SETTLE)
                digests.setdefault((e.recipient_id, e.at), []).append(
                    still_waiting_in(e.event, e.phase.value, then.value))
        snap = walk.snap
        spec = SPECS[snap.state]
        waiting = tuple(recipients(snap, spec.waits_on, admin_ids, walk.windows[-1].due_at,
                                   snap.row)) if spec.waits_on else ()
        result.ends.append(SimulatedEnd(planned.member.id, snap.state, waiting))
        result.emails.extend(walk.emails)
        result.windows[planned.member.id] = walk.windows
    for (recipient_id, instant), items_waiting in digests.items():
        if any(items_waiting):
            person = people[recipient_id]
            result.emails.append(PlannedEmail(instant, DIGEST_EVENT, recipient_id, None,
                                              State.SUPERVISOR_SCORING,
                                              person.timezone or rules.tz_name))
    result.emails.sort(key=lambda e: (e.at, e.recipient_id, e.event, e.reviewee_id or ""))
    return result


def simulate_cycle(svc: Service, session: Session, rules: CycleRules,
                   opened_at: datetime) -> tuple[PopulationPlan, Simulation]:
    """The population of ``rules`` in the current organisation, and its simulation."""
    plan = plan_population(svc, session, rules)
    wanted: set[str | None] = {*svc.admins(rules), plan.calibrator_id}
    for e in plan.evaluations:
        wanted.update({e.member.id, e.supervisor_id, *e.peers})
    people = load_people(session, wanted)
    # The people above supervisors (and above them) for the escalation ladder.
    above = {p.supervisor_id for p in people.values()} | set(rules.config.evaluators.values())
    people.update(load_people(session, above - set(people)))
    digest_at = svc.settings.digest_at if svc.settings.digest_enabled else None
    return plan, simulate(rules, plan, people, svc.admins(rules), opened_at,
                          digest_at=digest_at)


def _open(rules: CycleRules, planned: PlannedEvaluation, number: int,
          people: Mapping[str, PersonInfo], admins: frozenset[str], opened_at: datetime,
          calibrator_id: str | None, seq: Any, digest_at: str | None) -> _Walk:
    """The evaluation as `kpi cycle open` writes it: in self_assessment, peers asked."""
    member = planned.member
    state = State.SELF_ASSESSMENT
    window = phase_window(rules.config, rules.calendar, state, opened_at)
    row: dict[str, Any] = {
        "id": number, "cycle_id": rules.cycle_id, "reviewee_id": member.id,
        "supervisor_id": planned.supervisor_id, "appeal_reviewer_id": None,
        "scored_by": None, "state": state.value, "version": 1,
        "phase_entered_at": opened_at, "phase_opens_at": window.opens_at,
        "due_at": window.due_at, "escalation_level": 0,
    }
    assignments = [{"id": i, "role": Role.PEER.value, "person_id": peer, "status": "pending"}
                   for i, peer in enumerate(planned.peers)]
    view = EvaluationView(id=number, reviewee_id=member.id,
                          supervisor_id=planned.supervisor_id, calibrator_id=calibrator_id,
                          peers=dict.fromkeys(planned.peers, "pending"), admins=admins)
    walk = _Walk(Snapshot(row, rules, view, assignments), [], [], [window], digest_at,
                 [(opened_at, state)])
    for notice in SPECS[state].on_enter:
        _send(rules, walk, notice, window.opens_at, people)
    _plan_phase(rules, walk, window, people, opened_at, seq)
    return walk


def _plan_phase(rules: CycleRules, walk: _Walk, window: PhaseWindow,
                people: Mapping[str, PersonInfo], now: datetime, seq: Any) -> None:
    snap = walk.snap
    waits_on = SPECS[window.state].waits_on
    who = recipients(snap, waits_on, snap.view.admins, now) if waits_on else []
    for timer in phase_timers(rules, snap.id, window, who, people):
        _push(walk, timer, seq)


def _push(walk: _Walk, timer: dict[str, Any], seq: Any) -> None:
    heapq.heappush(walk.queue, (timer["fire_at"], next(seq), timer))


def _send(rules: CycleRules, walk: _Walk, notice: Notice | str, at: datetime,
          people: Mapping[str, PersonInfo], to: Iterable[str] | None = None) -> list[str]:
    """Queue ``notice`` as the sweep would: to its recipients who exist and are active."""
    snap = walk.snap
    event = notice if isinstance(notice, str) else notice.event
    if to is None:
        assert not isinstance(notice, str)
        to = recipients(snap, notice.to, snap.view.admins, at, snap.row)
    sent = []
    due = snap.row["due_at"]
    # What the sweep's context says of the item, for the digest's rule.
    item = {"evaluation_id": snap.id, "state": snap.state.value,
            "reviewee_id": snap.row["reviewee_id"], "due_at": due.isoformat() if due else None}
    for person_id in to:
        person = people.get(person_id)
        if person is None or not person.active:
            continue
        tz_name = person.timezone or rules.tz_name
        held_until = digest_hold(event, person_id, item, at, tz_name, walk.digest_at,
                                 rules.calendar)
        walk.emails.append(PlannedEmail(held_until or at, event, person_id,
                                        snap.row["reviewee_id"], snap.state, tz_name,
                                        held=held_until is not None))
        sent.append(person_id)
    return sent


def _fire(rules: CycleRules, walk: _Walk, timer: Mapping[str, Any], now: datetime,
          people: Mapping[str, PersonInfo], seq: Any) -> None:
    """One deadline row at its time: the same decisions as ``sweep._fire``."""
    snap = walk.snap
    if timer["phase"] != snap.row["state"]:
        return  # the sweep cancels the rows of a phase left
    kind = TimerKind(timer["kind"])
    spec = SPECS[snap.state]
    deadline = spec.deadline
    assert deadline is not None  # only phases with a deadline plan rows
    if kind is TimerKind.DUE and deadline.moves_with is not None:
        _move(rules, walk, deadline.moves_with, now, people, seq)
        return
    if kind is TimerKind.ESCALATION:
        _escalate(rules, walk, timer, now, people)
        return
    waiting = recipients(snap, spec.waits_on, snap.view.admins, now) if spec.waits_on else []
    window = walk.windows[-1]
    if kind is TimerKind.REMINDER:
        # Rows fire on time here: never past due, never superseded by a later one.
        if timer["recipient_id"] in waiting:
            _send(rules, walk, "reminder", now, people, [timer["recipient_id"]])
    elif kind is TimerKind.DUE:
        _send(rules, walk, "overdue", now, people, sorted(waiting))
        for row in overdue_rows(rules, snap.id, window, sorted(waiting), people, 1, now):
            _push(walk, row, seq)
    elif kind is TimerKind.OVERDUE and timer["recipient_id"] in waiting:
        _send(rules, walk, "overdue", now, people, [timer["recipient_id"]])
        for row in overdue_rows(rules, snap.id, window, [timer["recipient_id"]], people,
                                timer["seq"] + 1, now):
            _push(walk, row, seq)


def _move(rules: CycleRules, walk: _Walk, trigger: Trigger, now: datetime,
          people: Mapping[str, PersonInfo], seq: Any) -> None:
    """The deadline moves the evaluation on, entering the next phase at its instant."""
    snap = walk.snap
    state = snap.state
    config = rules.config
    facts = machine.Facts(awaits_peers=config.enabled(State.PEER_INPUT)
                          and bool(snap.pending_peers()),
                          calibration_enabled=config.enabled(State.CALIBRATION))
    dest = machine.next_state(snap.id, state, trigger, facts)
    deadline = SPECS[state].deadline
    missed = deadline.missed if deadline and deadline.moves_with is trigger else ()
    walk.queue.clear()  # the rows of the phase left are cancelled
    row = {**snap.row, "state": dest.value, "phase_entered_at": now, "escalation_level": 0,
           "version": snap.row["version"] + 1}
    if trigger is Trigger.PEER_INPUT_CLOSED:  # the peers who did not answer are closed
        snap.assignments = [{**a, "status": "closed"} if a["status"] == "pending" else a
                            for a in snap.assignments]
    dest_deadline = SPECS[dest].deadline
    window = None
    if dest_deadline is not None and not dest_deadline.pool_level:
        window = phase_window(config, rules.calendar, dest, now)
        row.update(phase_opens_at=window.opens_at, due_at=window.due_at)
    else:
        row.update(phase_opens_at=now, due_at=None)
    snap.row = row
    walk.states.append((now, dest))
    opens = row["phase_opens_at"]
    for notice in (*missed, *SPECS[dest].notices_on_enter(trigger)):
        _send(rules, walk, notice, max(now, opens), people)
    if window is not None:
        walk.windows.append(window)
        _plan_phase(rules, walk, window, people, now, seq)


def _escalate(rules: CycleRules, walk: _Walk, timer: Mapping[str, Any], now: datetime,
              people: Mapping[str, PersonInfo]) -> None:
    snap = walk.snap
    config = rules.config
    if timer["seq"] >= len(config.escalation):
        return
    step = config.escalation[timer["seq"]]
    assignee = assignee_of(snap.state, snap.view.supervisor_id, snap.view.appeal_reviewer_id,
                           snap.view.calibrator_id)
    targets, above = escalation_targets(config, step, assignee, people, snap.view.admins,
                                        snap.row["reviewee_id"])
    told = _send(rules, walk, "escalation", now, people, targets)
    if escalation_role(snap.state, above) is not None:
        snap.view = replace(snap.view, escalation_supervisors=snap.view.escalation_supervisors
                            | frozenset(told))
    snap.row = {**snap.row, "escalation_level": timer["seq"] + 1}
