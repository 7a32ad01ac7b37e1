"""One row per evaluation: the score breakdown, the class, the calibration moves and
their reasons, the appeal and its outcome, the flags. Streamed in pages of ``PAGE``
(ordered by unit, then reviewee) so the writers never hold a whole cycle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import SubmissionKind
from workflow.reports.facts import FLAG_NAMES, cycle_or_fail
from workflow.reports.stamp import BreakdownLine, read_stamp
from workflow.scoring.display import ShownScore, shown_stamp
from workflow.scoring.model import Regime
from workflow.service.core import Service
from workflow.service.year_end_standing import MonthsShort, from_stamp, not_classified
from workflow.store.tables import EVALUATION, MOVE, PERSON, SUBMISSION, UNIT

PAGE = 1000


@dataclass(frozen=True)
class Move:
    from_class: str
    to_class: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Appeal:
    lodged_at: datetime
    reasons: str
    decision: str | None  # uphold_score | revise_score; None while pending
    decision_reason: str | None
    reviewer_id: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class EvaluationRow:
    evaluation_id: int
    reviewee_id: str
    reviewee_name: str
    unit_id: str
    unit_name: str
    position_group: str
    task_group: str
    is_leader: bool
    supervisor_id: str | None
    scored_by: str | None
    state: str
    score: Decimal | None
    score_class: str | None
    final_class: str | None
    scored_at: datetime | None
    framework: str
    breakdown: tuple[BreakdownLine, ...]
    forced_by: tuple[str, ...]
    moves: tuple[Move, ...]
    appeal: Appeal | None
    flags: dict[str, bool]
    shown: ShownScore | None = None  # the score as every surface shows it (display rule)
    # Fewer months than the regime's minimum for a year-end class (classified or not).
    year_end: MonthsShort | None = None

    def points(self, criterion: str) -> Decimal | None:
        return next((b.points for b in self.breakdown if b.criterion == criterion), None)

    @property
    def shown_score(self) -> Decimal | None:
        """The total as shown (the regime's display rule), None when not scored."""
        return None if self.shown is None else self.shown.total

    def shown_points(self, criterion: str) -> Decimal | None:
        """A criterion's points as shown: adding up to the shown total, as on the pages."""
        return None if self.shown is None else self.shown.points.get(criterion)


def criteria_of(svc: Service, session: Session, cycle_id: str, locale: str = "en"
                ) -> list[tuple[str, str]]:
    """(criterion id, label in ``locale``) of the cycle's frameworks, in framework order."""
    rules = svc.rules.get(session, cycle_id)
    seen: dict[str, str] = {}
    for fw_id in rules.config.frameworks:
        for fw in rules.frameworks.values():
            if fw.id == fw_id:
                for c in fw.criteria:
                    seen.setdefault(c.id, c.label.vi if locale == "vi" else c.label.en)
    return list(seen.items())


def moves_and_appeals(session: Session, ids: Sequence[int]
            ) -> tuple[dict[int, list[Move]], dict[int, Appeal]]:
    moves: dict[int, list[Move]] = {}
    for m in session.execute(select(MOVE).where(MOVE.c.evaluation_id.in_(ids))
                             .order_by(MOVE.c.id)):
        moves.setdefault(m.evaluation_id, []).append(
            Move(m.from_class, m.to_class, m.reason, m.moved_by, m.moved_at))
    lodged: dict[int, Any] = {}
    decided: dict[int, Any] = {}
    for s in session.execute(
            select(SUBMISSION.c.evaluation_id, SUBMISSION.c.kind, SUBMISSION.c.payload,
                   SUBMISSION.c.author_id, SUBMISSION.c.submitted_at)
            .where(SUBMISSION.c.evaluation_id.in_(ids),
                   SUBMISSION.c.kind.in_([SubmissionKind.APPEAL.value,
                                          SubmissionKind.APPEAL_DECISION.value]))
            .order_by(SUBMISSION.c.id)):
        (lodged if s.kind == SubmissionKind.APPEAL.value else decided)[s.evaluation_id] = s
    appeals = {}
    for eid, a in lodged.items():
        d = decided.get(eid)
        appeals[eid] = Appeal(
            a.submitted_at, str(a.payload.get("reasons", "")),
            str(d.payload.get("decision")) if d else None,
            str(d.payload.get("reason", "")) if d else None,
            d.author_id if d else None, d.submitted_at if d else None)
    return moves, appeals


def evaluation_rows(svc: Service, cycle_id: str, session: Session) -> Iterator[EvaluationRow]:
    """Every evaluation of the cycle (cancelled ones too), by unit and reviewee."""
    cycle_or_fail(session, cycle_id)
    regime = svc.rules.get(session, cycle_id).regime
    short = not_classified(svc, session, cycle_id)  # {} unless a year-end cycle
    # One ordered query, read in pages of PAGE as it streams: a page per query (keyset on
    # unit and reviewee) sorted the whole cycle again for each page, no index having that
    # order (a hundred sorts of 100,000 rows at national scale).
    stmt = (select(EVALUATION, PERSON.c.full_name.label("reviewee_name"),
                   UNIT.c.name.label("unit_name"))
            .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
            .outerjoin(UNIT, UNIT.c.id == EVALUATION.c.unit_id)
            .where(EVALUATION.c.cycle_id == cycle_id)
            .order_by(EVALUATION.c.unit_id, EVALUATION.c.reviewee_id)
            .execution_options(yield_per=PAGE))
    with session.execute(stmt) as result:  # closed even when the caller stops early
        for rows in result.partitions():
            page = [r._mapping for r in rows]
            moves, appeals = moves_and_appeals(session, [r["id"] for r in page])
            for r in page:
                yield _row(r, moves, appeals, regime, short)


def _row(r: Any, moves: dict[int, list[Move]], appeals: dict[int, Appeal], regime: Regime,
         short: dict[str, MonthsShort] | None = None) -> EvaluationRow:
    stamp = read_stamp(r["score_stamp"])
    return EvaluationRow(
        r["id"], r["reviewee_id"], r["reviewee_name"], r["unit_id"],
        r["unit_name"] or r["unit_id"], r["position_group"], r["task_group"],
        bool(r["is_leader"]), r["supervisor_id"], r["scored_by"], r["state"],
        None if r["score"] is None else Decimal(r["score"]), r["score_class"],
        r["final_class"], r["scored_at"], stamp.framework, stamp.breakdown,
        stamp.forced_by, tuple(moves.get(r["id"], ())), appeals.get(r["id"]),
        {f: bool(r[f]) for f in FLAG_NAMES},
        None if r["score"] is None else shown_stamp(r["score"], r["score_stamp"], regime),
        from_stamp(r["score_stamp"]) if r["score"] is not None
        else (short or {}).get(r["reviewee_id"]))


def local(value: datetime | None, tz: str) -> datetime | None:
    """An instant as the cycle's local wall time, without offset (spreadsheets have none)."""
    return None if value is None else value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
