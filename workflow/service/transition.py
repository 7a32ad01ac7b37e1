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
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Integer, bindparam, literal_column, select, update
from sqlmodel import Session

from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import OPEN_STATES, State, SubmissionKind, TimerStatus, Trigger
from workflow.effects import core as effects
from workflow.errors import (
    AlreadyAppealed,
    AppealLimitReached,
    EvaluationAlreadyChanged,
    NoAppealReviewer,
    Problem,
    SubmissionInvalid,
    TransitionNotAllowed,
    WorkflowError,
)
from workflow.machine import TRANSITIONS
from workflow.service import class_restore, leaders, petition_rounds, pool, publication
from workflow.service.change import Change, base_context, result_context, shown_or_none
from workflow.service.class_note import class_note, note_context
from workflow.service.core import (
    SCORE_READS,
    UNIT_STATES,
    PersonInfo,
    Service,
    Snapshot,
    load_people,
    load_snapshot,
)
from workflow.service.notices import Mail, mail_for
from workflow.service.scoring_inputs import (
    compute,
    confirm_score_waivers,
    framework_of,
    scored_values,
)
from workflow.states import SPECS
from workflow.states.appeal_window import appeal_reviewer
from workflow.states.peer_input import ANSWERED
from workflow.store import audit, bulk
from workflow.store.tables import (
    ASSIGNMENT,
    DEADLINE,
    EVALUATION,
    OUTBOX,
    SUBMISSION,
    TOKEN,
)

# What other modules import from here; ``Change`` and the email facts live in
# ``change`` (below ``leaders``, which this module calls) and are re-exported.
__all__ = ["REASON_LIMIT", "Change", "Outcome",
           "base_context", "fire", "is_open", "machine_error", "plan", "result_context",
           "shown_or_none", "write", "write_mail"]

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


@dataclass(frozen=True)
class Outcome:
    evaluation_id: int
    from_state: State
    to_state: State
    version: int
    score: str | None = None
    class_id: str | None = None


def _clean_reason(trigger: Trigger, reason: str | None, evaluation_id: int) -> str | None:
    text = (reason or "").strip()
    if trigger in NEEDS_REASON and not text:
        raise SubmissionInvalid(evaluation_id, {"reason": Problem(
            N_("a reason is required"), english=f"{trigger.value} needs a reason")})
    if len(text) > REASON_LIMIT:
        raise SubmissionInvalid(evaluation_id, {
            "reason": Problem(N_("at most %(limit)s characters"), limit=REASON_LIMIT)})
    return text or None


def plan(svc: Service, session: Session, snap: Snapshot, trigger: Trigger, actor_id: str,
         payload: Mapping[str, Any] | None = None, reason: str | None = None, *,
         now: datetime, entered_at: datetime | None = None,
         expected_state: State | None = None,
         people: Mapping[str, PersonInfo] | None = None) -> Change:
    """Check and work out one trigger on one evaluation; nothing is written.

    The checks and the effects (state, flags, timers, who is told when) are the
    effects core's (``workflow.effects.core``); what needs the store (the score, the
    appeal reviewer, the single appeal) is worked out here and handed to it.
    """
    state = snap.state
    try:
        role = effects.check(snap, trigger, actor_id, now, expected_state)
    except (TransitionNotAllowed, EvaluationAlreadyChanged):
        if trigger is Trigger.LODGE_APPEAL:
            _appeal_used_up(session, snap)
        raise
    clean_reason = _clean_reason(trigger, reason, snap.id)
    validator = SPECS[state].validators.get(trigger)
    clean: dict[str, Any] = {}
    if validator is not None:
        try:
            clean = validator(payload or {}, framework_of(snap))
        except SubmissionInvalid as exc:
            raise SubmissionInvalid(snap.id, exc.fields) from None
        if trigger in (Trigger.SUBMIT_SCORE, Trigger.REVISE_SCORE):
            clean = confirm_score_waivers(session, snap, trigger, clean)
    submission: dict[str, Any] | None = None
    if trigger in SUBMISSION_OF:
        submission = {
            "evaluation_id": snap.id, "kind": SUBMISSION_OF[trigger].value,
            "author_id": actor_id, "role": role.value, "submitted_at": now,
            "payload": {**clean, **({"decision": trigger.value}
                                    if trigger in (Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE)
                                    else {})},
        }
        submission["payload_hash"] = audit.payload_hash(submission["payload"])
    people = dict(people or {})
    stored = _stored_effects(session, snap, trigger, clean, actor_id, now, people)
    row = snap.row.changed(stored)
    missing = {row.reviewee_id, row.supervisor_id, row.appeal_reviewer_id,
               snap.view.calibrator_id, *snap.pending_peers(), *snap.view.admins,
               *(d.person_id for d in snap.view.acting_supervisors),
               *snap.view.escalation_supervisors} - set(people) - {None}
    people.update(load_people(session, missing))
    fx = effects.transition(snap, trigger, actor_id, now=now, people=people,
                            entered_at=entered_at, values=stored)
    dest = fx.to_state
    change = Change(snap.id, snap.row.cycle_id, snap.version, state, dest, trigger.value,
                    actor_id, role, now, fx.values, submission,
                    assignment_status=fx.assignment_status, timers=fx.timers)
    if fx.sends:
        row = snap.row.changed(fx.values)
        context = base_context(snap, row, people)
        context.update(trigger=trigger.value, reason=clean_reason)
        if dest in (State.APPEAL_WINDOW, State.FINALISED, State.APPEAL_REVIEW):
            context.update(result_context(snap, row))
            # why the class is not the score's, with the recorded reason (class_note)
            # (one query, and only where a move or a restore can be: not for every
            # evaluation an approval sends on whose class is its score's)
            moved = (row.final_class != row.score_class
                     or trigger is Trigger.UPHOLD_SCORE)
            context["calibration"] = note_context(class_note(
                session, snap.id, row.score_class, row.final_class,
                snap.rules.regime,
                restoring=clean.get("reason") if clean.get("restore_class") else None),
                snap.rules.tz_name) if moved else None
        if dest is State.APPEAL_REVIEW and submission:
            context["appeal_reasons"] = submission["payload"].get("reasons")
        if trigger in (Trigger.UPHOLD_SCORE, Trigger.REVISE_SCORE):
            context["decision"] = trigger.value
            context["decision_reason"] = clean.get("reason")
            # The regime lets this decision be petitioned again: until when, to whom.
            context["petition_again"] = petition_rounds.again_context(
                session, snap, row, people) if dest is State.APPEAL_WINDOW else None
        if dest is State.APPEAL_REVIEW:
            # A petition against a decision: its reviewer sees the decision and why.
            context["review_round"] = effects.petition_round(row)
            context["earlier_decision"] = petition_rounds.earlier_decision(
                session, snap.id, people) if effects.petition_round(row) >= 2 else None
        change.mail = mail_for(svc, snap, fx.sends, people=people, context=context,
                               key=f"ev:{snap.id}:v{snap.version + 1}", now=now,
                               link_expires_at=row.due_at)
    change.audit.append(audit.AuditEntry(
        actor_id=actor_id, role=role.value, at=now, trigger=trigger.value,
        evaluation_id=snap.id, cycle_id=snap.row.cycle_id, from_state=state.value,
        to_state=dest.value, reason=clean_reason,
        payload=submission["payload"] if submission else None,
        payload_digest=submission["payload_hash"] if submission else None))
    return change


def machine_error(evaluation_id: int, trigger: Trigger, state: State) -> Exception:
    return TransitionNotAllowed(evaluation_id, trigger.value, state.value)


def _stored_effects(session: Session, snap: Snapshot, trigger: Trigger, clean: dict[str, Any],
                    actor_id: str, now: datetime, people: dict[str, PersonInfo]
                    ) -> dict[str, Any]:
    """The columns a trigger sets that need the store: a score, the appeal reviewer.

    The rest of what a trigger does (flags, the peers' assignments) is pure and lives
    with its state (``StateSpec.effects``).
    """
    if trigger in (Trigger.SUBMIT_SCORE, Trigger.REVISE_SCORE):
        score_payload = clean["score"] if trigger is Trigger.REVISE_SCORE else clean
        try:
            result = compute(session, snap, score_payload)
        except SubmissionInvalid as exc:
            raise SubmissionInvalid(snap.id, exc.fields) from None
        return {**scored_values(session, snap, result),
                "scored_by": actor_id if trigger is Trigger.SUBMIT_SCORE
                else snap.row.scored_by,
                "scored_at": now}
    if trigger is Trigger.UPHOLD_SCORE and clean.get("restore_class"):
        return class_restore.restore_values(session, snap)
    if trigger is Trigger.LODGE_APPEAL:
        # One appeal per evaluation, even after an admin reopens it: the reopening is
        # itself the correction an appeal would have asked for.
        # Where the regime allows a re-review, one more per decision: the appeals on
        # record are as many as the petitions of this result (petition_round).
        earlier = _appeals_lodged(session, snap.id)
        if len(earlier) > effects.petition_round(snap.row):
            raise _appeal_refusal(snap, earlier)
        people.update(load_people(session, [snap.row.supervisor_id, snap.row.scored_by,
                                             snap.row.appeal_reviewer_id]))
        reviewer = appeal_reviewer(snap.row, snap.rules.config, snap.view.admins, people,
                                   snap.view.recused,
                                   scorer_decides=snap.rules.scorer_decides_petition)
        if reviewer is None:
            raise NoAppealReviewer(snap.id)
        return {"appeal_reviewer_id": reviewer}
    return {}


def _appeals_lodged(session: Session, evaluation_id: int) -> list[datetime]:
    """When each appeal of the evaluation was lodged, the latest first."""
    return list(session.execute(
        select(SUBMISSION.c.submitted_at).where(
            SUBMISSION.c.evaluation_id == evaluation_id,
            SUBMISSION.c.kind == SubmissionKind.APPEAL.value)
        .order_by(SUBMISSION.c.submitted_at.desc(), SUBMISSION.c.id.desc())).scalars())


def _appeal_refusal(snap: Snapshot, lodged: list[datetime]) -> AlreadyAppealed:
    """The refusal of one appeal too many: where the regime allows further reviews, it
    names the limit and the rounds used."""
    limit = snap.rules.further_reviews
    if limit:
        return AppealLimitReached(snap.id, lodged[0], len(lodged), limit)
    return AlreadyAppealed(snap.id, lodged[0])


def _appeal_used_up(session: Session, snap: Snapshot) -> None:
    """A finalised result whose appeals are used up says so (not merely "finalised"):
    raises the refusal naming them; a window closed by silence says its state."""
    if snap.state is not State.FINALISED:
        return
    lodged = _appeals_lodged(session, snap.id)
    if lodged and effects.petition_round(snap.row) > snap.rules.further_reviews:
        raise _appeal_refusal(snap, lodged) from None


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
    # The step's new rows (timers, submission, assignments), each table as a list.
    inserts = [(DEADLINE, [t for ch in changes for t in ch.timers], None),
               (SUBMISSION, [ch.submission for ch in changes if ch.submission], None),
               (ASSIGNMENT, [a for ch in changes for a in ch.new_assignments], None)]
    inserted = False
    # PostgreSQL, a step into calibration (or cancelled): the pool's cycle lock goes in
    # the compare-and-set's statement too (pool.LOCK_CTE says why that is safe).
    # So does the lock publishing takes, for a step that may complete its unit
    # (publication.COMPLETING): the same row, taken once.
    pool_locked: list[str] = []
    if cancel_with_cas and (changes[0].to_state in publication.COMPLETING or (
            changes[0].to_state in (State.CALIBRATION, State.CANCELLED)
            and pool.opens_here(svc, session, changes[0].cycle_id))):
        pool_locked.append(changes[0].cycle_id)
    for cols, params in by_columns.items():
        if cancel_with_cas:
            cte, cte_params = _cancel_sql(session, [changes[0].evaluation_id], None,
                                          changes[0].at)
            # ... and, while they are few, its new rows too (bulk.insert_ctes): should
            # the compare-and-set match nothing, the error raised below rolls them back.
            ctes, ctes_params = [f"cancelled AS ({cte})"], list(cte_params)
            if (together := bulk.insert_ctes(session, inserts)) is not None:
                ctes += together[0]
                ctes_params += together[1]
                inserted = True
            if pool_locked:
                ctes.append(pool.LOCK_CTE)
                ctes_params.append(pool_locked[0])
            matched = bulk.execute_one_with(
                session, ("compare_and_set", cols), partial(_compare_and_set, cols), params[0],
                f"WITH {', '.join(ctes)}", ctes_params,
                pool.LOCK_RETURNING if pool_locked else "")
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
    if not inserted:
        for table, rows, _ in inserts:
            bulk.insert_rows(session, table, rows)
    # SQLite: a peer's answer marked their assignments answered in its INSERT (the
    # schema's trigger submission_answers_peer), one statement fewer a peer step.
    by_trigger = bulk.dialect_name(session) == "sqlite"
    statuses = [{"_aid": aid, "_status": status} for ch in changes
                for aid, status in ch.assignment_status
                if not (by_trigger and status == ANSWERED and ch.submission
                        and ch.submission["kind"] == SubmissionKind.PEER_INPUT.value)]
    bulk.execute_many(session, "assignment_status", _assignment_status, statuses)
    mail = Mail([], [])
    for ch in changes:
        mail.extend(ch.mail)
    # A change may complete a cycle's calibration pool (the last one scored, or the
    # last unscored one cancelled): its one calibration deadline starts then.
    touched = {ch.cycle_id for ch in changes if ch.moves
               and ch.to_state in (State.CALIBRATION, State.CANCELLED)}
    mail.extend(pool.open_if_complete(svc, session, touched, changes[0].at, pool_locked))
    # A change may complete a unit's results: they are published in the unit then.
    published = publication.publish_ready(
        svc, session, [(ch.evaluation_id, ch.cycle_id, ch.to_state) for ch in changes
                       if ch.moves], changes[0].at, pool_locked)
    mail.extend(published.mail)
    write_mail(session, mail)
    # Every evaluation lock before the audit chain's head, which is locked last.
    above = leaders.lock_above(svc, session, changes) if follow_up else None
    audit.append(session, [entry for ch in changes for entry in ch.audit] + published.audit)
    if follow_up:
        for follow in leaders.recompute_above(svc, session, changes, changes[0].at, above):
            write(svc, session, [follow], follow_up=False)


def _assignment_status() -> Any:
    return (update(ASSIGNMENT).where(ASSIGNMENT.c.id == bindparam("_aid"))
            .values(status=bindparam("_status")))


def _cancel_sql(session: Session, ids: Sequence[int], kinds: tuple[str, ...] | None,
                at: datetime) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE marking the evaluations' pending timers (of ``kinds``, else all)
    cancelled at ``at``, in the dialect's own SQL, with its parameters."""
    dialect = bulk.dialect(session)
    found = _CANCEL_SQL.get((dialect.name, bool(kinds)))
    if found is None:
        mark = "%s" if dialect.name == "postgresql" else "?"
        where_kind = f" AND kind {bulk.in_ids(dialect.name)}" if kinds else ""
        found = _CANCEL_SQL[(dialect.name, bool(kinds))] = (
            f"UPDATE deadline SET status = {mark}, done_at = {mark} "
            f"WHERE evaluation_id {bulk.in_ids(dialect.name)} AND status = {mark}{where_kind}",
            DEADLINE.c.done_at.type._cached_bind_processor(dialect))
    sql, done_at = found
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


# By (dialect, with kinds): the statement and the bind processor of ``done_at``.
_CANCEL_SQL: dict[tuple[str, bool], tuple[str, Any]] = {}


def write_mail(session: Session, mail: Mail) -> None:
    """The personal links and the outbox rows of ``mail`` (a step's few: on PostgreSQL
    in one statement)."""
    bulk.insert_together(session, [(TOKEN, mail.tokens, None),
                                   (OUTBOX, mail.outbox, "dedupe_key")])


# --- the use case -------------------------------------------------------------------


def fire(svc: Service, evaluation_id: int, trigger: Trigger, actor_id: str,
         payload: Mapping[str, Any] | None = None, reason: str | None = None, *,
         now: datetime | None = None, expected_state: State | None = None) -> Outcome:
    """Fire ``trigger`` on one evaluation as ``actor_id``, in one transaction.

    Raises NotPermitted, EvaluationAlreadyChanged, TransitionNotAllowed or
    SubmissionInvalid; in every case nothing was stored.
    """
    now = now or utc_now()
    with svc.store.write_core() as session:
        snap = load_snapshot(svc, session, evaluation_id, reads=_READS_OF.get(trigger, _NONE))
        change = plan(svc, session, snap, trigger, actor_id, payload, reason, now=now,
                      expected_state=expected_state)
        write(svc, session, [change])
    return Outcome(evaluation_id, change.from_state, change.to_state,
                   snap.version + 1, change.values.get("score"),
                   change.values.get("final_class"))


# What a step's snapshot reads besides, by trigger (core.SCORE_READS, UNIT_STATES): a
# score reads what it is computed from; a trigger that may lead into a state that
# completes a unit (the machine's table says which) reads the unit's states.
_NONE: frozenset[str] = frozenset()
_READS_OF: Mapping[Trigger, frozenset[str]] = {
    trigger: frozenset(
        ({SCORE_READS} if trigger in (Trigger.SUBMIT_SCORE, Trigger.REVISE_SCORE) else set())
        | ({UNIT_STATES} if any(t.trigger is trigger and t.dest in publication.COMPLETING
                                for t in TRANSITIONS) else set()))
    for trigger in Trigger}


def is_open(state: State) -> bool:
    return state in OPEN_STATES
