"""The one effects core: what a trigger does, what entering a phase does, and what a
due deadline row does, as values. Pure: no session, no clock, no templates.

``transition.plan`` (people acting, and the clock's triggers), the sweep (``kpi
tick``) and the pre-launch simulation (``kpi cycle check``) all decide here, so the
calendar an admin is shown before launch is, by construction, the one the sweep
keeps. The callers only act on what comes back: the service writes it in one
transaction (compare-and-set, audit, outbox), the simulation applies it to the
evaluations it holds in memory.

Each decision returns the effects (new state, columns and flags, deadline rows to
add, notices with their recipients and instant, an escalation step) and leaves the
rest to the caller: the score itself and the appeal reviewer (they read the store)
come in as ``values``; email contents, links and dedupe keys are the service's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow import machine, permissions
from workflow.cycle_config import PHASE_ORDER
from workflow.domain import OPEN_STATES, Role, State, TimerKind, TimerStatus, Trigger
from workflow.effects.ports import EvaluationLike, People, RulesLike
from workflow.effects.rows import (
    assignee_of,
    escalation_role,
    escalation_targets,
    overdue_rows,
    phase_timers,
    superseded_reminders,
)
from workflow.errors import (
    AppealUnderReview,
    EvaluationAlreadyChanged,
    NotOpenYet,
    TransitionNotAllowed,
)
from workflow.evaluation_rows import EvaluationRecord
from workflow.states import SPECS, Notice
from workflow.states.base import Recipient, TriggerContext
from workflow.timing import PhaseWindow, phase_window


@dataclass(frozen=True)
class Send:
    """One notice to send: the event (template), who gets it, and when it goes out."""

    event: str
    to: tuple[str, ...]  # the recipients who exist and are active, in order
    at: datetime


@dataclass
class Effects:
    """What one trigger does to one evaluation."""

    from_state: State
    to_state: State
    values: dict[str, Any]  # the evaluation's columns after it (state, flags, dates)
    assignment_status: list[tuple[int, str]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)  # deadline rows of the new phase
    sends: list[Send] = field(default_factory=list)
    window: PhaseWindow | None = None  # the new phase's window, when it has a deadline

    @property
    def moves(self) -> bool:
        """Whether the evaluation changes state (its pending deadline rows are then void)."""
        return self.from_state is not self.to_state


@dataclass(frozen=True)
class Escalation:
    """One step of the escalation ladder, taken."""

    level: int  # 1-based: the step's number
    to: str  # the step's target kind in the cycle file (assignee_supervisor, admins)
    assignee_id: str | None  # whom the ladder climbs from
    targets: tuple[str, ...]  # whom the step names (on the record, even if inactive)
    told: tuple[str, ...]  # those an email reaches
    role: Role | None  # the right to act the step gives (scoring: escalation supervisor)
    new_scorers: tuple[str, ...]  # those who get that role now (not holding it already)


@dataclass(frozen=True)
class TimerEffects:
    """What one due deadline row does."""

    status: TimerStatus  # how the row is marked: done, skipped (stale), cancelled (phase left)
    fired: bool  # it did something (a step past the ladder's end is done but did nothing)
    moves_with: Trigger | None = None  # fire this trigger, entered at the row's instant
    escalation: Escalation | None = None
    sends: tuple[Send, ...] = ()
    timers: tuple[dict[str, Any], ...] = ()  # the next overdue rows

    @property
    def changes(self) -> bool:
        """Whether the evaluation changes (its later due rows wait for the next round)."""
        return self.moves_with is not None or self.escalation is not None


# --- who ------------------------------------------------------------------------------


def recipients(ev: EvaluationLike, to: Recipient, admins: Iterable[str], now: datetime,
               row: EvaluationRecord | None = None) -> list[str]:
    """The person ids a ``Notice`` goes to, for this evaluation (``row``: after the change)."""
    r = row or ev.row
    view = ev.view
    if to == "reviewee":
        return [r.reviewee_id]
    if to == "supervisor":
        return [r.supervisor_id] if r.supervisor_id else []
    if to == "scorers":
        ids = [r.supervisor_id] if r.supervisor_id else []
        ids += [d.person_id for d in view.acting_supervisors if d.active(now)]
        ids += sorted(view.escalation_supervisors)
        # Someone who stepped aside (a conflict of interest) is no longer asked to score.
        return [i for i in dict.fromkeys(ids) if i not in view.recused]
    if to == "peers":
        return ev.pending_peers()
    if to == "calibrator":
        return [view.calibrator_id] if view.calibrator_id else []
    if to == "appeal_reviewer":
        return [r.appeal_reviewer_id] if r.appeal_reviewer_id else []
    return sorted(admins)


def reachable(people: People, ids: Iterable[str]) -> tuple[str, ...]:
    """Those of ``ids`` an email can reach: known and active, each once, in order."""
    return tuple(i for i in dict.fromkeys(ids)
                 if (p := people.get(i)) is not None and p.active)


def waiting_on(ev: EvaluationLike, now: datetime) -> list[str]:
    """Whom the evaluation's state waits for now."""
    waits = SPECS[ev.state].waits_on
    return recipients(ev, waits, ev.view.admins, now) if waits else []


# --- may it fire ----------------------------------------------------------------------


def facts(ev: EvaluationLike, trigger: Trigger, actor_id: str) -> machine.Facts:
    """What the machine's conditions read: peers still asked, calibration switched on,
    whether a petition's decision may be petitioned again."""
    config = ev.rules.config
    pending = ev.pending_peers()
    return machine.Facts(
        awaits_peers=config.enabled(State.PEER_INPUT) and bool(pending),
        peers_outstanding=any(p != actor_id for p in pending)
        if trigger is Trigger.SUBMIT_PEER_INPUT else False,
        calibration_enabled=config.enabled(State.CALIBRATION),
        may_petition_again=may_petition_again(ev)
        if trigger in (Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE) else False,
    )


def petition_round(row: EvaluationRecord) -> int:
    """Which petition of the evaluation's result this is: 0 before any, 1 for the
    first (its review, and the window after its decision), 2 for the second..."""
    return row.petition_round


def may_petition_again(ev: EvaluationLike) -> bool:
    """Whether the decision of the petition under review may itself be petitioned:
    the regime allows further reviews and the person has not used them up."""
    return petition_round(ev.row) <= ev.rules.further_reviews


def moved_on(trigger: Trigger, state: State) -> State | None:
    """The state the trigger belonged to, if the evaluation has already gone past it."""
    sources = [t.source for t in machine.TRANSITIONS if t.trigger is trigger]
    if state is State.CANCELLED:  # cancelling ends every open state
        return next((s for s in sources if s in OPEN_STATES), None)
    order = {s: i for i, s in enumerate([*PHASE_ORDER, State.FINALISED])}
    if sources and all(s in order and order[s] < order[state] for s in sources):
        return sources[0]
    return None


def check(ev: EvaluationLike, trigger: Trigger, actor_id: str, now: datetime,
          expected_state: State | None = None) -> Role:
    """The role ``actor_id`` fires ``trigger`` in; raises saying why when they may not.

    NotPermitted (who), EvaluationAlreadyChanged (the evaluation moved past the state
    the actor saw), TransitionNotAllowed (never from this state), WorkflowError (the
    phase has not opened yet: only the system and admins act before then).
    """
    state = ev.state
    role = permissions.check(trigger, actor_id, ev.view, now)
    if trigger is Trigger.LODGE_APPEAL and state is State.APPEAL_REVIEW:
        # The reviewee's second click, or a stale page: not someone else's change.
        raise AppealUnderReview(ev.id, petition_round(ev.row))
    if expected_state is not None and expected_state is not state:
        raise EvaluationAlreadyChanged(ev.id, expected_state.value, state.value)
    if not machine.accepts(state, trigger):
        was = moved_on(trigger, state)
        if was is not None:
            raise EvaluationAlreadyChanged(ev.id, was.value, state.value)
        raise TransitionNotAllowed(ev.id, trigger.value, state.value)
    if role is not Role.SYSTEM and role is not Role.ADMIN and ev.row.phase_opens_at > now:
        raise NotOpenYet(ev.id, state.value, ev.row.phase_opens_at)
    return role


# --- what a trigger does --------------------------------------------------------------


def enter_phase(ev: EvaluationLike, dest: State, entered_at: datetime, now: datetime,
                people: People, row: EvaluationRecord
                ) -> tuple[dict[str, Any], PhaseWindow | None, list[dict[str, Any]]]:
    """The columns, window and deadline rows of ``dest`` entered at ``entered_at``.

    ``row`` is the evaluation after the change (its new state, reviewer...): the
    reminders go to whom the new phase waits on.
    """
    values: dict[str, Any] = {"phase_entered_at": entered_at, "escalation_level": 0}
    deadline = SPECS[dest].deadline
    if deadline is None or deadline.pool_level:  # pool deadlines start with the pool
        values.update(phase_opens_at=entered_at, due_at=None)
        return values, None, []
    rules = ev.rules
    if (dest is State.APPEAL_WINDOW and rules.petition_from_publication
            and not petition_round(row)):
        # The regime runs the petition window from the publication of the unit's
        # results: the reviewee may answer from now, and the service gives the window
        # its deadline and rows when the unit is published (service/publication.py).
        # A window after a petition's decision runs from the decision's notification.
        values.update(phase_opens_at=entered_at, due_at=None)
        return values, None, []
    window = phase_window(rules.config, rules.calendar, dest, entered_at)
    values.update(phase_opens_at=window.opens_at, due_at=window.due_at)
    waits = SPECS[dest].waits_on
    who = recipients(ev, waits, ev.view.admins, now, row.changed(values)) if waits else []
    return values, window, phase_timers(rules, ev.id, window, who, people)


def opening(ev: EvaluationLike, now: datetime, people: People) -> Effects:
    """The first phase of an evaluation created at ``now`` in its first state: the
    phase's dates and rows, and its task email at the instant the phase opens."""
    state = ev.state
    values, window, timers = enter_phase(ev, state, now, now, people, ev.row)
    row = ev.row.changed(values)
    out = Effects(state, state, values, timers=timers, window=window)
    for notice in SPECS[state].on_enter:
        to = reachable(people, recipients(ev, notice.to, ev.view.admins, now, row))
        if to:
            out.sends.append(Send(notice.event, to, row.phase_opens_at))
    return out


def transition(ev: EvaluationLike, trigger: Trigger, actor_id: str, *, now: datetime,
               people: People, entered_at: datetime | None = None,
               values: Mapping[str, Any] | None = None) -> Effects:
    """What ``trigger`` (already checked) does to the evaluation at ``now``.

    ``entered_at``: when the new phase starts (a deadline's own instant, however late
    the sweep); ``values``: what the service worked out from the store (the score, the
    appeal reviewer). The notices are the missed-deadline ones, then the new state's;
    after downtime, the task of a phase that has already closed is not handed out.
    """
    source = ev.state
    dest = machine.next_state(ev.id, source, trigger, facts(ev, trigger, actor_id))
    own = SPECS[source].effect_of(trigger, TriggerContext(
        actor_id, ev.assignments, ev.rules.min_peer_responses, petition_round(ev.row)))
    out = Effects(source, dest, {"state": dest.value, "updated_at": now, **own.values,
                                 **(values or {})}, list(own.assignment_status))
    if not out.moves:
        return out
    entry, out.window, out.timers = enter_phase(ev, dest, entered_at or now, now, people,
                                                ev.row.changed(out.values))
    out.values.update(entry)
    notices: tuple[Notice, ...] = SPECS[dest].notices_on_enter(trigger)
    deadline = SPECS[source].deadline
    if deadline and deadline.moves_with is trigger:
        notices = (*deadline.missed, *notices)
    row = ev.row.changed(out.values)
    due = row.due_at
    closed = {n.event for n in SPECS[dest].on_enter} if due is not None and due <= now else set()
    at = max(now, row.phase_opens_at)
    for notice in notices:
        if notice.event in closed:
            continue
        to = reachable(people, recipients(ev, notice.to, ev.view.admins, now, row))
        if to:
            out.sends.append(Send(notice.event, to, at))
    return out


# --- a calibration pool --------------------------------------------------------------


@dataclass(frozen=True)
class PoolOpening:
    """What a calibration pool does when it becomes complete: its one deadline, its
    rows (of the cycle, not of an evaluation), the calibrator's task email."""

    window: PhaseWindow
    timers: tuple[dict[str, Any], ...]
    sends: tuple[Send, ...]


def pool_opening(rules: RulesLike, now: datetime, calibrator_id: str,
                 people: People) -> PoolOpening:
    """The pool of ``rules``' cycle, complete at ``now`` (nobody left before
    calibration, someone waiting in it): the deadline starts now for all of it."""
    window = phase_window(rules.config, rules.calendar, State.CALIBRATION, now)
    timers = phase_timers(rules, None, window, [calibrator_id], people,
                          cycle_id=rules.cycle_id)
    return PoolOpening(window, tuple(timers),
                       _sends("task_calibration", people, [calibrator_id], now))


# --- what a due deadline row does -----------------------------------------------------


def escalation(ev: EvaluationLike, seq: int, people: People) -> Escalation | None:
    """Step ``seq`` (0-based) of the ladder: tell someone higher up; in scoring they may
    then score. None past the ladder's end."""
    ladder = ev.rules.config.escalation
    if seq >= len(ladder):
        return None
    step = ladder[seq]
    view = ev.view
    assignee = assignee_of(ev.state, view.supervisor_id, view.appeal_reviewer_id,
                           view.calibrator_id)
    targets, above = escalation_targets(ev.rules.config, step, assignee, people, view.admins,
                                        ev.row.reviewee_id)
    role = escalation_role(ev.state, above)
    told = reachable(people, targets)
    new = tuple(p for p in told if p not in view.escalation_supervisors) if role else ()
    return Escalation(seq + 1, step.to, assignee, tuple(targets), told, role, new)


def window_of(ev: EvaluationLike, due_row: Mapping[str, Any]) -> PhaseWindow:
    """The phase's window, as its due row ``due_row`` fires in it. The row's own time
    stands in for a due time the evaluation no longer has (as for a pool's row)."""
    return PhaseWindow(ev.state, ev.row.phase_opens_at, ev.row.due_at or due_row["fire_at"])


def due_timer(ev: EvaluationLike, timer: Mapping[str, Any], now: datetime, people: People,
              *, superseded: bool = False) -> TimerEffects:
    """What a deadline row of this evaluation, due at ``now``, does.

    ``superseded``: a later due reminder to the same person replaces this one (after
    downtime, "2 days left" beside "due today"). A reminder past the deadline, or to
    someone who has acted, is skipped; the overdue series goes on from the next repeat
    after ``now``, not in a burst.
    """
    if timer["phase"] != ev.row.state:
        return TimerEffects(TimerStatus.CANCELLED, fired=False)  # the phase was left
    kind = TimerKind(timer["kind"])
    deadline = SPECS[ev.state].deadline
    if kind is TimerKind.DUE and deadline is not None and deadline.moves_with is not None:
        return TimerEffects(TimerStatus.DONE, fired=True, moves_with=deadline.moves_with)
    if kind is TimerKind.ESCALATION:
        step = escalation(ev, timer["seq"], people)
        return TimerEffects(TimerStatus.DONE, fired=step is not None, escalation=step)
    waiting = waiting_on(ev, now)
    recipient = timer["recipient_id"]
    if kind is TimerKind.REMINDER:
        due = ev.row.due_at
        if (due is not None and now >= due) or superseded or recipient not in waiting:
            return TimerEffects(TimerStatus.SKIPPED, fired=False)  # stale, or nothing to do
        return TimerEffects(TimerStatus.DONE, fired=True,
                            sends=_sends("reminder", people, [recipient], now))
    if kind is TimerKind.DUE:  # a state that never moves alone: overdue from now on
        who: Sequence[str] = sorted(waiting)
        repeat = 1
    else:  # OVERDUE: the next of the series, to one person still waited on
        if recipient not in waiting:
            return TimerEffects(TimerStatus.SKIPPED, fired=False)
        who, repeat = [recipient], timer["seq"] + 1
    return TimerEffects(
        TimerStatus.DONE, fired=True, sends=_sends("overdue", people, who, now),
        timers=tuple(overdue_rows(ev.rules, ev.id, window_of(ev, timer), who, people, repeat, now)))


def due_pool_timer(rules: RulesLike, timer: Mapping[str, Any], now: datetime, *,
                   calibrator_id: str, due: datetime | None, people: People,
                   admins: Iterable[str], superseded: bool = False) -> TimerEffects:
    """What a due row of a calibration pool (a row of the cycle) does, the pool being
    complete and not approved (the caller cancels the row otherwise).

    ``due``: the pool's deadline (the earliest of its evaluations'); ``people`` holds
    the calibrator and whom the ladder may climb to.
    """
    kind = TimerKind(timer["kind"])
    window = PhaseWindow(State.CALIBRATION, timer["fire_at"], due or timer["fire_at"])
    if kind is TimerKind.REMINDER:
        if (due is not None and now >= due) or superseded:
            return TimerEffects(TimerStatus.SKIPPED, fired=False)
        return TimerEffects(TimerStatus.DONE, fired=True,
                            sends=_sends("reminder", people, [calibrator_id], now))
    if kind in (TimerKind.DUE, TimerKind.OVERDUE):
        repeat = 1 if kind is TimerKind.DUE else timer["seq"] + 1
        return TimerEffects(
            TimerStatus.DONE, fired=True, sends=_sends("overdue", people, [calibrator_id], now),
            timers=tuple(overdue_rows(rules, None, window, [calibrator_id], people, repeat,
                                      now, rules.cycle_id)))
    ladder = rules.config.escalation
    if timer["seq"] >= len(ladder):
        return TimerEffects(TimerStatus.DONE, fired=False)  # a step past the ladder's end
    step = ladder[timer["seq"]]
    targets, _ = escalation_targets(rules.config, step, calibrator_id, people, admins)
    return TimerEffects(TimerStatus.DONE, fired=True, escalation=Escalation(
        timer["seq"] + 1, step.to, calibrator_id, tuple(targets), reachable(people, targets),
        None, ()))


# --- what a moved deadline or a changed assignee does ---------------------------------


@dataclass(frozen=True)
class Replan:
    """The phase's pending deadline rows after its due time or its people changed."""

    cancel_kinds: tuple[str, ...]  # the kinds of pending row of the phase to cancel
    timers: tuple[dict[str, Any], ...]  # the rows that replace them
    told: tuple[str, ...]  # whom the phase waits on now, reachable: they are told


def replan(ev: EvaluationLike, row: EvaluationRecord, now: datetime, people: People, *,
           due_moved: bool) -> Replan:
    """What an extension (``due_moved``) or a new assignee (a supervisor, a peer) does
    to the current phase's pending rows; ``row`` is the evaluation after the change.

    When the deadline moved, every pending row is planned again from ``now``. When
    only the people changed, their reminders are, and if the phase is already
    overdue the overdue series restarts for the new people; the deadline and the
    ladder keep their rows. The ladder goes on from the step it reached: steps taken
    are not taken again.
    """
    spec = SPECS[ev.state]
    due = row.due_at
    if spec.deadline is None or due is None:
        return Replan((), (), ())
    window = PhaseWindow(ev.state, row.phase_opens_at, due)
    who = recipients(ev, spec.waits_on, ev.view.admins, now, row) if spec.waits_on else []
    told = reachable(people, who)
    timers = phase_timers(ev.rules, ev.id, window, who, people, not_before=now,
                          escalation_from=row.escalation_level)
    if due_moved:
        return Replan(tuple(k.value for k in TimerKind), tuple(timers), told)
    kept = [t for t in timers if t["kind"] == TimerKind.REMINDER.value]
    if due <= now and spec.deadline.escalates:
        kept += overdue_rows(ev.rules, ev.id, window, who, people, 1, now)
    return Replan((TimerKind.REMINDER.value, TimerKind.OVERDUE.value), tuple(kept), told)


# --- the order a sweep fires due rows in ------------------------------------------------


def sweep_round(due: Sequence[Mapping[str, Any]],
                fire: Callable[[Mapping[str, Any], bool], TimerEffects]) -> list[TimerEffects]:
    """Fire one round of due rows in the sweep's order; what each row did, in order.

    ``due``: the pending rows due at the round's instant, of any evaluations (each
    with its ``id``, the order rows were planned in). ``fire(row, superseded)``
    applies one row and returns what it did. Each evaluation's rows go by time, then
    by plan order; once a row changes an evaluation (a move, an escalation step) its
    later rows wait for the next round, because they must be decided on the
    evaluation as it is now. A reminder is superseded when a later reminder to the
    same person in the same phase is due in this round too. The real sweep
    (``kpi tick``) and the simulation (``kpi cycle check``) both call this, so they
    fire the same rows in the same rounds.
    """
    stale = superseded_reminders(due)
    by_evaluation: dict[Any, list[Mapping[str, Any]]] = {}
    for row in sorted(due, key=lambda r: (r["fire_at"], r["id"])):
        by_evaluation.setdefault(row["evaluation_id"], []).append(row)
    done: list[TimerEffects] = []
    for rows in by_evaluation.values():
        for row in rows:
            fx = fire(row, row["id"] in stale)
            done.append(fx)
            if fx.changes:
                break  # the evaluation changed: its later rows wait for the next round
    return done


def _sends(event: str, people: People, who: Iterable[str], at: datetime) -> tuple[Send, ...]:
    to = reachable(people, who)
    return (Send(event, to, at),) if to else ()
