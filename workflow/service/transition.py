"""Firing a trigger on an evaluation: plan the change as a value, then write it.

``plan`` does the checks (who, when, what was submitted) and works out everything
the change causes: the evaluation's new columns, the submission, the timers of the
new phase, the emails, the audit row. ``write`` stores a list of planned changes in
the current transaction with one statement per kind of row, so the sweep writes a
batch of a thousand changes as cheaply as one. ``fire`` is the use case people
trigger: one evaluation, one transaction.

Every update is a compare-and-set on (id, version): a change planned from a stale
read cannot be written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import Integer, bindparam, literal_column, select, update
from sqlmodel import Session

from workflow import machine, permissions
from workflow.clock import utc_now
from workflow.cycle_config import PHASE_ORDER
from workflow.domain import OPEN_STATES, Role, State, SubmissionKind, TimerStatus, Trigger
from workflow.errors import (
    EvaluationAlreadyChanged,
    SubmissionInvalid,
    TransitionNotAllowed,
    WorkflowError,
)
from workflow.scoring import shown, shown_total
from workflow.service import leaders, pool
from workflow.service.core import (
    ASSIGNMENT,
    EVALUATION,
    PersonInfo,
    Service,
    Snapshot,
    load_people,
    load_snapshot,
)
from workflow.service.notices import Mail, notices_for, recipients
from workflow.service.scoring_inputs import compute, framework_of, scored_values
from workflow.service.timers import phase_timers
from workflow.states import SPECS, Notice
from workflow.store import audit, bulk
from workflow.store.tables import (
    AccessToken,
    Deadline,
    Outbox,
    Submission,
)
from workflow.timing import phase_window

DEADLINE = Deadline.__table__  # type: ignore[attr-defined]
SUBMISSION = Submission.__table__  # type: ignore[attr-defined]
OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
TOKEN = AccessToken.__table__  # type: ignore[attr-defined]

SUBMISSION_OF: Mapping[Trigger, SubmissionKind] = {
    Trigger.SUBMIT_SELF_ASSESSMENT: SubmissionKind.SELF_ASSESSMENT,
    Trigger.SUBMIT_PEER_INPUT: SubmissionKind.PEER_INPUT,
    Trigger.SUBMIT_SCORE: SubmissionKind.SUPERVISOR_SCORE,
    Trigger.ACCEPT_RESULT: SubmissionKind.ACCEPTANCE,
    Trigger.LODGE_APPEAL: SubmissionKind.APPEAL,
    Trigger.UPHOLD_SCORE: SubmissionKind.APPEAL_DECISION,
    Trigger.REVISE_SCORE: SubmissionKind.APPEAL_DECISION,
}
NEEDS_REASON = frozenset({Trigger.CANCEL, Trigger.REOPEN})
REASON_LIMIT = 2000


@dataclass
class Change:
    """Everything one trigger does to one evaluation, before it is written."""

    evaluation_id: int
    cycle_id: str
    expected_version: int
    from_state: State
    to_state: State
    action: str  # the trigger's value, or a record's name (escalate, extend, reassign...)
    actor_id: str
    role: Role
    at: datetime
    values: dict[str, Any]
    submission: dict[str, Any] | None = None
    assignment_status: list[tuple[int, str]] = field(default_factory=list)
    new_assignments: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    mail: Mail = field(default_factory=lambda: Mail([], []))
    audit: list[audit.AuditEntry] = field(default_factory=list)
    # Kinds of the phase's pending timers that ``timers`` replace (all when it moves).
    cancel_kinds: tuple[str, ...] = ()

    @property
    def moves(self) -> bool:
        return self.from_state is not self.to_state


@dataclass(frozen=True)
class Outcome:
    evaluation_id: int
    from_state: State
    to_state: State
    version: int
    score: str | None = None
    class_id: str | None = None


def _moved_on(trigger: Trigger, state: State) -> State | None:
    """The state the trigger belonged to, if the evaluation has already gone past it."""
    sources = [t.source for t in machine.TRANSITIONS if t.trigger is trigger]
    if state is State.CANCELLED:  # cancelling ends every open state
        return next((s for s in sources if s in OPEN_STATES), None)
    order = {s: i for i, s in enumerate([*PHASE_ORDER, State.FINALISED])}
    if sources and all(s in order and order[s] < order[state] for s in sources):
        return sources[0]
    return None


def _facts(snap: Snapshot, trigger: Trigger, actor_id: str) -> machine.Facts:
    config = snap.rules.config
    pending = snap.pending_peers()
    return machine.Facts(
        awaits_peers=config.enabled(State.PEER_INPUT) and bool(pending),
        peers_outstanding=any(p != actor_id for p in pending)
        if trigger is Trigger.SUBMIT_PEER_INPUT else False,
        calibration_enabled=config.enabled(State.CALIBRATION),
    )


def _clean_reason(trigger: Trigger, reason: str | None, evaluation_id: int) -> str | None:
    text = (reason or "").strip()
    if trigger in NEEDS_REASON and not text:
        raise SubmissionInvalid(evaluation_id, {"reason": f"{trigger.value} needs a reason"})
    if len(text) > REASON_LIMIT:
        raise SubmissionInvalid(evaluation_id, {"reason": f"at most {REASON_LIMIT} characters"})
    return text or None


def _appeal_reviewer(snap: Snapshot, people: Mapping[str, PersonInfo]) -> str | None:
    """The named council, else the supervisor's supervisor, else the scorer's; never the scorer."""
    row, config = snap.row, snap.rules.config
    scorer = row["scored_by"]

    def above(person_id: str | None) -> str | None:
        if not person_id:
            return None
        person = people.get(person_id)
        return (person.supervisor_id if person else None) or config.evaluators.get(person_id)

    for candidate in (config.appeal_reviewer, above(row["supervisor_id"]), above(scorer)):
        if candidate and candidate not in (scorer, row["reviewee_id"]):
            return candidate
    admins = sorted(a for a in snap.view.admins if a not in (scorer, row["reviewee_id"]))
    return admins[0] if admins else None


def result_context(snap: Snapshot, row: Mapping[str, Any]) -> dict[str, Any]:
    """The facts a result email shows: score, class, breakdown, appeal deadline."""
    regime = snap.rules.regime
    class_id = row.get("final_class") or row.get("score_class")
    score = row.get("score")
    ctx: dict[str, Any] = {"class_id": class_id,
                           "score": None if score in (None, "")
                           else f"{shown_total(Decimal(str(score)), regime):.2f}"}
    if class_id:
        band = regime.band(class_id)
        ctx["class_label"] = {"en": band.label.en, "vi": band.label.vi}
    stamp = row.get("score_stamp") or {}
    ctx["breakdown"] = stamp.get("breakdown", [])
    return ctx


def shown_or_none(value: Any) -> str | None:
    return None if value in (None, "") else shown(Decimal(str(value)))


def base_context(snap: Snapshot, row: Mapping[str, Any], people: Mapping[str, PersonInfo]
                 ) -> dict[str, Any]:
    reviewee = people.get(row["reviewee_id"])
    config = snap.rules.config
    due = row.get("due_at")
    return {
        "cycle_id": snap.row["cycle_id"], "cycle_name": config.name,
        "period_start": config.period.start.isoformat(),
        "period_end": config.period.end.isoformat(),
        "evaluation_id": snap.id, "reviewee_id": row["reviewee_id"],
        "reviewee_name": reviewee.full_name if reviewee else row["reviewee_id"],
        "state": row["state"], "due_at": due.isoformat() if due else None,
        "cycle_timezone": config.timezone,
    }


def plan(svc: Service, session: Session, snap: Snapshot, trigger: Trigger, actor_id: str,
         payload: Mapping[str, Any] | None = None, reason: str | None = None, *,
         now: datetime, entered_at: datetime | None = None,
         expected_state: State | None = None,
         people: Mapping[str, PersonInfo] | None = None) -> Change:
    """Check and work out one trigger on one evaluation; nothing is written."""
    state = snap.state
    role = permissions.check(trigger, actor_id, snap.view, now)
    if expected_state is not None and expected_state is not state:
        raise EvaluationAlreadyChanged(snap.id, expected_state.value, state.value)
    if not machine.accepts(state, trigger):
        was = _moved_on(trigger, state)
        if was is not None:
            raise EvaluationAlreadyChanged(snap.id, was.value, state.value)
        raise machine_error(snap.id, trigger, state)
    if role is not Role.SYSTEM and role is not Role.ADMIN and snap.row["phase_opens_at"] > now:
        opens = snap.row["phase_opens_at"].isoformat(timespec="minutes")
        raise WorkflowError(f"evaluation {snap.id}: {state.value} opens at {opens}; "
                            "it cannot be done before then")
    clean_reason = _clean_reason(trigger, reason, snap.id)
    validator = SPECS[state].validators.get(trigger)
    clean: dict[str, Any] = {}
    if validator is not None:
        try:
            clean = validator(payload or {}, framework_of(snap))
        except SubmissionInvalid as exc:
            raise SubmissionInvalid(snap.id, exc.fields) from None
    dest = machine.next_state(snap.id, state, trigger, _facts(snap, trigger, actor_id))
    values: dict[str, Any] = {"state": dest.value, "updated_at": now}
    change = Change(snap.id, snap.row["cycle_id"], snap.version, state, dest, trigger.value,
                    actor_id, role, now, values)
    if trigger in SUBMISSION_OF:
        change.submission = {
            "evaluation_id": snap.id, "kind": SUBMISSION_OF[trigger].value,
            "author_id": actor_id, "role": role.value, "submitted_at": now,
            "payload": {**clean, **({"decision": trigger.value}
                                    if trigger in (Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE)
                                    else {})},
        }
        change.submission["payload_hash"] = audit.payload_hash(change.submission["payload"])
    people = dict(people or {})
    _trigger_effects(session, snap, change, trigger, clean, people)
    row = {**snap.row, **values}
    missing = {row["reviewee_id"], row["supervisor_id"], row["appeal_reviewer_id"],
               snap.view.calibrator_id, *snap.pending_peers(), *snap.view.admins,
               *(d.person_id for d in snap.view.acting_supervisors),
               *snap.view.escalation_supervisors} - set(people) - {None}
    people.update(load_people(session, missing))
    notices: list[Notice] = []
    if change.moves:
        _enter_phase(snap, change, row, people, entered_at or now)
        row = {**snap.row, **values}
        notices.extend(SPECS[dest].notices_on_enter(trigger))
        deadline = SPECS[state].deadline
        if deadline and deadline.moves_with is trigger:
            notices = list(deadline.missed) + notices
    if notices:
        context = base_context(snap, row, people)
        context.update(trigger=trigger.value, reason=clean_reason)
        if dest in (State.APPEAL_WINDOW, State.FINALISED, State.APPEAL_REVIEW):
            context.update(result_context(snap, row))
        if dest is State.APPEAL_REVIEW and change.submission:
            context["appeal_reasons"] = change.submission["payload"].get("reasons")
        if trigger in (Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE):
            context["decision"] = trigger.value
            context["decision_reason"] = clean.get("reason")
        change.mail = notices_for(
            svc, snap, notices, people=people, context=context,
            key=f"ev:{snap.id}:v{snap.version + 1}", now=now, row=row,
            available_at=max(now, row["phase_opens_at"]), link_expires_at=row.get("due_at"))
    change.audit.append(audit.AuditEntry(
        actor_id=actor_id, role=role.value, at=now, trigger=trigger.value,
        evaluation_id=snap.id, cycle_id=snap.row["cycle_id"], from_state=state.value,
        to_state=dest.value, reason=clean_reason,
        payload=change.submission["payload"] if change.submission else None))
    return change


def machine_error(evaluation_id: int, trigger: Trigger, state: State) -> Exception:
    return TransitionNotAllowed(evaluation_id, trigger.value, state.value)


def _trigger_effects(session: Session, snap: Snapshot, change: Change, trigger: Trigger,
                     clean: dict[str, Any], people: dict[str, PersonInfo]) -> None:
    values = change.values
    if trigger is Trigger.SELF_ASSESSMENT_MISSED:
        values["self_assessment_missing"] = True
    elif trigger is Trigger.SUBMIT_PEER_INPUT:
        change.assignment_status += [(a["id"], "answered") for a in snap.assignments
                                     if a["role"] == Role.PEER.value
                                     and a["person_id"] == change.actor_id]
    elif trigger is Trigger.PEER_INPUT_CLOSED:
        answered = sum(1 for a in snap.assignments
                       if a["role"] == Role.PEER.value and a["status"] == "answered")
        if answered < snap.rules.min_peer_responses:
            values["peer_quorum_not_reached"] = True
        change.assignment_status += [(a["id"], "closed") for a in snap.assignments
                                     if a["role"] == Role.PEER.value and a["status"] == "pending"]
    elif trigger in (Trigger.SUBMIT_SCORE, Trigger.REVISE_SCORE):
        score_payload = clean["score"] if trigger is Trigger.REVISE_SCORE else clean
        try:
            result = compute(session, snap, score_payload)
        except SubmissionInvalid as exc:
            raise SubmissionInvalid(snap.id, exc.fields) from None
        values.update(
            scored_values(session, snap, result),
            scored_by=change.actor_id if trigger is Trigger.SUBMIT_SCORE else snap.row["scored_by"],
            scored_at=change.at,
        )
    elif trigger is Trigger.LODGE_APPEAL:
        # One appeal per evaluation, even after an admin reopens it: the reopening is
        # itself the correction an appeal would have asked for.
        earlier = session.execute(
            select(SUBMISSION.c.submitted_at).where(
                SUBMISSION.c.evaluation_id == snap.id,
                SUBMISSION.c.kind == SubmissionKind.APPEAL.value)).first()
        if earlier is not None:
            raise WorkflowError(
                f"evaluation {snap.id} was already appealed on "
                f"{earlier.submitted_at:%Y-%m-%d}; an evaluation can be appealed only once")
        people.update(load_people(session, [snap.row["supervisor_id"], snap.row["scored_by"]]))
        reviewer = _appeal_reviewer(snap, people)
        if reviewer is None:
            raise WorkflowError(f"evaluation {snap.id}: nobody can review this appeal (no "
                                "supervisor above the scorer, no appeal_reviewer and no admin "
                                "in the cycle file); ask an admin to name one")
        values["appeal_reviewer_id"] = reviewer
    elif trigger is Trigger.REOPEN:
        values["reopened"] = True


def _enter_phase(snap: Snapshot, change: Change, row: dict[str, Any],
                 people: Mapping[str, PersonInfo], entered_at: datetime) -> None:
    dest, values = change.to_state, change.values
    values["phase_entered_at"] = entered_at
    values["escalation_level"] = 0
    deadline = SPECS[dest].deadline
    if deadline is None or deadline.pool_level:  # pool deadlines start with the pool
        values["phase_opens_at"] = entered_at
        values["due_at"] = None
        return
    window = phase_window(snap.rules.config, snap.rules.calendar, dest, entered_at)
    values["phase_opens_at"] = window.opens_at
    values["due_at"] = window.due_at
    merged = {**row, **values}
    waits_on = SPECS[dest].waits_on
    who = recipients(snap, waits_on, snap.view.admins, change.at, merged) if waits_on else []
    change.timers = phase_timers(snap.rules, snap.id, window, who, people)


# --- writing ------------------------------------------------------------------------


def _compare_and_set(cols: tuple[str, ...]) -> Any:
    """UPDATE of ``cols`` where the evaluation is still at the version it was read at;
    ``version + 1`` is literal SQL, so that every parameter comes from the rows."""
    return (update(EVALUATION)
            .where(EVALUATION.c.id == bindparam("_id"),
                   EVALUATION.c.version == bindparam("_version"))
            .values(version=EVALUATION.c.version + literal_column("1", Integer),
                    **{c: bindparam(f"v_{c}") for c in cols}))


def write(svc: Service, session: Session, changes: Sequence[Change], *,
          follow_up: bool = True) -> None:
    """Store planned changes in the current transaction: CAS updates, then the rows.

    With ``follow_up`` (always, except for the follow-ups themselves), a change of
    someone's class then recomputes the unit results of the leaders above them.
    """
    if not changes:
        return
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for ch in changes:
        cols = tuple(sorted(ch.values))
        by_columns[cols].append({"_id": ch.evaluation_id, "_version": ch.expected_version,
                                 **{f"v_{c}": ch.values[c] for c in cols}})
    # PostgreSQL, one change that moves (a step): its timers are cancelled in the
    # compare-and-set's own statement, one round trip instead of two.
    cancel_with_cas = (len(changes) == 1 and changes[0].moves
                       and bulk.dialect_name(session) == "postgresql")
    for cols, params in by_columns.items():
        if cancel_with_cas:
            cte, cte_params = _cancel_sql(session, [changes[0].evaluation_id], None,
                                          changes[0].at)
            matched = bulk.execute_one_with(
                session, ("compare_and_set", cols), partial(_compare_and_set, cols), params[0],
                f"WITH cancelled AS ({cte})", cte_params)
        else:
            matched = bulk.execute_many(session, ("compare_and_set", cols),
                                        partial(_compare_and_set, cols), params)
        multi_ok = len(params) == 1 or bulk.dialect(session).supports_sane_multi_rowcount
        if multi_ok and matched != len(params):
            stale = changes[0] if len(params) == 1 else None
            if stale is not None:
                raise EvaluationAlreadyChanged(stale.evaluation_id, stale.from_state.value,
                                               "changed by someone else")
            raise WorkflowError("a batch of evaluations changed while it was being "
                                "processed; nothing of the batch was saved, it is retried")
    cancel: dict[tuple[str, ...] | None, list[int]] = defaultdict(list)
    for ch in changes:
        if ch.moves:
            cancel[None].append(ch.evaluation_id)
        elif ch.cancel_kinds:
            cancel[ch.cancel_kinds].append(ch.evaluation_id)
    for kinds, ids in cancel.items():
        if not cancel_with_cas:
            _cancel_timers(session, ids, kinds, changes[0].at)
    bulk.insert_rows(session, DEADLINE, [t for ch in changes for t in ch.timers])
    bulk.insert_rows(session, SUBMISSION, [ch.submission for ch in changes if ch.submission])
    bulk.insert_rows(session, ASSIGNMENT, [a for ch in changes for a in ch.new_assignments])
    statuses = [{"_aid": aid, "_status": status} for ch in changes
                for aid, status in ch.assignment_status]
    bulk.execute_many(session, "assignment_status", _assignment_status, statuses)
    mail = Mail([], [])
    for ch in changes:
        mail.extend(ch.mail)
    # A change may complete a cycle's calibration pool (the last one scored, or the
    # last unscored one cancelled): its one calibration deadline starts then.
    touched = {ch.cycle_id for ch in changes if ch.moves
               and ch.to_state in (State.CALIBRATION, State.CANCELLED)}
    mail.extend(pool.open_if_complete(svc, session, touched, changes[0].at))
    write_mail(session, mail)
    # Every evaluation lock before the audit chain's head, which is locked last.
    above = leaders.lock_above(svc, session, changes) if follow_up else None
    audit.append(session, [entry for ch in changes for entry in ch.audit])
    if follow_up:
        leaders.recompute_above(svc, session, changes, changes[0].at, above)


def _assignment_status() -> Any:
    return (update(ASSIGNMENT).where(ASSIGNMENT.c.id == bindparam("_aid"))
            .values(status=bindparam("_status")))


def _cancel_sql(session: Session, ids: Sequence[int], kinds: tuple[str, ...] | None,
                at: datetime) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE marking the evaluations' pending timers (of ``kinds``, else all)
    cancelled at ``at``, in the dialect's own SQL, with its parameters."""
    dialect = bulk.dialect(session)
    sql = _CANCEL_SQL.get((dialect.name, bool(kinds)))
    if sql is None:
        mark = "%s" if dialect.name == "postgresql" else "?"
        where_kind = f" AND kind {bulk.in_ids(dialect.name)}" if kinds else ""
        sql = _CANCEL_SQL[(dialect.name, bool(kinds))] = (
            f"UPDATE deadline SET status = {mark}, done_at = {mark} "
            f"WHERE evaluation_id {bulk.in_ids(dialect.name)} AND status = {mark}{where_kind}")
    done_at = DEADLINE.c.done_at.type._cached_bind_processor(dialect)
    params: list[Any] = [TimerStatus.CANCELLED.value, done_at(at) if done_at else at,
                         bulk.id_list(dialect.name, ids), TimerStatus.PENDING.value]
    if kinds:
        params.append(bulk.id_list(dialect.name, kinds))
    return sql, tuple(params)


def _cancel_timers(session: Session, ids: Sequence[int], kinds: tuple[str, ...] | None,
                   at: datetime) -> None:
    """Mark the evaluations' pending timers (of ``kinds``, else all) cancelled at ``at``."""
    for start in range(0, len(ids), 900):
        bulk.run(session, *_cancel_sql(session, ids[start:start + 900], kinds, at))


_CANCEL_SQL: dict[tuple[str, bool], str] = {}


def write_mail(session: Session, mail: Mail) -> None:
    bulk.insert_rows(session, TOKEN, mail.tokens)
    bulk.insert_rows(session, OUTBOX, mail.outbox, ignore_conflict_on="dedupe_key")


# --- the use case -------------------------------------------------------------------


def fire(svc: Service, evaluation_id: int, trigger: Trigger, actor_id: str,
         payload: Mapping[str, Any] | None = None, reason: str | None = None, *,
         now: datetime | None = None, expected_state: State | None = None) -> Outcome:
    """Fire ``trigger`` on one evaluation as ``actor_id``, in one transaction.

    Raises NotPermitted, EvaluationAlreadyChanged, TransitionNotAllowed or
    SubmissionInvalid; in every case nothing was stored.
    """
    now = now or utc_now()
    with svc.store.write() as session:
        snap = load_snapshot(svc, session, evaluation_id)
        change = plan(svc, session, snap, trigger, actor_id, payload, reason, now=now,
                      expected_state=expected_state)
        write(svc, session, [change])
    return Outcome(evaluation_id, change.from_state, change.to_state,
                   snap.version + 1, change.values.get("score"),
                   change.values.get("final_class"))


def is_open(state: State) -> bool:
    return state in OPEN_STATES
