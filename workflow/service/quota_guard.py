"""Keeping an approved calibration's quota: no class change after it may break a pool.

Once a pool's calibration is approved its evaluations are past calibration (appeal
window, appeal review, finalised). A score can still change there: an appeal is
revised, a leader's unit results are recomputed when someone they manage changes
class. If the new score earns the quota's limited class (excellent) and the pool
has no room left for one more, the class is the one calibration moves to (well
completed), with that on the record; the score itself is never changed. Before
approval nothing is capped: the calibrator sees the meter and decides.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from workflow.domain import State
from workflow.scoring.quota import meters_from_counts, pool_names
from workflow.service.core import Snapshot
from workflow.store.tables import EVALUATION

AFTER_CALIBRATION = frozenset({State.APPEAL_WINDOW, State.APPEAL_REVIEW, State.FINALISED})


def full_pools(session: Session, snap: Snapshot, class_id: str) -> list[str]:
    """The pools that would break if ``snap`` held ``class_id`` after an approved calibration."""
    rules = snap.rules
    quota = rules.regime.quota
    if (quota is None or class_id != quota.limited_class or snap.state not in AFTER_CALIBRATION
            or not rules.config.enabled(State.CALIBRATION)):
        return []
    counts: dict[tuple[str, str], int] = {}
    for task_group, final_class, n in session.execute(
            select(EVALUATION.c.task_group, EVALUATION.c.final_class, func.count())
            .where(EVALUATION.c.cycle_id == snap.row.cycle_id,
                   EVALUATION.c.state != State.CANCELLED.value,
                   EVALUATION.c.id != snap.id)
            .group_by(EVALUATION.c.task_group, EVALUATION.c.final_class)):
        key = (task_group, final_class or "unscored")
        counts[key] = counts.get(key, 0) + n
    mine = (snap.row.task_group, class_id)
    counts[mine] = counts.get(mine, 0) + 1
    own = set(pool_names(quota, snap.row.task_group))
    return [m.pool for m in meters_from_counts(quota, counts, rules.config.calibration
                                               .exception_ratio)
            if m.breaks and m.pool in own]
