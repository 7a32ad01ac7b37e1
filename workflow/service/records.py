"""Actions on the record beside the transitions: extend, reassign, delegate, overrides.

None of them changes the state; each is a compare-and-set on the evaluation's
version with an audit row, like a transition, and tells the people concerned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from workflow import permissions
from workflow.calendar import at_local, zone
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import TERMINAL_STATES, Role, State, TimerKind, TimerStatus
from workflow.effects import core as effects
from workflow.errors import (
    EvaluationClosed,
    EvaluationNotFound,
    NoDeadlineToExtend,
    NothingToDelegate,
    NotPermitted,
    PeersClosed,
    PersonNotFound,
    PoolDeadline,
    Problem,
    SubmissionInvalid,
    WorkflowError,
)
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord
from workflow.service import pool
from workflow.service.core import (
    PersonInfo,
    Service,
    Snapshot,
    load_people,
    load_snapshot,
    load_snapshots,
)
from workflow.service.notices import STATE_ACTIONS, make_mail, notices_for
from workflow.service.rules import CycleRules
from workflow.service.scoring_inputs import compute, score_basis, scored_values
from workflow.service.transition import (
    REASON_LIMIT,
    Change,
    base_context,
    result_context,
    write,
    write_mail,
)
from workflow.states import SPECS, Notice
from workflow.store import audit
from workflow.store.tables import DEADLINE, EVALUATION, EXTENSION, OVERRIDE, Cycle
from workflow.timing import PhaseWindow

# How far ahead a deadline or a delegation may be set: beyond it, a date is a typing
# slip (9999-12-31), and the calendar arithmetic would run past its known years.
MAX_HORIZON = timedelta(days=366)


def _within_horizon(evaluation_id: int | None, field: str, when: datetime,
                    now: datetime) -> None:
    if when > now + MAX_HORIZON:
        raise SubmissionInvalid(evaluation_id, {field: (
            f"{when:%Y-%m-%d} is too far ahead: at most {MAX_HORIZON.days} days from now "
            f"({now + MAX_HORIZON:%Y-%m-%d})")})


def _reason(evaluation_id: int, reason: str | None, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise SubmissionInvalid(evaluation_id, {field: Problem(N_("required"))})
    if len(text) > REASON_LIMIT:
        raise SubmissionInvalid(evaluation_id, {
            field: Problem(N_("at most %(limit)s characters"), limit=REASON_LIMIT)})
    return text


def _record(snap: Snapshot, action: str, actor_id: str, role: Role, now: datetime,
            values: dict[str, Any], reason: str, payload: Any) -> Change:
    change = Change(snap.id, snap.row.cycle_id, snap.version, snap.state, snap.state,
                    action, actor_id, role, now, {**values, "updated_at": now})
    change.audit.append(audit.AuditEntry(
        actor_id=actor_id, role=role.value, at=now, trigger=action, evaluation_id=snap.id,
        cycle_id=snap.row.cycle_id, from_state=snap.state.value, to_state=snap.state.value,
        reason=reason, payload=payload))
    return change


def _replan(snap: Snapshot, change: Change, people: Mapping[str, PersonInfo], now: datetime,
            row: EvaluationRecord, *, due_moved: bool) -> tuple[str, ...]:
    """Replace the phase's pending timers as the effects core decides; whom the phase
    waits on now (reachable), to be told."""
    plan = effects.replan(snap, row, now, people, due_moved=due_moved)
    if plan.cancel_kinds:
        change.timers = list(plan.timers)
        change.cancel_kinds = plan.cancel_kinds
    return plan.told


def _people(session: Any, snap: Snapshot, *extra: str | None) -> dict[str, PersonInfo]:
    return load_people(session, {snap.row.reviewee_id, snap.row.supervisor_id,
                                 snap.row.appeal_reviewer_id, snap.view.calibrator_id,
                                 *snap.pending_peers(), *snap.view.admins,
                                 *snap.view.escalation_supervisors,
                                 *(d.person_id for d in snap.view.acting_supervisors), *extra})


def _pool_level(state: State) -> bool:
    deadline = SPECS[state].deadline
    return bool(deadline and deadline.pool_level)


def _extension(svc: Service, snap: Snapshot, new_due_at: datetime, text: str,
               approved_by: str, actor_id: str, role: Role, now: datetime,
               people: Mapping[str, PersonInfo], bulk: Mapping[str, Any] | None = None
               ) -> tuple[Change, dict[str, Any]]:
    """One evaluation's extension: the change (timers replanned, people told) and its
    ``extension`` row. Later phases are planned when they are entered, from then: a
    relative deadline after this one moves with it, an absolute one stays."""
    change = _record(snap, "extend", actor_id, role, now,
                     {"due_at": new_due_at, "extended": True}, text,
                     {"phase": snap.state.value, "old": snap.row.due_at,
                      "new": new_due_at, "approved_by": approved_by, **(bulk or {})})
    row = snap.row.changed(change.values)
    told = _replan(snap, change, people, now, row, due_moved=True)
    if told:
        old_due = snap.row.due_at
        context = {**base_context(snap, row, people), "reason": text,
                   "old_due_at": old_due.isoformat() if old_due else None}
        for person_id in told:
            person = people[person_id]
            # The extension mail carries a fresh link to the task, valid to the new date.
            change.mail.extend(make_mail(
                svc, event="extension_granted", person=person,
                dedupe_key=f"ev:{snap.id}:v{snap.version + 1}:extension_granted:{person_id}",
                context=context, now=now, evaluation_id=snap.id,
                link=STATE_ACTIONS[snap.state], link_expires_at=new_due_at,
                cycle_tz=snap.rules.tz_name))
    extension = {"evaluation_id": snap.id, "phase": snap.state.value,
                 "old_due_at": snap.row.due_at, "new_due_at": new_due_at, "reason": text,
                 "approved_by": approved_by, "created_by": actor_id, "created_at": now}
    return change, extension


def cycle_timezone(svc: Service, *, cycle_id: str | None = None,
                   evaluation_id: int | None = None) -> str:
    """The timezone of a cycle (or of an evaluation's cycle): where a local date-time
    typed for one of its deadlines is read."""
    with svc.store.read() as session:
        if evaluation_id is not None:
            cycle_id = session.execute(select(EVALUATION.c.cycle_id).where(
                EVALUATION.c.id == evaluation_id)).scalar()
            if cycle_id is None:
                raise EvaluationNotFound(evaluation_id)
        assert cycle_id is not None, "give a cycle or an evaluation"
        return svc.rules.get(session, cycle_id).tz_name


def extend(svc: Service, evaluation_id: int, new_due_at: datetime, reason: str,
           approved_by: str, actor_id: str, *, now: datetime | None = None) -> Change:
    """Move the current phase's deadline later, on the record; reminders follow it."""
    now = now or utc_now()
    text = _reason(evaluation_id, reason)
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        role = permissions.check_record("extend", actor_id, snap.view, now)
        if snap.state in TERMINAL_STATES or snap.row.due_at is None:
            raise NoDeadlineToExtend(snap.state.value, f"evaluation {evaluation_id} is "
                                     f"{snap.state.value}: it has no deadline to extend")
        if _pool_level(snap.state):
            raise PoolDeadline(
                snap.state.value,
                f"evaluation {evaluation_id} is in {snap.state.value}, whose deadline belongs "
                f"to the whole pool of cycle {snap.row.cycle_id}: extend it with "
                f"`kpi extend-bulk {snap.row.cycle_id} --phase {snap.state.value}`")
        if not approved_by.strip():
            raise SubmissionInvalid(evaluation_id, {"approved_by": Problem(N_("required"))})
        if new_due_at <= snap.row.due_at or new_due_at <= now:
            raise SubmissionInvalid(evaluation_id, {"new_due_at": Problem(
                N_("must be after the current deadline (%(due)s) and after now"),
                english=f"must be after the current deadline {snap.row.due_at:%Y-%m-%d %H:%M}"
                " UTC and after now", due=snap.row.due_at)})
        _within_horizon(evaluation_id, "new_due_at", new_due_at, now)
        change, row = _extension(svc, snap, new_due_at, text, approved_by.strip(), actor_id,
                                 role, now, _people(session, snap))
        session.execute(insert(EXTENSION), [row])
        write(svc, session, [change])
    return change


def reassign_supervisor(svc: Service, evaluation_id: int, new_supervisor_id: str, reason: str,
                        actor_id: str, *, now: datetime | None = None) -> Change:
    """Give the evaluation another supervisor (mid-cycle), on the record."""
    now = now or utc_now()
    text = _reason(evaluation_id, reason)
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        role = permissions.check_record("reassign", actor_id, snap.view, now)
        people = _people(session, snap, new_supervisor_id)
        if new_supervisor_id not in people:
            raise PersonNotFound(new_supervisor_id)
        if new_supervisor_id == snap.row.reviewee_id:
            raise SubmissionInvalid(evaluation_id, {
                "supervisor": Problem(N_("nobody supervises themselves"))})
        if snap.state in TERMINAL_STATES:
            raise EvaluationClosed(evaluation_id, snap.state.value,
                                   f"evaluation {evaluation_id} is {snap.state.value}; reopen "
                                   "it first")
        change = _record(snap, "reassign_supervisor", actor_id, role, now,
                         {"supervisor_id": new_supervisor_id}, text,
                         {"from": snap.row.supervisor_id, "to": new_supervisor_id})
        row = snap.row.changed(change.values)
        if snap.state is State.SUPERVISOR_SCORING:
            _replan(snap, change, people, now, row, due_moved=False)
            change.mail = notices_for(
                svc, snap, [Notice("task_supervisor_scoring", "supervisor")], people=people,
                context={**base_context(snap, row, people), "reason": text},
                key=f"ev:{evaluation_id}:v{snap.version + 1}", now=now, row=row,
                link_expires_at=row.due_at)
        write(svc, session, [change])
    return change


def reassign_peer(svc: Service, evaluation_id: int, old_peer_id: str, new_peer_id: str,
                  reason: str, actor_id: str, *, now: datetime | None = None) -> Change:
    """Replace a peer who has not answered yet."""
    now = now or utc_now()
    text = _reason(evaluation_id, reason)
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        role = permissions.check_record("reassign", actor_id, snap.view, now)
        if snap.state not in (State.SELF_ASSESSMENT, State.PEER_INPUT):
            raise PeersClosed(evaluation_id, snap.state.value)
        old = [a for a in snap.assignments if a.role == Role.PEER.value
               and a.person_id == old_peer_id and a.status == "pending"]
        if not old:
            raise SubmissionInvalid(evaluation_id, {"peer": Problem(
                N_("%(peer)s is not a peer who still has to answer"), peer=old_peer_id)})
        people = _people(session, snap, new_peer_id)
        if new_peer_id not in people:
            raise PersonNotFound(new_peer_id)
        if new_peer_id in (snap.row.reviewee_id, snap.row.supervisor_id) or \
                new_peer_id in snap.view.peers:
            raise SubmissionInvalid(evaluation_id, {"peer": Problem(
                N_("%(peer)s cannot be a peer here: nobody is their own peer, the supervisor "
                   "is not a peer, and nobody is asked twice"), peer=new_peer_id)})
        change = _record(snap, "reassign_peer", actor_id, role, now, {}, text,
                         {"from": old_peer_id, "to": new_peer_id})
        change.assignment_status.append((old[0].id, "withdrawn"))
        change.new_assignments.append({
            "evaluation_id": evaluation_id, "person_id": new_peer_id, "role": Role.PEER.value,
            "status": "pending", "valid_from": now, "valid_until": None,
            "created_by": actor_id, "reason": text})
        if snap.state is State.PEER_INPUT:
            # The new peer's row as it will be read (its id is the store's to give).
            snap.assignments = [a for a in snap.assignments if a.id != old[0].id] + [
                AssignmentRecord.of({"id": -1, **change.new_assignments[-1]})]
            row = snap.row.changed(change.values)
            _replan(snap, change, people, now, row, due_moved=False)
            new_only = Snapshot(snap.row, snap.rules, snap.view,
                                [a for a in snap.assignments if a.person_id == new_peer_id])
            change.mail = notices_for(
                svc, new_only, [Notice("task_peer_input", "peers")], people=people,
                context={**base_context(snap, row, people)},
                key=f"ev:{evaluation_id}:v{snap.version + 1}", now=now, row=row,
                link_expires_at=row.due_at)
        write(svc, session, [change])
    return change


@dataclass
class DelegationReport:
    """What a delegation did: how many evaluations the acting supervisor may now score,
    and those left with the supervisor, each with why (``LEFT_OUT_WHY``)."""

    delegated: int = 0
    left_out: list[tuple[int, str, str]] = field(default_factory=list)  # (id, reviewee, why)


# Why an evaluation is left out of a delegation: the acting scorer would see, or score,
# what they must not. Peers stay anonymous to each other; nobody scores themselves or
# their own supervisor.
LEFT_OUT_WHY = ("reviewee", "peer", "subordinate")


def acting_conflict(snap: Snapshot, acting: PersonInfo) -> str | None:
    """Why ``acting`` may not score ``snap`` in a supervisor's place, or None."""
    if acting.id == snap.row.reviewee_id:
        return "reviewee"
    if acting.id in snap.view.peers:
        return "peer"
    if acting.supervisor_id is not None and acting.supervisor_id == snap.row.reviewee_id:
        return "subordinate"
    return None


def delegate(svc: Service, cycle_id: str, supervisor_id: str, acting_id: str,
             valid_until: datetime, reason: str, actor_id: str, *,
             now: datetime | None = None) -> int:
    """Let ``acting_id`` score for ``supervisor_id`` until ``valid_until`` in one cycle;
    how many evaluations (``delegate_report`` says which were left out, and why)."""
    return delegate_report(svc, cycle_id, supervisor_id, acting_id, valid_until, reason,
                           actor_id, now=now).delegated


def delegate_report(svc: Service, cycle_id: str, supervisor_id: str, acting_id: str,
                    valid_until: datetime, reason: str, actor_id: str, *,
                    now: datetime | None = None) -> DelegationReport:
    """Like ``delegate``; the evaluations the acting supervisor may not score (their own,
    one they give peer input on, their own supervisor's) stay with the supervisor."""
    now = now or utc_now()
    text = _reason(0, reason)
    if valid_until <= now:
        raise SubmissionInvalid(None, {"until": Problem(N_("must be in the future"))})
    _within_horizon(None, "until", valid_until, now)
    if acting_id == supervisor_id:
        raise SubmissionInvalid(None, {"acting": Problem(
            N_("a supervisor is not delegated to themselves; name the person who scores in "
               "their place"),
            english=f"{acting_id} is the supervisor: a supervisor is not delegated to "
                    "themselves; name the person who scores in their place")})
    report = DelegationReport()
    with svc.store.write() as session:
        ids = [int(i) for i in session.execute(
            select(EVALUATION.c.id).where(
                EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.supervisor_id == supervisor_id,
                EVALUATION.c.state.not_in([s.value for s in TERMINAL_STATES]))).scalars()]
        if not ids:
            raise NothingToDelegate(supervisor_id, cycle_id)
        snaps = load_snapshots(svc, session, ids)
        people = load_people(session, [acting_id, supervisor_id])
        if acting_id not in people:
            raise PersonNotFound(acting_id)
        changes = []
        for snap in snaps.values():
            why = acting_conflict(snap, people[acting_id])
            if why is not None:
                report.left_out.append((snap.id, snap.row.reviewee_id, why))
                continue
            role = permissions.check_record("delegate", actor_id, snap.view, now)
            change = _record(snap, "delegate", actor_id, role, now, {}, text,
                             {"acting": acting_id, "until": valid_until})
            change.new_assignments.append({
                "evaluation_id": snap.id, "person_id": acting_id,
                "role": Role.ACTING_SUPERVISOR.value, "status": "pending", "valid_from": now,
                "valid_until": valid_until, "created_by": actor_id, "reason": text})
            changes.append(change)
        if not changes:
            whys = ", ".join(f"{r} ({w})" for _i, r, w in report.left_out)
            raise NotPermitted(0, actor_id, "delegate", (
                f"{acting_id} may score none of {supervisor_id}'s open evaluations in cycle "
                f"{cycle_id}: {whys}; name someone else"))
        write(svc, session, changes)
    report.delegated = len(changes)
    return report


def record_override(svc: Service, evaluation_id: int, override_id: str, source_document: str,
                    actor_id: str, *, now: datetime | None = None) -> Change:
    """Record a fact that forces a class (discipline, a conclusion) with its source document.

    The fact is a row of its own (which override, the document, who, when) and an
    audit row. If the evaluation is already scored and not final, its class is
    recomputed now (the score does not change); a leader above it follows.
    """
    now = now or utc_now()
    document = _reason(evaluation_id, source_document, "source_document")
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        role = permissions.check_record("record_override", actor_id, snap.view, now)
        regime = snap.rules.regime
        known = {o.id for o in regime.overrides}
        if override_id not in known:
            raise SubmissionInvalid(evaluation_id, {"override": (
                f"{override_id!r} is not an override of regime {regime.id}; "
                f"known: {', '.join(sorted(known)) or 'none'}")})
        if regime.override(override_id).leaders_only and not snap.row.is_leader:
            raise SubmissionInvalid(evaluation_id, {"override": (
                f"{override_id} concerns leaders only, and {snap.row.reviewee_id} leads "
                "nobody in the organisation")})
        if snap.state in TERMINAL_STATES:
            raise EvaluationClosed(evaluation_id, snap.state.value,
                                   f"evaluation {evaluation_id} is {snap.state.value}; an "
                                   "override is recorded on an open evaluation (reopen a "
                                   "finalised one first)")
        session.execute(insert(OVERRIDE).values(
            evaluation_id=evaluation_id, override_id=override_id, source_document=document,
            recorded_by=actor_id, recorded_at=now))
        values: dict[str, Any] = {}
        basis = score_basis(session, evaluation_id)
        if snap.row.score is not None and basis is not None:
            values = scored_values(session, snap, compute(session, snap, basis))
        change = _record(snap, "record_override", actor_id, role, now, values, document,
                         {"override": override_id, "source_document": document})
        if values and snap.state is State.APPEAL_WINDOW:
            row = snap.row.changed(change.values)
            people = _people(session, snap)
            change.mail = notices_for(
                svc, snap, [Notice("result", "reviewee")], people=people,
                context={**base_context(snap, row, people), **result_context(snap, row)},
                key=f"ev:{evaluation_id}:v{snap.version + 1}", now=now, row=row,
                link_expires_at=row.due_at)
        write(svc, session, [change])
    return change


# --- bulk extension ---------------------------------------------------------------


@dataclass(frozen=True)
class PlannedExtension:
    """One evaluation whose deadline a bulk extension moves (or would move)."""

    evaluation_id: int
    reviewee_id: str
    unit_id: str
    old_due_at: datetime
    new_due_at: datetime


@dataclass
class BulkExtension:
    """What ``extend_many`` changed, or with ``dry_run`` would change."""

    cycle_id: str
    phase: State
    unit_id: str | None
    dry_run: bool
    extended: list[PlannedExtension] = field(default_factory=list)
    unchanged: list[tuple[int, str, str]] = field(default_factory=list)  # (id, reviewee, why)
    timezone: str = "Asia/Ho_Chi_Minh"  # the cycle's, to show the dates in


def shifted_due(rules: CycleRules, old_due: datetime, working_days: int) -> datetime:
    """``old_due`` moved ``working_days`` working days later, at the same local time."""
    tz = zone(rules.tz_name)
    local = old_due.astimezone(tz)
    day = rules.calendar.add_working_days(local.date(), working_days)
    return at_local(day, local.time().replace(tzinfo=None), tz)


def extend_many(svc: Service, cycle_id: str, phase: State, reason: str, approved_by: str,
                actor_id: str, *, until: datetime | None = None,
                working_days: int | None = None, unit_id: str | None = None,
                dry_run: bool = False, now: datetime | None = None) -> BulkExtension:
    """Extend every evaluation of ``cycle_id`` in ``phase`` (of one unit, or all).

    The new deadline is ``until``, or each one's own deadline ``working_days`` later.
    One transaction: every evaluation is extended, or none. With ``dry_run`` nothing
    is written and the report lists what would change. In calibration the deadline
    is the pool's: the whole pool moves, and ``unit_id`` is refused.
    """
    now = now or utc_now()
    text = _reason(0, reason)
    if (until is None) == (working_days is None):
        raise SubmissionInvalid(None, {"until": "give either a new date or a number of "
                                                "working days, not both"})
    if working_days is not None and not 1 <= working_days <= MAX_HORIZON.days:
        raise SubmissionInvalid(None, {"working_days": (
            f"must be between 1 and {MAX_HORIZON.days}")})
    if until is not None:
        _within_horizon(None, "until", until, now)
    if not approved_by.strip():
        raise SubmissionInvalid(None, {"approved_by": "required"})
    if phase in TERMINAL_STATES:
        raise NoDeadlineToExtend(phase.value, f"{phase.value} has no deadline to extend")
    if unit_id and _pool_level(phase):
        raise WorkflowError(f"{phase.value} has one deadline for the whole pool of cycle "
                            f"{cycle_id}; extend it without a unit")
    report = BulkExtension(cycle_id, phase, unit_id, dry_run)
    with (svc.store.read() if dry_run else svc.store.write()) as session:
        rules = svc.rules.get(session, cycle_id)
        report.timezone = rules.tz_name
        stmt = select(EVALUATION.c.id).where(EVALUATION.c.cycle_id == cycle_id,
                                             EVALUATION.c.state == phase.value)
        if unit_id:
            stmt = stmt.where(EVALUATION.c.unit_id == unit_id)
        ids = [int(i) for i in session.execute(stmt.order_by(EVALUATION.c.id)).scalars()]
        if not ids:
            where = f" of unit {unit_id}" if unit_id else ""
            raise WorkflowError(f"cycle {cycle_id} has no evaluation{where} in {phase.value}")
        changes: list[Change] = []
        rows: list[dict[str, Any]] = []
        bulk = {"bulk": {"phase": phase.value, "unit": unit_id}}
        for start in range(0, len(ids), BULK_CHUNK):
            snaps = load_snapshots(svc, session, ids[start:start + BULK_CHUNK],
                                   lock=not dry_run)
            people = _people_of(session, snaps.values())
            for snap in snaps.values():
                role = permissions.check_record("extend", actor_id, snap.view, now)
                old = snap.row.due_at
                if old is None:
                    report.unchanged.append((snap.id, snap.row.reviewee_id, "no deadline yet"))
                    continue
                new = until if until is not None else shifted_due(rules, old, working_days or 0)
                if new <= old or new <= now:
                    report.unchanged.append((snap.id, snap.row.reviewee_id, (
                        f"its deadline {old:%Y-%m-%d %H:%M} UTC is already as late, or the new "
                        "one has passed")))
                    continue
                report.extended.append(PlannedExtension(snap.id, snap.row.reviewee_id,
                                                        snap.row.unit_id, old, new))
                if dry_run:
                    continue
                if _pool_level(phase):
                    change = _record(snap, "extend", actor_id, role, now,
                                     {"due_at": new, "extended": True}, text,
                                     {"phase": phase.value, "old": old, "new": new,
                                      "approved_by": approved_by.strip(), **bulk})
                    rows.append({"evaluation_id": snap.id, "phase": phase.value,
                                 "old_due_at": old, "new_due_at": new, "reason": text,
                                 "approved_by": approved_by.strip(), "created_by": actor_id,
                                 "created_at": now})
                else:
                    change, row = _extension(svc, snap, new, text, approved_by.strip(),
                                             actor_id, role, now, people, bulk)
                    rows.append(row)
                changes.append(change)
        if dry_run or not changes:
            return report
        if _pool_level(phase):
            _move_pool_deadline(svc, session, rules, report, text, now)
        for start in range(0, len(rows), BULK_CHUNK):
            session.execute(insert(EXTENSION), rows[start:start + BULK_CHUNK])
        for start in range(0, len(changes), BULK_CHUNK):
            write(svc, session, changes[start:start + BULK_CHUNK])
    return report


BULK_CHUNK = 1000


def _people_of(session: Any, snaps: Iterable[Snapshot]) -> dict[str, PersonInfo]:
    ids: set[str | None] = set()
    for snap in snaps:
        ids.update({snap.row.reviewee_id, snap.row.supervisor_id,
                    snap.row.appeal_reviewer_id, snap.view.calibrator_id,
                    *snap.pending_peers(), *snap.view.admins, *snap.view.escalation_supervisors,
                    *(d.person_id for d in snap.view.acting_supervisors)})
    return load_people(session, ids)


def _move_pool_deadline(svc: Service, session: Any, rules: CycleRules, report: BulkExtension,
                        text: str, now: datetime) -> None:
    """The calibration pool's own timers follow its new deadline; whoever decides some
    of it is told (the calibrator, and whoever calibrates instead by recusal)."""
    cycle = session.get(Cycle, rules.cycle_id)
    new_due = max(p.new_due_at for p in report.extended)
    # The template says "from ... to ...": without the old deadline the mail was parked
    # as a dead letter (render checks the context).
    old_due = max(p.old_due_at for p in report.extended)
    # The ladder goes on from the step this round of the pool reached (a reopened
    # evaluation makes a new round: the steps of the last one do not count).
    opened = session.execute(select(func.min(EVALUATION.c.phase_opens_at)).where(
        EVALUATION.c.cycle_id == rules.cycle_id,
        EVALUATION.c.state == State.CALIBRATION.value)).scalar_one()
    taken = session.execute(
        select(func.max(DEADLINE.c.seq)).where(
            DEADLINE.c.cycle_id == rules.cycle_id, DEADLINE.c.evaluation_id.is_(None),
            DEADLINE.c.kind == TimerKind.ESCALATION.value,
            DEADLINE.c.status == TimerStatus.DONE.value,
            DEADLINE.c.fire_at >= opened)).scalar_one()
    pool.cancel_timers(session, rules.cycle_id, now)
    if cycle is None or not cycle.calibrator_id:
        return
    people = load_people(session, [cycle.calibrator_id])
    window = PhaseWindow(State.CALIBRATION, now, new_due)  # nothing is planned before now
    timers = pool.phase_rows(session, rules, cycle, window, people, not_before=now,
                             escalation_from=0 if taken is None else taken + 1)
    session.execute(insert(DEADLINE), timers)
    # Whoever decides some of the pool is told: the calibrator for their part, and each
    # person who calibrates an evaluation instead (recusal) for theirs (phase_rows has
    # loaded them), each with the count they decide.
    waiting = pool.counts(session, rules.cycle_id)[1]
    takers = sorted(set(pool.takers(session, rules.cycle_id, waiting_only=True).values()))
    for person_id in [cycle.calibrator_id, *(t for t in takers if t != cycle.calibrator_id)]:
        person = people.get(person_id)
        count = pool.waiting_for(session, cycle, person_id, waiting)
        if person is None or not count:
            continue
        key = f"cycle:{rules.cycle_id}:calibration_extended:{new_due.isoformat()}" + (
            "" if person_id == cycle.calibrator_id else f":{person_id}")
        write_mail(session, make_mail(
            svc, event="extension_granted", person=person, dedupe_key=key,
            context={"cycle_id": rules.cycle_id, "cycle_name": rules.config.name,
                     "state": State.CALIBRATION.value, "evaluations": count,
                     "due_at": new_due.isoformat(), "old_due_at": old_due.isoformat(),
                     "cycle_timezone": rules.tz_name, "reason": text},
            now=now, evaluation_id=None, link=STATE_ACTIONS[State.CALIBRATION],
            link_expires_at=new_due, cycle_tz=rules.tz_name))
