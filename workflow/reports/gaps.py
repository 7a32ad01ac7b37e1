"""Self-assessment and peer input against the supervisor's score, per evaluation.

Neither the self-assessed total nor the peers' points are stored as figures: they
are recomputed from the submissions with the cycle's own scoring rules
(``workflow.scoring.score``), each source alone, so that the supervisor's total
and the reviewee's proposal are computed exactly the same way. Evaluations are
streamed in batches of ``BATCH`` and only the sums per supervisor and the large
gaps are kept: memory stays flat however big the cycle.

The supervisor's total is the stored score itself where the stamp says it is the same
computation (``stamped_supervisor_total``): most evaluations of a cycle, and half of the
scoring work at national scale.

Peers are never named here: their submissions are read without their authors,
and their points are used only where at least the quorum answered (fewer answers
are withheld from everyone, as in scoring).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import SubmissionKind
from workflow.reports.facts import NOT_CANCELLED, SCORED, cycle_or_fail
from workflow.scoring import ScoringInputs
from workflow.scoring.compute import Subordinate, to_decimal
from workflow.scoring.fast import exact_total
from workflow.scoring.model import CriterionKind, Framework, Source
from workflow.service.core import Service, load_snapshot
from workflow.service.rules import CycleRules
from workflow.service.scoring_inputs import source_input, subordinates_of
from workflow.store.tables import EVALUATION, SUBMISSION

BATCH = 1000
ZERO = Decimal(0)


@dataclass(frozen=True)
class SourceTotals:
    """One evaluation's totals by source; None where that source gave nothing usable."""

    evaluation_id: int
    reviewee_id: str
    unit_id: str
    scorer_id: str
    supervisor_total: Decimal
    self_total: Decimal | None
    peer_points: Decimal | None  # mean of the peers' points on the peer-rated criteria
    supervisor_peer_points: Decimal | None  # the supervisor's points on the same criteria
    peer_max: Decimal | None

    @property
    def self_gap(self) -> Decimal | None:
        return None if self.self_total is None else self.self_total - self.supervisor_total

    @property
    def peer_gap(self) -> Decimal | None:
        if self.peer_points is None or self.supervisor_peer_points is None:
            return None
        return self.peer_points - self.supervisor_peer_points


@dataclass
class GapSums:
    """Per supervisor: sums of the paired totals (means come from these)."""

    scorer_id: str
    self_n: int = 0
    self_sum: Decimal = ZERO
    supervisor_sum_with_self: Decimal = ZERO
    peer_n: int = 0
    peer_sum: Decimal = ZERO
    supervisor_sum_with_peer: Decimal = ZERO
    peer_max: Decimal | None = None

    def add(self, t: SourceTotals) -> None:
        if t.self_total is not None:
            self.self_n += 1
            self.self_sum += t.self_total
            self.supervisor_sum_with_self += t.supervisor_total
        if t.peer_points is not None and t.supervisor_peer_points is not None:
            self.peer_n += 1
            self.peer_sum += t.peer_points
            self.supervisor_sum_with_peer += t.supervisor_peer_points
            self.peer_max = t.peer_max

    @property
    def self_mean(self) -> Decimal | None:
        return self.self_sum / self.self_n if self.self_n else None

    @property
    def supervisor_mean_with_self(self) -> Decimal | None:
        return self.supervisor_sum_with_self / self.self_n if self.self_n else None

    @property
    def peer_mean(self) -> Decimal | None:
        return self.peer_sum / self.peer_n if self.peer_n else None

    @property
    def supervisor_mean_with_peer(self) -> Decimal | None:
        return self.supervisor_sum_with_peer / self.peer_n if self.peer_n else None


@dataclass
class Gaps:
    """What the streamed comparison keeps: sums per supervisor and the large gaps."""

    by_scorer: dict[str, GapSums] = field(default_factory=dict)
    large_self: list[SourceTotals] = field(default_factory=list)
    large_peer: list[SourceTotals] = field(default_factory=list)
    compared: int = 0


def single_source(rules: CycleRules, framework: Framework, payload: Mapping[str, Any],
                   subordinates: Sequence[Subordinate] | None, is_leader: bool) -> Decimal:
    """The total ``payload`` alone earns under the cycle's rules (before any override):
    the exact total alone (``scoring.fast``), not the breakdown nobody reads here."""
    inputs = ScoringInputs(supervisor=source_input(payload), subordinates=subordinates,
                           is_leader=is_leader)
    return to_decimal(exact_total(rules.regime, framework, inputs))


# Criteria whose points come from elsewhere than the payload (the team, the periods):
# a total with one of them is not the supervisor's payload alone.
_NOT_FROM_PAYLOAD = (CriterionKind.UNIT_RESULTS, CriterionKind.PERIOD_MEAN)


def stamped_supervisor_total(rules: CycleRules, framework: Framework,
                             stamp: Mapping[str, Any] | None, framework_hash: str,
                             is_leader: bool, revised: bool) -> Decimal | None:
    """The total the supervisor's payload alone earns, read from the score's stamp when
    the stored score is exactly that computation, else None (compute it).

    It is when only the supervisor's points count (the self-assessment and the peers
    weigh nothing in the regime), nothing but the payload feeds the framework (no
    team, no periods: not a leader), the stamp is of this framework and regime, and no
    appeal reviewer replaced the score."""
    if stamp is None or is_leader or revised or "exact_total" not in stamp:
        return None
    weights = rules.regime.source_weights
    if any(weights.get(s, 0) for s in Source if s is not Source.SUPERVISOR):
        return None
    if any(c.kind in _NOT_FROM_PAYLOAD for c in framework.criteria):
        return None
    if (stamp.get("framework_hash") != framework_hash
            or stamp.get("regime_id") != rules.regime.id
            or str(stamp.get("regime_version")) != str(rules.regime.version)):
        return None
    return to_decimal(Fraction(str(stamp["exact_total"])))


def _peer_rated(framework: Framework) -> list[str]:
    return [c.id for c in framework.criteria if c.kind is CriterionKind.RUBRIC and c.peer_rated]


def _sum_points(payload: Mapping[str, Any], criteria: Sequence[str]) -> Decimal | None:
    points = source_input(payload).points
    if not all(c in points for c in criteria):
        return None
    return sum((points[c] for c in criteria), ZERO)


def source_totals(svc: Service, cycle_id: str, session: Session) -> Iterator[SourceTotals]:
    """Every scored evaluation of the cycle with its totals by source, in batches."""
    cycle_or_fail(session, cycle_id)
    rules = svc.rules.get(session, cycle_id)
    quorum = rules.min_peer_responses
    last_id = 0
    while True:
        rows = session.execute(
            select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.unit_id,
                   EVALUATION.c.scored_by, EVALUATION.c.framework_hash, EVALUATION.c.is_leader,
                   EVALUATION.c.score_stamp)
            .where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED, SCORED,
                   EVALUATION.c.id > last_id)
            .order_by(EVALUATION.c.id).limit(BATCH)).all()
        if not rows:
            return
        last_id = rows[-1].id
        subs: dict[int, dict[str, list[dict[str, Any]]]] = {r.id: {} for r in rows}
        for s in session.execute(
                select(SUBMISSION.c.evaluation_id, SUBMISSION.c.kind, SUBMISSION.c.payload)
                .where(SUBMISSION.c.evaluation_id.in_(list(subs)),
                       SUBMISSION.c.kind.in_([SubmissionKind.SELF_ASSESSMENT.value,
                                              SubmissionKind.SUPERVISOR_SCORE.value,
                                              SubmissionKind.PEER_INPUT.value,
                                              SubmissionKind.APPEAL_DECISION.value]))
                .order_by(SUBMISSION.c.id)):
            subs[s.evaluation_id].setdefault(s.kind, []).append(dict(s.payload))
        for r in rows:
            framework = rules.frameworks.get(r.framework_hash)
            given = subs[r.id]
            scores = given.get(SubmissionKind.SUPERVISOR_SCORE.value)
            if framework is None or not scores or not r.scored_by:
                continue
            if framework.has(CriterionKind.PERIOD_MEAN):
                # A year end's points are the periods' mean, which nobody gives: there
                # is no self-assessed or supervisor's total to compare (and computing
                # one without the periods refused the whole report).
                continue
            # Leaders are few: their team is read as scoring reads it (the subtree).
            team = (subordinates_of(session, load_snapshot(svc, session, r.id, lock=False))
                    if r.is_leader else None)
            supervisor = scores[-1]
            selfs = given.get(SubmissionKind.SELF_ASSESSMENT.value)
            peers = given.get(SubmissionKind.PEER_INPUT.value, [])
            criteria = _peer_rated(framework)
            peer_points = supervisor_peer = peer_max = None
            if criteria and len(peers) >= quorum:
                sums = [p for p in (_sum_points(x, criteria) for x in peers) if p is not None]
                if len(sums) >= quorum:
                    peer_points = sum(sums, ZERO) / len(sums)
                    supervisor_peer = _sum_points(supervisor, criteria)
                    peer_max = sum((framework.criterion(c).max for c in criteria), ZERO)
            revised = any(d.get("decision") == "revise_score"
                          for d in given.get(SubmissionKind.APPEAL_DECISION.value, []))
            supervisor_total = stamped_supervisor_total(
                rules, framework, r.score_stamp, r.framework_hash, bool(r.is_leader), revised)
            yield SourceTotals(
                r.id, r.reviewee_id, r.unit_id, r.scored_by,
                supervisor_total if supervisor_total is not None else
                single_source(rules, framework, supervisor, team, bool(r.is_leader)),
                single_source(rules, framework, selfs[-1], team, bool(r.is_leader))
                if selfs else None,
                peer_points, supervisor_peer, peer_max)


def gaps(svc: Service, cycle_id: str, *, self_gap_points: Decimal,
         peer_gap_share: Decimal, session: Session | None = None) -> Gaps:
    """Sums per supervisor and the evaluations whose gap reaches the thresholds."""
    if session is None:
        with svc.store.read() as s:
            return gaps(svc, cycle_id, self_gap_points=self_gap_points,
                        peer_gap_share=peer_gap_share, session=s)
    out = Gaps()
    for t in source_totals(svc, cycle_id, session):
        out.compared += 1
        out.by_scorer.setdefault(t.scorer_id, GapSums(t.scorer_id)).add(t)
        if t.self_gap is not None and abs(t.self_gap) >= self_gap_points:
            out.large_self.append(t)
        peer_gap = t.peer_gap
        if peer_gap is not None and t.peer_max and abs(peer_gap) >= peer_gap_share * t.peer_max:
            out.large_peer.append(t)
    return out
