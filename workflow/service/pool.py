"""The calibration pool of a cycle as a whole: when it is complete, its one deadline.

The calibrator cannot approve until every evaluation of the cycle has been scored,
so the calibration clock starts when the pool is complete, not when each evaluation
arrives: one deadline, one set of reminders and one escalation ladder per pool,
stored as deadline rows of the cycle (no evaluation).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlmodel import Session

from workflow.cycle_config import PHASE_ORDER
from workflow.domain import State, TimerStatus
from workflow.effects import core as effects
from workflow.recusal import CALIBRATOR_INSTEAD
from workflow.service.core import Service, load_people
from workflow.service.notices import Mail, make_mail
from workflow.store.tables import APPROVAL, ASSIGNMENT, CYCLE, DEADLINE, EVALUATION, Cycle

BEFORE_CALIBRATION = [s.value for s in PHASE_ORDER[:PHASE_ORDER.index(State.CALIBRATION)]]


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


def _takers(session: Session, cycle_id: str) -> set[str]:
    return set(session.execute(select(ASSIGNMENT.c.person_id).join(
        EVALUATION, EVALUATION.c.id == ASSIGNMENT.c.evaluation_id).where(
        EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.state == State.CALIBRATION.value,
        ASSIGNMENT.c.role == CALIBRATOR_INSTEAD, ASSIGNMENT.c.status != "withdrawn")
    ).scalars())


def open_if_complete(svc: Service, session: Session, cycle_ids: Iterable[str],
                     now: datetime) -> Mail:
    """Start the calibration deadline of each cycle whose pool just became complete."""
    mail = Mail([], [])
    for cycle_id in sorted(set(cycle_ids)):
        cycle = session.get(Cycle, cycle_id)
        if cycle is None or not cycle.calibration_enabled or not cycle.calibrator_id:
            continue
        # Two workers completing the last evaluations at once would each count the
        # other's as not there yet, and neither would open the pool. The cycle's row
        # lock makes the second count after the first commits (on SQLite the one
        # writer already does).
        session.execute(select(CYCLE.c.id).where(CYCLE.c.id == cycle_id).with_for_update())
        before, waiting = counts(session, cycle_id)
        if before or not waiting or pending_timers(session, cycle_id):
            continue
        rules = svc.rules.get(session, cycle_id)
        people = load_people(session, [cycle.calibrator_id])
        # The decision is the effects core's, so `kpi cycle check` predicts it.
        opening = effects.pool_opening(rules, now, cycle.calibrator_id, people)
        window = opening.window
        session.execute(update(EVALUATION).where(
            EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.state == State.CALIBRATION.value
        ).values(phase_opens_at=window.opens_at, due_at=window.due_at))
        session.execute(insert(DEADLINE), list(opening.timers))
        # Whoever calibrates an evaluation instead of the calibrator (a conflict of
        # interest) is told too; the pool's reminders stay the calibrator's.
        takers = _takers(session, cycle_id) - {cycle.calibrator_id}
        people.update(load_people(session, takers))
        sends = [*opening.sends, *(send for taker in sorted(takers) for send in
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
                             "evaluations": waiting, "due_at": window.due_at.isoformat(),
                             "cycle_timezone": rules.tz_name,
                             "state": State.CALIBRATION.value},
                    now=now, evaluation_id=None, available_at=send.at,
                    link_expires_at=window.due_at, cycle_tz=rules.tz_name))
    return mail
