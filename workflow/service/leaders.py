"""A leader's unit results follow the classes of the people they manage.

Decree 335: a leader's unit-results component is 100% when everyone they manage is
at least "completed", 50% otherwise. Those classes can change after the leader was
scored: someone is scored later, an appeal is revised, an override is recorded,
an evaluation is cancelled. ``recompute_above`` runs in the transaction of that
change (``transition.write`` calls it) and recomputes every scored leader above the
changed evaluations, the nearest first, so that a head of agency sees the new class
of a head of unit recomputed a moment before. Each recomputation that changes
something is a change of its own on the leader's evaluation: a compare-and-set,
an audit row saying why, and, in the appeal window, a new result email.

A finalised leader is not changed (finalised is read-only): the audit row records
that the unit results are now different, and an admin may reopen the evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from workflow.domain import Role, State
from workflow.permissions import SYSTEM_ACTOR
from workflow.scoring import ScoreNotComputable, shown
from workflow.scoring.model import CriterionKind
from workflow.service.change import Change, base_context, result_context
from workflow.service.core import ABOVE_KEY, Service, Snapshot, load_people, load_snapshots
from workflow.service.notices import notices_for
from workflow.service.scoring_inputs import (
    SCORED_STATES,
    compute,
    framework_of,
    score_basis,
    scored_values,
)
from workflow.states import Notice
from workflow.store import audit, bulk

CLASS_COLUMNS = frozenset({"score_class", "final_class"})
MAX_DEPTH = 64  # a supervisor tree deeper than this is a loop in the data


def _touched(changes: Sequence[Any]) -> dict[str, list[Any]]:
    """The changes that may alter someone's class or membership, by cycle."""
    out: dict[str, list[Any]] = {}
    for ch in changes:
        if CLASS_COLUMNS & ch.values.keys() or (ch.moves and ch.to_state is State.CANCELLED):
            out.setdefault(ch.cycle_id, []).append(ch)
    return out


def _ancestors(session: Session, cycle_id: str, evaluation_ids: Sequence[int]
               ) -> tuple[list[int], set[int]]:
    """Evaluations above the given ones in the cycle's supervisor tree, nearest first,
    locked (PostgreSQL: ``FOR UPDATE``, in id order), and those of them with a score.

    One recursive statement walks the tree up from the given evaluations (UNION, not
    UNION ALL: a loop in the data ends the walk instead of running forever) and locks
    what it found: a locked row comes back as its latest committed version, so its
    score is current.
    """
    dialect = bulk.dialect_name(session)
    pg = dialect == "postgresql"
    mark = "%s" if pg else "?"
    sql = (
        "WITH RECURSIVE up(id, reviewee_id, supervisor_id) AS ("
        f"SELECT id, reviewee_id, supervisor_id FROM evaluation WHERE id {bulk.in_ids(dialect)} "
        "UNION SELECT s.id, s.reviewee_id, s.supervisor_id FROM up JOIN evaluation s "
        f"ON s.cycle_id = {mark} AND s.reviewee_id = up.supervisor_id"
        ") SELECT e.id, e.reviewee_id, e.supervisor_id, e.score FROM evaluation e "
        "WHERE e.id IN (SELECT id FROM up) ORDER BY e.id" + (" FOR UPDATE OF e" if pg else ""))
    rows = bulk.query(session, sql, [bulk.id_list(dialect, list(evaluation_ids)), cycle_id])
    evaluation_of = {r[1]: r[0] for r in rows}  # person -> evaluation in the cycle
    supervisor_of = {r[0]: r[2] for r in rows}  # evaluation -> supervisor
    scored = {r[0] for r in rows if r[3] is not None}
    parent = {e: evaluation_of.get(s) if s else None for e, s in supervisor_of.items()}

    def height(i: int) -> int:  # steps to the top of the tree
        n, node = 0, parent.get(i)
        while node is not None and n < MAX_DEPTH:
            n, node = n + 1, parent.get(node)
        return n

    above = {p for p in parent.values() if p is not None}
    return sorted(above, key=lambda i: (-height(i), i)), scored & above


def _unit_share(stamp: Mapping[str, Any] | None) -> str | None:
    for entry in (stamp or {}).get("breakdown", []):
        if "unit_results" in entry:
            share = entry["unit_results"]["share"]
            return None if share is None else str(share)
    return None


def _percent(share: str | None) -> str:
    return "left out (nobody scored yet)" if share is None else f"{Decimal(share) * 100:.0f}%"


def lock_above(svc: Service, session: Session, changes: Sequence[Any]
               ) -> dict[str, list[Snapshot]]:
    """Lock, in one statement per cycle, every evaluation ``recompute_above`` may change
    (and read the snapshots of those with a score, which it may recompute).

    ``transition.write`` calls this before it appends to the audit chain: the chain's
    head is locked last by every transaction, so a transaction holding it never waits
    for an evaluation (which another transaction, holding that evaluation, may be
    waiting to append after: a deadlock). Returns the scored leaders above, nearest first,
    as read under the lock (after the changes' own updates): the recomputation of one
    writes only that leader's row, so the others stay as read.
    """
    out: dict[str, list[Snapshot]] = {}
    known = bulk.transaction_cache(session).get(ABOVE_KEY, {})
    for cycle_id, touched in _touched(changes).items():
        if svc.rules.get(session, cycle_id).regime.unit_results is None:
            continue
        ids = sorted({ch.evaluation_id for ch in touched})
        # The snapshots this transaction read say who is above each of them: where
        # nobody is (the top of the tree, a supervisor outside the cycle), no query.
        if all(known.get(i, 0) is None for i in ids) \
                and not any("supervisor_id" in ch.values for ch in touched):
            out[cycle_id] = []
            continue
        above, scored = _ancestors(session, cycle_id, ids)  # locked
        # Only a scored leader can be recomputed (_recomputable): the others need no
        # snapshot, and most often nobody above is scored yet.
        snaps = load_snapshots(svc, session, sorted(scored)) if scored else {}
        out[cycle_id] = [snaps[i] for i in above if i in snaps]
    return out


def recompute_above(svc: Service, session: Session, changes: Sequence[Any],
                    now: datetime, locked: dict[str, list[Snapshot]] | None = None
                    ) -> Iterator[Change]:
    """Recompute the unit results of every scored leader above the changed evaluations.

    Yields each leader's change, nearest first; the caller writes it (without a
    follow-up) before asking for the next, whose score may read that leader's new
    class. ``locked``: what ``lock_above`` returned for these changes (else it is
    worked out).
    """
    above_of = locked if locked is not None else lock_above(svc, session, changes)
    for cycle_id, touched in _touched(changes).items():
        rules = svc.rules.get(session, cycle_id)
        if rules.regime.unit_results is None:
            continue
        cause = ", ".join(sorted({f"{ch.action} on evaluation {ch.evaluation_id} by "
                                  f"{ch.actor_id}" for ch in touched}))
        keeps_full = _keeps_the_full_share(rules, touched)
        for snap in above_of.get(cycle_id, []):
            leader_id = snap.id
            if not _recomputable(snap):
                continue
            if keeps_full and _has_the_full_share(rules, snap):
                continue  # everyone below is still at least the threshold: same score
            basis = score_basis(session, leader_id)
            if basis is None:
                continue
            try:
                result = compute(session, snap, basis)
            except ScoreNotComputable:  # cannot happen with a rubric beside unit results;
                continue  # if a framework has none, the leader keeps the score on record
            old_score, old_class = snap.row.score, snap.row.score_class
            if old_score is None:  # _recomputable: scored
                continue
            if Decimal(old_score) == result.total and old_class == result.class_id:
                continue
            values = scored_values(session, snap, result)
            reason = (f"the classes of the people they manage changed ({cause}): unit results "
                      f"{_percent(_unit_share(snap.row.score_stamp))} -> "
                      f"{_percent(_unit_share(values['score_stamp']))}, score "
                      f"{shown(Decimal(old_score))} -> {shown(result.total)}, class "
                      f"{old_class} -> {result.class_id}")
            entry = audit.AuditEntry(
                actor_id=SYSTEM_ACTOR, role=Role.SYSTEM.value, at=now,
                trigger="recompute_unit_results" if snap.state is not State.FINALISED
                else "unit_results_stale",
                evaluation_id=leader_id, cycle_id=cycle_id, from_state=snap.state.value,
                to_state=snap.state.value, reason=reason,
                payload={"score": str(result.total), "class": result.class_id})
            if snap.state is State.FINALISED:
                audit.append(session, [entry])
                continue
            change = Change(leader_id, cycle_id, snap.version, snap.state, snap.state,
                            "recompute_unit_results", SYSTEM_ACTOR, Role.SYSTEM, now,
                            {**values, "updated_at": now})
            change.audit.append(entry)
            if snap.state is State.APPEAL_WINDOW:
                _tell_the_leader(svc, session, snap, change, reason, now)
            yield change


def _keeps_the_full_share(rules: Any, touched: Sequence[Any]) -> bool:
    """Whether none of ``touched`` can take a leader off the full unit-results share:
    each gives a class at least the threshold ("completed"). A cancellation or a class
    taken away (a reopening) can: the leader may be left with nobody scored."""
    rule, regime = rules.regime.unit_results, rules.regime
    floor = regime.class_index(rule.all_at_least)
    for ch in touched:
        if ch.moves and ch.to_state is State.CANCELLED:
            return False
        for column in CLASS_COLUMNS & ch.values.keys():
            given = ch.values[column]
            if given is None or regime.class_index(given) > floor:
                return False
    return True


def _has_the_full_share(rules: Any, snap: Snapshot) -> bool:
    """The leader's score counts the full unit-results share: nobody below them was
    under the threshold when they were last scored or recomputed.

    With that share and only classes at or above the threshold given since, the
    recomputation cannot change the score: skipping it spares a query over the whole
    subtree (for a head of agency, the whole agency) on every scoring below them.
    """
    share = _unit_share(snap.row.score_stamp)
    return share is not None and Decimal(share) == Decimal(
        str(rules.regime.unit_results.share_when_all))


def _recomputable(snap: Snapshot) -> bool:
    return (snap.state in SCORED_STATES and snap.row.score is not None
            and framework_of(snap).has(CriterionKind.UNIT_RESULTS))


def _tell_the_leader(svc: Service, session: Session, snap: Snapshot, change: Any, reason: str,
                     now: datetime) -> None:
    row = snap.row.changed(change.values)
    people = load_people(session, [snap.row.reviewee_id])
    change.mail = notices_for(
        svc, snap, [Notice("result", "reviewee")], people=people,
        context={**base_context(snap, row, people), **result_context(snap, row),
                 "reason": reason},
        key=f"ev:{snap.id}:v{snap.version + 1}", now=now, row=row,
        link_expires_at=row.due_at)
