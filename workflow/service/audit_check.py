"""`kpi audit verify`: the chain, the data it vouches for, and an anchor kept elsewhere.

In order, the first problem wins and is named:

1. the chain itself (``audit.verify``): every row follows from the one before, with the
   key; a row changed, and the hashes after it recomputed without the key, is named;
2. an anchor, when given: the checkpoint the operator kept still holds;
3. every submission, calibration move and override is the one its audit row vouches
   for (``audit_seal``);
4. every stored score and class is the one recomputed from those vouched submissions
   with the stamped rules, and a class differs from the score's only by a vouched move.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import State
from workflow.progress import SILENT, Progress
from workflow.service.core import Service, load_snapshots
from workflow.service.scoring_inputs import compute, score_basis
from workflow.store import audit, audit_seal
from workflow.store.tables import AUDIT, EVALUATION, MOVE

CHUNK = 500


def verify(svc: Service, anchor: Mapping[str, Any] | None = None,
           progress: Progress = SILENT) -> audit.VerifyResult:
    """The whole check; ``VerifyResult.problem`` names the first row that fails it.
    ``progress`` hears of the chain's rows walked, then of the scores recomputed."""
    with svc.store.read() as session:
        chain = audit.verify(session, progress=progress)
        if not chain.ok:
            return chain

        def broken(seq: int | None, problem: str) -> audit.VerifyResult:
            return audit.VerifyResult(chain.rows, False, seq, problem, keyed=chain.keyed)

        if anchor is not None:
            found = audit_seal.check_anchor(session, anchor)
            if found is not None:
                return broken(found.seq, found.problem)
        found = audit_seal.first_unvouched(session)
        if found is not None:
            return broken(found.seq, found.problem)
        score = first_wrong_score(svc, session, progress)
        if score is not None:
            return broken(*score)
    return chain


def first_wrong_score(svc: Service, session: Session, progress: Progress = SILENT
                      ) -> tuple[int | None, str] | None:
    """The first scored evaluation whose stored score or class is not the recomputed one."""
    ids = [int(i) for i in session.execute(
        select(EVALUATION.c.id).where(EVALUATION.c.score.is_not(None))
        .order_by(EVALUATION.c.id)).scalars()]
    progress.start("scores", len(ids))
    stale = set(session.execute(select(AUDIT.c.evaluation_id).where(
        AUDIT.c.trigger == "unit_results_stale")).scalars())
    moved: dict[int, set[str]] = {}
    for r in session.execute(select(MOVE.c.evaluation_id, MOVE.c.to_class)):
        moved.setdefault(r.evaluation_id, set()).add(r.to_class)
    for start in range(0, len(ids), CHUNK):
        snaps = load_snapshots(svc, session, ids[start:start + CHUNK], lock=False)
        for snap in snaps.values():
            row = snap.row
            basis = score_basis(session, snap.id)
            if basis is None:
                return None, (f"evaluation {snap.id} has the score {row.score} but no "
                              "vouched score submission it could come from")
            result = compute(session, snap, basis)
            # A finalised leader whose unit changed afterwards keeps its score, on record.
            if snap.id in stale and snap.state is State.FINALISED:
                continue
            if row.score is None:  # read as scored above, in this transaction
                continue
            if Decimal(row.score) != result.total or row.score_class != result.class_id:
                return _last_score_seq(session, snap.id), (
                    f"evaluation {snap.id}: the stored score {row.score} "
                    f"({row.score_class}) is not the {result.total} ({result.class_id}) "
                    "recomputed from its vouched submissions (the score was edited)")
            final = row.final_class
            if final is not None and final != row.score_class \
                    and final not in moved.get(snap.id, set()):
                return _last_score_seq(session, snap.id), (
                    f"evaluation {snap.id}: its class {final} is neither the score's "
                    f"({row.score_class}) nor one a vouched calibration move gave it")
        progress.advance(len(snaps))
    progress.done()
    return None


def _last_score_seq(session: Session, evaluation_id: int) -> int | None:
    return session.execute(select(AUDIT.c.seq).where(
        AUDIT.c.evaluation_id == evaluation_id,
        AUDIT.c.trigger.in_(["submit_score", "revise_score", "record_override",
                             "recompute_unit_results"]))
        .order_by(AUDIT.c.seq.desc()).limit(1)).scalar()


def anchor_text(anchor: Mapping[str, Any]) -> str:
    """The checkpoint as the file the operator keeps."""
    return audit_seal.anchor_text(anchor)


def anchor(svc: Service, now: datetime) -> dict[str, Any]:
    """A signed checkpoint of the chain now (``audit_seal.make_anchor``)."""
    with svc.store.read() as session:
        return audit_seal.make_anchor(session, now)
