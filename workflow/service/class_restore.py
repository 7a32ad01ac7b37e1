"""An appeal reviewer restores the class calibration moved (upholding the score).

Decree 335 Art 20(5): the quota binds the pool, and an appeal does not lift it. The
class goes back to the one the score gives only while the approved calibration's
quota still holds with it; otherwise the reviewer is told which pools have no room
left. The restore is on the record as the appeal decision (``restore_class`` in its
payload, vouched by its audit row); no move row is written, since the class is the
score's own again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from workflow.errors import RestoreBreaksQuota, RestoreRefused
from workflow.service.core import Snapshot
from workflow.service.quota_guard import full_pools
from workflow.store.tables import MOVE


def restore_values(session: Session, snap: Snapshot) -> dict[str, object]:
    """The class an upheld appeal restores, checked against the approved quota.

    Raises ``RestoreRefused`` when calibration did not move the class, and
    ``RestoreBreaksQuota`` naming the pools that have no room for one more."""
    row = snap.row
    quota = snap.rules.regime.quota
    move = session.execute(select(MOVE.c.to_class).where(MOVE.c.evaluation_id == snap.id)
                           .order_by(MOVE.c.id.desc()).limit(1)).first()
    if (quota is None or move is None or row.score_class != quota.limited_class
            or row.final_class != move.to_class or row.final_class == row.score_class):
        raise RestoreRefused(snap.id)
    pools = full_pools(session, snap, quota.limited_class)
    if pools:
        raise RestoreBreaksQuota(snap.id, pools, snap.rules.regime.band(quota.limited_class)
                                 .label)
    return {"final_class": quota.limited_class}
