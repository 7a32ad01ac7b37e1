"""The calibration pool of a cycle as a whole: when it is complete, its one deadline.

The calibrator cannot approve until every evaluation of the cycle has been scored,
so the calibration clock starts when the pool is complete, not when each evaluation
arrives: one deadline, one set of reminders and one escalation ladder per pool,
stored as deadline rows of the cycle (no evaluation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlmodel import Session

from workflow.cycle_config import PHASE_ORDER
from workflow.domain import State, TimerStatus
from workflow.effects import core as effects
from workflow.recusal import CALIBRATOR_INSTEAD
from workflow.service.core import PersonInfo, Service, load_people
from workflow.service.notices import Mail, make_mail
from workflow.service.rules import CycleRules
from workflow.service.timers import phase_timers
from workflow.store import bulk
from workflow.store.tables import APPROVAL, ASSIGNMENT, CYCLE, DEADLINE, EVALUATION
from workflow.timing import PhaseWindow

BEFORE_CALIBRATION = [s.value for s in PHASE_ORDER[:PHASE_ORDER.index(State.CALIBRATION)]]


class PoolCycle(Protocol):
    """What the pool reads of its cycle: a ``Cycle`` row, or the cached ``_Pool``."""

    @property
    def id(self) -> str: ...

    @property
    def calibrator_id(self) -> str | None: ...


@dataclass(frozen=True)
class _Pool:
    # The cycle as the step knows it from the rules cache: its calibrator is fixed
    # at opening, so the cycle row need not be read again (one statement a step
    # that completes a pool).
    id: str
    calibrator_id: str | None


def counts(session: Session, cycle_id: str) -> tuple[int, int]:
    """(evaluations still before calibration, evaluations waiting in calibration)."""
    rows = dict(session.execute(
        select(EVALUATION.c.state, func.count())
        .where(EVALUATION.c.cycle_id == cycle_id,
               EVALUATION.c.state.in_([*BEFORE_CALIBRATION, State.CALIBRATION.value]))
        .group_by(EVALUATION.c.state)).all())
    before = sum(n for state, n in rows.items() if state != State.CALIBRATION.value)
    return before, rows.get(State.CALIBRATION.value, 0)


def pending_timers(session: Session, cycle_id: str) -> bool:
    return session.execute(
        select(DEADLINE.c.id).where(DEADLINE.c.cycle_id == cycle_id,
                                    DEADLINE.c.evaluation_id.is_(None),
                                    DEADLINE.c.status == TimerStatus.PENDING.value).limit(1)
    ).first() is not None


def cancel_timers(session: Session, cycle_id: str, now: datetime) -> None:
    session.execute(update(DEADLINE).where(
        DEADLINE.c.cycle_id == cycle_id, DEADLINE.c.evaluation_id.is_(None),
        DEADLINE.c.status == TimerStatus.PENDING.value
    ).values(status=TimerStatus.CANCELLED.value, done_at=now))


def approvals(session: Session, cycle_id: str) -> int:
    return int(session.execute(select(func.count()).select_from(APPROVAL)
                               .where(APPROVAL.c.cycle_id == cycle_id)).scalar_one())


def takers(session: Session, cycle_id: str, *, waiting_only: bool = False) -> dict[int, str]:
    """Of the evaluations of ``cycle_id`` (``waiting_only``: of those waiting in
    calibration), those calibrated by someone else than the cycle's calibrator
    (recusal): evaluation id -> who calibrates it."""
    stmt = (select(ASSIGNMENT.c.evaluation_id, ASSIGNMENT.c.person_id).join(
        EVALUATION, EVALUATION.c.id == ASSIGNMENT.c.evaluation_id).where(
        EVALUATION.c.cycle_id == cycle_id, ASSIGNMENT.c.role == CALIBRATOR_INSTEAD,
        ASSIGNMENT.c.status != "withdrawn").order_by(ASSIGNMENT.c.id))
    if waiting_only:
        stmt = stmt.where(EVALUATION.c.state == State.CALIBRATION.value)
    out: dict[int, str] = {}
    for evaluation_id, person_id in session.execute(stmt):
        # The first row, as the permission check reads it (service.core._view).
        out.setdefault(int(evaluation_id), str(person_id))
    return out


def waiting_for(session: Session, cycle: PoolCycle, person_id: str | None, waiting: int) -> int:
    """Of the pool's ``waiting`` evaluations in calibration, how many ``person_id``
    decides: those they took on by recusal; for the cycle's calibrator, the rest."""
    taken = takers(session, cycle.id, waiting_only=True)
    mine = sum(1 for p in taken.values() if p == person_id)
    return mine + (waiting - len(taken) if person_id == cycle.calibrator_id else 0)


def phase_rows(session: Session, rules: CycleRules, cycle: PoolCycle, window: PhaseWindow,
               people: dict[str, PersonInfo], **kwargs: Any) -> list[dict[str, Any]]:
    """The pool's deadline rows: the calibrator's, and those of each person who took
    some of its evaluations on (recusal), who is reminded, told when it is overdue and
    escalated from for what they decide. Their rows carry them as the recipient (even
    the due and escalation rows, the calibrator's carry none): the sweep fires each
    for its own decider. ``kwargs`` go to ``phase_timers``."""
    assert cycle.calibrator_id is not None
    others = sorted(set(takers(session, cycle.id, waiting_only=True).values())
                    - {cycle.calibrator_id})
    people.update(load_people(session, set(others) - set(people)))
    rows = phase_timers(rules, None, window, [cycle.calibrator_id], people,
                        cycle_id=cycle.id, **kwargs)
    for person_id in others:
        rows += taker_rows(rules, cycle.id, window, person_id, people, **kwargs)
    return rows


def taker_rows(rules: CycleRules, cycle_id: str, window: PhaseWindow, person_id: str,
               people: dict[str, PersonInfo], *, after: datetime | None = None,
               **kwargs: Any) -> list[dict[str, Any]]:
    """The pool's rows of one who calibrates some of its evaluations instead of the
    calibrator: the due row, their reminders and the ladder, each with them as the
    recipient. ``after``: only the rows that fire after it (someone who takes some on
    once the pool is open: what its opening would have made them, from then on)."""
    rows = [{**row, "recipient_id": person_id} for row in phase_timers(
        rules, None, window, [person_id], people, cycle_id=cycle_id, **kwargs)]
    return rows if after is None else [r for r in rows if r["fire_at"] > after]


def pending_recipients(session: Session, cycle: PoolCycle) -> set[str]:
    """Whose pending rows the pool has: each row's recipient, the calibrator's for a row
    without one (the pool's due row and its ladder)."""
    found = session.execute(select(DEADLINE.c.recipient_id).where(
        DEADLINE.c.cycle_id == cycle.id, DEADLINE.c.evaluation_id.is_(None),
        DEADLINE.c.status == TimerStatus.PENDING.value).distinct()).scalars()
    return {str(r) if r is not None else str(cycle.calibrator_id) for r in found
            if r is not None or cycle.calibrator_id is not None}


def cancel_timers_of(session: Session, cycle: PoolCycle, person_id: str,
                     now: datetime) -> None:
    """Cancel the pool's pending rows of ``person_id`` (the calibrator's: those without a
    recipient too)."""
    whose = DEADLINE.c.recipient_id == person_id
    if person_id == cycle.calibrator_id:
        whose = whose | DEADLINE.c.recipient_id.is_(None)
    session.execute(update(DEADLINE).where(
        DEADLINE.c.cycle_id == cycle.id, DEADLINE.c.evaluation_id.is_(None),
        DEADLINE.c.status == TimerStatus.PENDING.value, whose
    ).values(status=TimerStatus.CANCELLED.value, done_at=now))


def open_window(session: Session, cycle_id: str) -> PhaseWindow | None:
    """The open pool's calibration window (its evaluations' own, set at its opening:
    the earliest deadline); None when none of its evaluations waits in calibration."""
    found = session.execute(
        select(EVALUATION.c.phase_opens_at, EVALUATION.c.due_at).where(
            EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.state == State.CALIBRATION.value,
            EVALUATION.c.due_at.is_not(None))
        .order_by(EVALUATION.c.due_at).limit(1)).first()
    if found is None:
        return None
    return PhaseWindow(State.CALIBRATION, found.phase_opens_at or found.due_at, found.due_at)


# PostgreSQL: the cycle's row lock as a CTE of a step's compare-and-set (service/
# transition.py), taken by its RETURNING clause, so after the evaluation's own row
# lock as when it is a statement of its own, and before the count, which is a later
# statement and so reads what the lock waited for (a count in the lock's statement
# would read the snapshot taken before the wait).
LOCK_CTE = "pool_lock AS (SELECT id FROM cycle WHERE id = %s FOR UPDATE)"
LOCK_RETURNING = " RETURNING (SELECT id FROM pool_lock)"


def opens_here(svc: Service, session: Session, cycle_id: str) -> bool:
    """Whether ``cycle_id`` has a calibration pool to open (its rules, cached)."""
    return (svc.rules.get(session, cycle_id).config.enabled(State.CALIBRATION)
            and bool(svc.rules.calibrator(session, cycle_id)))


def open_if_complete(svc: Service, session: Session, cycle_ids: Iterable[str],
                     now: datetime, locked: Iterable[str] = ()) -> Mail:
    """Start the calibration deadline of each cycle whose pool just became complete.

    ``locked``: the cycles whose row this transaction has already locked (LOCK_CTE)."""
    mail = Mail([], [])
    already = set(locked)
    for cycle_id in sorted(set(cycle_ids)):
        rules = svc.rules.get(session, cycle_id)
        cycle = _Pool(cycle_id, svc.rules.calibrator(session, cycle_id))
        if not rules.config.enabled(State.CALIBRATION) or not cycle.calibrator_id:
            continue
        # Two workers completing the last evaluations at once would each count the
        # other's as not there yet, and neither would open the pool. The cycle's row
        # lock makes the second count after the first commits (on SQLite the one
        # writer already does, and the statement would be a plain read: not sent).
        if bulk.dialect_name(session) != "sqlite" and cycle_id not in already:
            session.execute(select(CYCLE.c.id).where(CYCLE.c.id == cycle_id).with_for_update())
        before, waiting = counts(session, cycle_id)
        if before or not waiting or pending_timers(session, cycle_id):
            continue
        people = load_people(session, [cycle.calibrator_id])
        # The decision is the effects core's, so `kpi cycle check` predicts it.
        opening = effects.pool_opening(rules, now, cycle.calibrator_id, people)
        window = opening.window
        session.execute(update(EVALUATION).where(
            EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.state == State.CALIBRATION.value
        ).values(phase_opens_at=window.opens_at, due_at=window.due_at))
        # Whoever calibrates an evaluation instead of the calibrator (a conflict of
        # interest) is told too, and has reminders and a ladder of their own.
        session.execute(insert(DEADLINE), phase_rows(session, rules, cycle, window, people))
        others = sorted(set(takers(session, cycle_id, waiting_only=True).values())
                        - {cycle.calibrator_id})
        sends = [*opening.sends, *(send for taker in others for send in
                                   effects.pool_opening(rules, now, taker, people).sends)]
        for send in sends:
            for person_id in send.to:
                # After an approval, a reopened evaluation makes a new round: a new key.
                mail.extend(make_mail(
                    svc, event=send.event, person=people[person_id],
                    dedupe_key=f"cycle:{cycle_id}:calibration_ready:"
                               f"{approvals(session, cycle_id)}"
                               + ("" if person_id == cycle.calibrator_id else f":{person_id}"),
                    context={"cycle_id": cycle_id, "cycle_name": rules.config.name,
                             # how many they decide, not the whole pool (recusal)
                             "evaluations": waiting_for(session, cycle, person_id, waiting),
                             "due_at": window.due_at.isoformat(),
                             "cycle_timezone": rules.tz_name,
                             "state": State.CALIBRATION.value},
                    now=now, evaluation_id=None, available_at=send.at,
                    link_expires_at=window.due_at, cycle_tz=rules.tz_name))
    return mail
