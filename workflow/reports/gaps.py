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


def stamp_may_give(rules: CycleRules, framework: Framework) -> bool:
    """Whether under these rules a stamp of this framework can be the supervisor's total:
    only the supervisor's points count (the self-assessment and the peers weigh nothing
    in the regime) and nothing but the payload feeds the framework (no team, no
    periods). The same for every evaluation of the framework: asked once per batch."""
    weights = rules.regime.source_weights
    if any(weights.get(s, 0) for s in Source if s is not Source.SUPERVISOR):
        return False
    return not any(c.kind in _NOT_FROM_PAYLOAD for c in framework.criteria)


def stamped_supervisor_total(rules: CycleRules, framework: Framework,
                             stamp: Mapping[str, Any] | None, framework_hash: str,
                             is_leader: bool, revised: bool, may: bool | None = None
                             ) -> Decimal | None:
    """The total the supervisor's payload alone earns, read from the score's stamp when
    the stored score is exactly that computation, else None (compute it).

    It is when only the supervisor's points count (the self-assessment and the peers
    weigh nothing in the regime), nothing but the payload feeds the framework (no
    team, no periods: not a leader), the stamp is of this framework and regime, and no
    appeal reviewer replaced the score. ``may``: ``stamp_may_give``, when known."""
    if stamp is None or is_leader or revised or "exact_total" not in stamp:
        return None
    if not (stamp_may_give(rules, framework) if may is None else may):
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


# What ``stamped_supervisor_total`` reads of a score's stamp, extracted by the database
# (json_extract, ->>): the stamp whole is 1.7 KB of JSON per evaluation, and decoding it
# was a fifth of the report page's first build at national scale (bench/RESULTS.md).
_STAMP_KEYS = ("exact_total", "framework_hash", "regime_id", "regime_version")


def _stamp_fields(row: Any) -> dict[str, str] | None:
    found = {k: str(v) for k, v in zip(_STAMP_KEYS, row[-len(_STAMP_KEYS):], strict=True)
             if v is not None}
    return found or None


def source_totals(svc: Service, cycle_id: str, session: Session) -> Iterator[SourceTotals]:
    """Every scored evaluation of the cycle with its totals by source, in batches."""
    cycle_or_fail(session, cycle_id)
    rules = svc.rules.get(session, cycle_id)
    quorum = rules.min_peer_responses
    stamp = [EVALUATION.c.score_stamp[k].as_string() for k in _STAMP_KEYS]
    # One ordered query read in batches as it streams. A query per batch (keyset on the
    # id) made SQLite walk the whole cycle through its (cycle_id, due_at) index for each
    # batch, then sort: a hundred walks of 100,000 rows, a third of the report page's
    # first build at national scale (bench/RESULTS.md, report-first-build-100000).
    stmt = (select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.unit_id,
                   EVALUATION.c.scored_by, EVALUATION.c.framework_hash, EVALUATION.c.is_leader,
                   *stamp)
            .where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED, SCORED)
            .order_by(EVALUATION.c.id).execution_options(yield_per=BATCH))
    with session.execute(stmt) as result:  # closed even when the caller stops early
        for page in result.partitions():
            yield from _batch(svc, session, rules, quorum, list(page))


def _batch(svc: Service, session: Session, rules: CycleRules, quorum: int, rows: list[Any]
           ) -> Iterator[SourceTotals]:
    """The totals of one batch of evaluations, their submissions read in three queries."""
    subs: dict[int, dict[str, list[dict[str, Any]]]] = {r.id: {} for r in rows}
    scored: dict[int, int] = {}  # evaluation -> its last supervisor_score submission
    for s in session.execute(
            select(SUBMISSION.c.evaluation_id, SUBMISSION.c.id)
            .where(SUBMISSION.c.evaluation_id.in_(list(subs)),
                   SUBMISSION.c.kind == SubmissionKind.SUPERVISOR_SCORE.value)
            .order_by(SUBMISSION.c.id)):
        scored[s.evaluation_id] = s.id
    for s in session.execute(
            select(SUBMISSION.c.evaluation_id, SUBMISSION.c.kind, SUBMISSION.c.payload)
            .where(SUBMISSION.c.evaluation_id.in_(list(subs)),
                   SUBMISSION.c.kind.in_([SubmissionKind.SELF_ASSESSMENT.value,
                                          SubmissionKind.PEER_INPUT.value,
                                          SubmissionKind.APPEAL_DECISION.value]))
            .order_by(SUBMISSION.c.id)):
        subs[s.evaluation_id].setdefault(s.kind, []).append(dict(s.payload))
    plans = []
    # What depends on the framework alone, once per framework (a batch has one or two).
    per_framework: dict[str, tuple[list[str], bool]] = {}
    for r in rows:
        framework = rules.frameworks.get(r.framework_hash)
        if framework is None or r.id not in scored or not r.scored_by:
            continue
        if framework.has(CriterionKind.PERIOD_MEAN):
            # A year end's points are the periods' mean, which nobody gives: there is no
            # self-assessed or supervisor's total to compare (and computing one without
            # the periods refused the whole report).
            continue
        if r.framework_hash not in per_framework:
            per_framework[r.framework_hash] = (_peer_rated(framework),
                                               stamp_may_give(rules, framework))
        criteria, may = per_framework[r.framework_hash]
        given = subs[r.id]
        peers = given.get(SubmissionKind.PEER_INPUT.value, [])
        revised = any(d.get("decision") == "revise_score"
                      for d in given.get(SubmissionKind.APPEAL_DECISION.value, []))
        stamped = stamped_supervisor_total(
            rules, framework, _stamp_fields(r), r.framework_hash, bool(r.is_leader),
            revised, may)
        with_peers = bool(criteria) and len(peers) >= quorum
        plans.append((r, framework, criteria, peers, stamped, with_peers))
    # The supervisor's payload only where it is read: a total the stamp does not
    # give, or the points beside the peers' (most evaluations need neither).
    wanted = [scored[p[0].id] for p in plans if p[4] is None or p[5]]
    payloads = {s.id: dict(s.payload) for s in session.execute(
        select(SUBMISSION.c.id, SUBMISSION.c.payload).where(SUBMISSION.c.id.in_(wanted)))
    } if wanted else {}
    for r, framework, criteria, peers, stamped, with_peers in plans:
        given = subs[r.id]
        supervisor = payloads.get(scored[r.id])
        # Leaders are few: their team is read as scoring reads it (the subtree).
        team = (subordinates_of(session, load_snapshot(svc, session, r.id, lock=False))
                if r.is_leader else None)
        selfs = given.get(SubmissionKind.SELF_ASSESSMENT.value)
        peer_points = supervisor_peer = peer_max = None
        if with_peers and supervisor is not None:
            sums = [p for p in (_sum_points(x, criteria) for x in peers) if p is not None]
            if len(sums) >= quorum:
                peer_points = sum(sums, ZERO) / len(sums)
                supervisor_peer = _sum_points(supervisor, criteria)
                peer_max = sum((framework.criterion(c).max for c in criteria), ZERO)
        if stamped is not None:
            supervisor_total = stamped
        else:
            assert supervisor is not None  # read above for every one without it
            supervisor_total = single_source(rules, framework, supervisor, team,
                                             bool(r.is_leader))
        yield SourceTotals(
            r.id, r.reviewee_id, r.unit_id, r.scored_by, supervisor_total,
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
