"""The figures of one cycle, aggregated in the database.

Every figure here is a GROUP BY query: a cycle can hold 100,000 evaluations and
none of them is loaded into Python to count it. What cannot be counted in SQL (the
self-assessed total, the peers' points: they are recomputed from the submissions)
lives in ``workflow.reports.gaps`` and is streamed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, select
from sqlmodel import Session

from workflow.clock import utc_now
from workflow.domain import State, TimerKind, TimerStatus, Trigger
from workflow.errors import CycleNotFound
from workflow.scoring.model import Quota, Regime
from workflow.scoring.quota import PoolMeter, meters_from_counts
from workflow.service.core import Service
from workflow.service.rules import CycleRules
from workflow.store.tables import (
    AUDIT,
    DEADLINE,
    EVALUATION,
    MOVE,
    PERSON,
    UNIT,
    Cycle,
)

CLASS = func.coalesce(EVALUATION.c.final_class, EVALUATION.c.score_class)
SCORE = cast(EVALUATION.c.score, Float)
NOT_CANCELLED = EVALUATION.c.state != State.CANCELLED.value
SCORED = EVALUATION.c.score.is_not(None)
HISTOGRAM_BINS = 20
# Phases whose lateness means something: letting the appeal window close is
# acceptance, not lateness, so it has no on-time rate.
TIMED_PHASES = (State.SELF_ASSESSMENT, State.PEER_INPUT, State.SUPERVISOR_SCORING,
                State.CALIBRATION, State.APPEAL_REVIEW)


@dataclass(frozen=True)
class ClassInfo:
    id: str
    label_en: str
    label_vi: str
    min: Decimal | None  # None: a class only a rule gives (no band of the score)


@dataclass(frozen=True)
class Spread:
    """Count, sum and sum of squares of some scores: enough for mean and deviation."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def sd(self) -> float | None:
        """Sample standard deviation (n - 1), None below two scores."""
        if self.n < 2:
            return None
        variance = (self.total_sq - self.total * self.total / self.n) / (self.n - 1)
        return math.sqrt(max(variance, 0.0))

    def minus(self, other: Spread) -> Spread:
        return Spread(self.n - other.n, self.total - other.total,
                      self.total_sq - other.total_sq)


@dataclass(frozen=True)
class UnitFigures:
    unit_id: str
    name: str
    evaluations: int  # not cancelled
    classes: dict[str, int]  # class after calibration -> people
    scores: Spread
    low: float | None
    high: float | None

    @property
    def scored(self) -> int:
        return sum(self.classes.values())


@dataclass(frozen=True)
class ScorerFigures:
    """What one scorer gave: every score, and the ones still theirs (not revised)."""

    scorer_id: str
    name: str
    scored: int
    own: Spread  # scores not revised on appeal
    classes: dict[str, int]


@dataclass(frozen=True)
class AppealFigures:
    scorer_id: str
    name: str
    scored: int
    lodged: int
    upheld: int
    revised: int

    @property
    def pending(self) -> int:
        return max(0, self.lodged - self.upheld - self.revised)

    @property
    def rate(self) -> float | None:
        return self.lodged / self.scored if self.scored else None


@dataclass(frozen=True)
class PhaseTimeliness:
    phase: str
    on_time: int
    late: int
    still_open: int

    @property
    def closed(self) -> int:
        return self.on_time + self.late

    @property
    def rate(self) -> float | None:
        return self.on_time / self.closed if self.closed else None


@dataclass(frozen=True)
class HistogramBin:
    low: Decimal
    high: Decimal  # exclusive, except the last bin which holds the top of the scale
    count: int


@dataclass
class CycleFacts:
    """Everything the report shows about one cycle, counted in SQL."""

    cycle_id: str
    name: str
    period_kind: str
    period_start: date
    period_end: date
    timezone: str
    regime: Regime
    classes: list[ClassInfo]
    states: dict[str, int]
    units: list[UnitFigures]
    scorers: list[ScorerFigures]
    agency: Spread  # all scores not revised on appeal
    histogram: list[HistogramBin]
    meters: list[PoolMeter]
    appeals: list[AppealFigures]
    timeliness: list[PhaseTimeliness]
    flags: dict[str, int]
    calibration_moves: int
    names: dict[str, str] = field(default_factory=dict)

    @property
    def evaluations(self) -> int:
        return sum(n for s, n in self.states.items() if s != State.CANCELLED.value)

    @property
    def scored(self) -> int:
        return sum(u.scored for u in self.units)

    def label(self, class_id: str, locale: str = "en") -> str:
        """A class's name as the regime words it, in ``locale``."""
        return next(((c.label_vi if locale == "vi" else c.label_en) for c in self.classes
                     if c.id == class_id), class_id)

    def class_totals(self) -> dict[str, int]:
        out = {c.id: 0 for c in self.classes}
        for u in self.units:
            for k, n in u.classes.items():
                out[k] = out.get(k, 0) + n
        return out


def cycle_or_fail(session: Session, cycle_id: str) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise CycleNotFound(cycle_id)
    return cycle


def class_infos(regime: Regime) -> list[ClassInfo]:
    return [ClassInfo(c.id, c.label.en, c.label.vi, c.min) for c in regime.classes]


def cycle_facts(svc: Service, cycle_id: str, session: Session | None = None, *,
                now: datetime | None = None) -> CycleFacts:
    """The cycle's figures: distributions, histogram, scorers, appeals, timeliness (the
    deadlines passed by ``now``, default the clock's now, counted late)."""
    if session is None:
        with svc.store.read() as s:
            return cycle_facts(svc, cycle_id, s, now=now)
    cycle = cycle_or_fail(session, cycle_id)
    rules = svc.rules.get(session, cycle_id)
    in_cycle = EVALUATION.c.cycle_id == cycle_id
    states = {str(s): int(n) for s, n in session.execute(
        select(EVALUATION.c.state, func.count()).where(in_cycle)
        .group_by(EVALUATION.c.state)).all()}
    units = _units(session, cycle_id)
    scorers, agency = _scorers(session, cycle_id)
    names = names_of(session, {s.scorer_id for s in scorers})
    scorers = [ScorerFigures(s.scorer_id, names.get(s.scorer_id, s.scorer_id), s.scored, s.own,
                             s.classes) for s in scorers]
    flags = _flags(session, cycle_id)
    # The moves that stand: a move the calibrator undid (a row back up to the limited
    # class, service.calibration_moves) takes its move out of the count.
    quota = rules.regime.quota
    undone = case((MOVE.c.to_class == quota.limited_class, -1), else_=1) if quota else 1
    moves = int(session.execute(select(func.coalesce(func.sum(undone), 0))
                                .where(MOVE.c.cycle_id == cycle_id)).scalar_one())
    return CycleFacts(
        cycle_id=cycle.id, name=cycle.name, period_kind=cycle.period_kind,
        period_start=cycle.period_start, period_end=cycle.period_end, timezone=cycle.timezone,
        regime=rules.regime, classes=class_infos(rules.regime), states=states, units=units,
        scorers=scorers, agency=agency, histogram=_histogram(session, cycle_id, rules.regime),
        meters=_meters(session, cycle_id, rules), appeals=_appeals(session, cycle_id, scorers),
        timeliness=timeliness(session, cycle_id, now or utc_now()), flags=flags,
        calibration_moves=moves, names=names)


def names_of(session: Session, ids: set[str]) -> dict[str, str]:
    wanted = sorted(i for i in ids if i)
    out: dict[str, str] = {}
    for start in range(0, len(wanted), 900):
        out.update({str(k): str(v) for k, v in session.execute(
            select(PERSON.c.id, PERSON.c.full_name)
            .where(PERSON.c.id.in_(wanted[start:start + 900]))).all()})
    return out


def _units(session: Session, cycle_id: str) -> list[UnitFigures]:
    base = (EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED)
    names = {str(k): str(v) for k, v in session.execute(select(UNIT.c.id, UNIT.c.name)).all()}
    classes: dict[str, dict[str, int]] = {}
    for unit_id, klass, n in session.execute(
            select(EVALUATION.c.unit_id, CLASS, func.count()).where(*base, SCORED)
            .group_by(EVALUATION.c.unit_id, CLASS)):
        classes.setdefault(unit_id, {})[klass] = int(n)
    out = []
    for r in session.execute(
            select(EVALUATION.c.unit_id, func.count().label("n"),
                   func.count(EVALUATION.c.score).label("scored"),
                   func.sum(SCORE).label("total"), func.sum(SCORE * SCORE).label("sq"),
                   func.min(SCORE).label("low"), func.max(SCORE).label("high"))
            .where(*base).group_by(EVALUATION.c.unit_id).order_by(EVALUATION.c.unit_id)):
        out.append(UnitFigures(
            r.unit_id, names.get(r.unit_id, r.unit_id), int(r.n), classes.get(r.unit_id, {}),
            Spread(int(r.scored), float(r.total or 0), float(r.sq or 0)),
            None if r.low is None else float(r.low), None if r.high is None else float(r.high)))
    return out


def revised_on_appeal() -> Any:
    """True for an evaluation whose score an appeal reviewer replaced."""
    return (select(AUDIT.c.seq).where(AUDIT.c.evaluation_id == EVALUATION.c.id,
                                      AUDIT.c.trigger == Trigger.REVISE_SCORE.value)
            .exists())


def _scorers(session: Session, cycle_id: str) -> tuple[list[ScorerFigures], Spread]:
    base = (EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED, SCORED,
            EVALUATION.c.scored_by.is_not(None))
    own = ~revised_on_appeal()
    classes: dict[str, dict[str, int]] = {}
    for scorer, klass, n in session.execute(
            select(EVALUATION.c.scored_by, CLASS, func.count()).where(*base)
            .group_by(EVALUATION.c.scored_by, CLASS)):
        classes.setdefault(scorer, {})[klass] = int(n)
    out = []
    agency = Spread()
    for r in session.execute(
            select(EVALUATION.c.scored_by, func.count().label("scored"),
                   func.sum(case((own, 1), else_=0)).label("n"),
                   func.sum(case((own, SCORE), else_=0.0)).label("total"),
                   func.sum(case((own, SCORE * SCORE), else_=0.0)).label("sq"))
            .where(*base).group_by(EVALUATION.c.scored_by).order_by(EVALUATION.c.scored_by)):
        spread = Spread(int(r.n or 0), float(r.total or 0), float(r.sq or 0))
        agency = Spread(agency.n + spread.n, agency.total + spread.total,
                        agency.total_sq + spread.total_sq)
        out.append(ScorerFigures(r.scored_by, r.scored_by, int(r.scored), spread,
                                 classes.get(r.scored_by, {})))
    return out, agency


def histogram_edges(regime: Regime, bins: int = HISTOGRAM_BINS) -> list[Decimal]:
    """Lower bounds of equal bins over the scale (5 points wide on a scale of 100)."""
    width = regime.scale / bins
    return [width * i for i in range(bins)]


def _histogram(session: Session, cycle_id: str, regime: Regime) -> list[HistogramBin]:
    edges = histogram_edges(regime)
    index = case(*[(float(low) <= SCORE, i) for i, low in reversed(list(enumerate(edges)))],
                 else_=0)
    counts = {int(i): int(n) for i, n in session.execute(
        select(index, func.count()).where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED,
                                          SCORED).group_by(index)).all()}
    highs = [*edges[1:], regime.scale]
    return [HistogramBin(low, high, counts.get(i, 0))
            for i, (low, high) in enumerate(zip(edges, highs, strict=True))]


def pool_meters(quota: Quota, by_task_group: dict[str, dict[str, int]],
                ratio: Decimal | None) -> list[PoolMeter]:
    """The quota meter of each pool, from class counts per task group (pure): the
    calibration page's own meters (``scoring.quota``), small-pool rule included."""
    return meters_from_counts(quota, {(group, k): n for group, counts in by_task_group.items()
                                      for k, n in counts.items()}, ratio)


def _meters(session: Session, cycle_id: str, rules: CycleRules) -> list[PoolMeter]:
    quota = rules.regime.quota
    if quota is None:
        return []
    by_group: dict[str, dict[str, int]] = {}
    klass = func.coalesce(CLASS, "unscored")
    for group, k, n in session.execute(
            select(EVALUATION.c.task_group, klass, func.count())
            .where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED)
            .group_by(EVALUATION.c.task_group, klass)):
        by_group.setdefault(group, {})[k] = int(n)
    return pool_meters(quota, by_group, rules.config.calibration.exception_ratio)


def _appeals(session: Session, cycle_id: str, scorers: list[ScorerFigures]
             ) -> list[AppealFigures]:
    counts: dict[str, dict[str, int]] = {}
    for scorer, trigger, n in session.execute(
            select(EVALUATION.c.scored_by, AUDIT.c.trigger, func.count())
            .select_from(AUDIT.join(EVALUATION, EVALUATION.c.id == AUDIT.c.evaluation_id))
            .where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED,
                   AUDIT.c.trigger.in_([Trigger.LODGE_APPEAL.value, Trigger.UPHOLD_SCORE.value,
                                        Trigger.REVISE_SCORE.value]))
            .group_by(EVALUATION.c.scored_by, AUDIT.c.trigger)):
        counts.setdefault(scorer, {})[trigger] = int(n)
    return [AppealFigures(s.scorer_id, s.name, s.scored,
                          counts.get(s.scorer_id, {}).get(Trigger.LODGE_APPEAL.value, 0),
                          counts.get(s.scorer_id, {}).get(Trigger.UPHOLD_SCORE.value, 0),
                          counts.get(s.scorer_id, {}).get(Trigger.REVISE_SCORE.value, 0))
            for s in scorers]


def timeliness(session: Session, cycle_id: str, now: datetime) -> list[PhaseTimeliness]:
    """Per phase: how many were done before their deadline, after it, or are still open.

    Each passage through a phase leaves a ``due`` deadline row. The last such row of
    an evaluation and phase holds the deadline in force (an extension replaces the
    row); it was cancelled when the evaluation left the phase (on time if that was
    before the row's time), or fired because the deadline passed first (late). A row
    still pending whose time has passed by ``now`` is late too, whether or not the
    sweep has fired it yet: the figure depends on the time, not on when the sweep ran
    (and a kept report's state key names the last deadline passed). The calibration
    deadline is one row for the whole pool.
    """
    due = DEADLINE.c.kind == TimerKind.DUE.value
    per_evaluation = (
        select(func.max(DEADLINE.c.id))
        .select_from(DEADLINE.join(EVALUATION, EVALUATION.c.id == DEADLINE.c.evaluation_id))
        .where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED, due)
        .group_by(DEADLINE.c.evaluation_id, DEADLINE.c.phase))
    per_pool = (select(func.max(DEADLINE.c.id))
                .where(DEADLINE.c.cycle_id == cycle_id, DEADLINE.c.evaluation_id.is_(None), due)
                .group_by(DEADLINE.c.phase))
    outcome = case(
        (and_(DEADLINE.c.status == TimerStatus.PENDING.value, DEADLINE.c.fire_at > now),
         "open"),
        (DEADLINE.c.status == TimerStatus.PENDING.value, "late"),
        (and_(DEADLINE.c.status == TimerStatus.CANCELLED.value,
              DEADLINE.c.done_at <= DEADLINE.c.fire_at), "on_time"),
        else_="late")
    counts: dict[str, dict[str, int]] = {}
    for ids in (per_evaluation, per_pool):
        for phase, what, n in session.execute(
                select(DEADLINE.c.phase, outcome, func.count())
                .where(DEADLINE.c.id.in_(ids)).group_by(DEADLINE.c.phase, outcome)):
            target = counts.setdefault(phase, {})
            target[what] = target.get(what, 0) + int(n)
    return [PhaseTimeliness(p.value, counts.get(p.value, {}).get("on_time", 0),
                            counts.get(p.value, {}).get("late", 0),
                            counts.get(p.value, {}).get("open", 0)) for p in TIMED_PHASES]


FLAG_NAMES = ("self_assessment_missing", "peer_quorum_not_reached", "escalated", "extended",
              "reopened")


def _flags(session: Session, cycle_id: str) -> dict[str, int]:
    cols = [func.sum(case((EVALUATION.c[n].is_(True), 1), else_=0)) for n in FLAG_NAMES]
    row = session.execute(select(*cols).where(EVALUATION.c.cycle_id == cycle_id,
                                              NOT_CANCELLED)).one()
    return {n: int(v or 0) for n, v in zip(FLAG_NAMES, row, strict=True)}
