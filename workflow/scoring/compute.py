"""Computing a score and a class from the inputs of one evaluation. Pure.

The computation is exact: points are ``fractions.Fraction`` until they leave this
module, so a total that is mathematically 90 is never 89.999... and the class is
decided on the exact value. Outside, scores are ``Decimal`` (28 significant
digits, the same string every time), rounded half-up to two places only when
shown (``workflow.scoring.explain``).

The combination (DESIGN.md, "Scoring"):
- each rubric criterion is the weighted mean of the sources that gave it and carry
  a weight (the supervisor; the reviewee and the peers when the regime weighs them);
  a source nobody could give (self-assessment missing, peers below the quorum) is
  left out and the weights of the others renormalised, never counted as zero;
- a criterion nobody could give (no assigned items, nobody under a leader scored
  yet, no period worked) is left out of its group and the others are scaled up to
  the group's maximum; a group where nothing at all can be given cannot be scored
  (``ScoreNotComputable``): counting it as zero would be the very thing the rule
  forbids, and scaling the other groups up would let an empty task list earn the
  task points;
- the total is the sum of the groups; the class is the band of the exact total,
  then capped by the regime's class rules (critical criteria) and by the recorded
  override facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from workflow.catalog import N_
from workflow.errors import GROUP_NOT_SCORABLE, Problem, SubmissionInvalid
from workflow.scoring.model import (
    ClassRule,
    Criterion,
    CriterionKind,
    Framework,
    Override,
    PointGroup,
    Regime,
    Source,
)
from workflow.scoring.periods import PeriodScore, PeriodSelection, select_periods
from workflow.scoring.tasks import TaskItem, TasksResult, Waiver, task_results

ZERO = Fraction(0)
ONE = Fraction(1)
_DECIMALS = Context(prec=28, rounding=ROUND_HALF_EVEN)

__all__ = ["TaskItem", "Waiver"]


@lru_cache(maxsize=4096)
def _cached_exact(value: Decimal | int | float | str) -> Fraction:
    return Fraction(value)


def exact(value: Decimal | int | float | str) -> Fraction:
    """``Fraction(value)``, kept per value: a score makes about 80 of them, mostly of
    the same few maxima, weights and points (a Fraction of a Decimal costs a ratio and
    a gcd). Equal values give equal Fractions whatever their spelling (7.5, 7.50), and
    a Fraction is immutable, so sharing one changes no result."""
    try:
        return _cached_exact(value)
    except TypeError:  # unhashable, or a signalling NaN: as Fraction itself answers
        return Fraction(value)


def to_decimal(value: Fraction) -> Decimal:
    """An exact fraction as the Decimal that is stored: 28 significant digits, always the same."""
    return _DECIMALS.divide(Decimal(value.numerator), Decimal(value.denominator))


def shown(value: Decimal | Fraction) -> str:
    """Half-up to two places: how a number is shown to people (never how it is decided)."""
    if isinstance(value, Fraction):
        value = to_decimal(value)
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# Why a criterion could not be given: English here (the error below), both languages
# in the breakdown (explain says them from the catalogue).
MISSING = {
    "not_given": N_("not given by anyone who counts"),
    "no_actual": N_("no actual value given"),
    "no_items": N_("no assigned items"),
    "no_subordinates": N_("nobody under their management in the cycle"),
    "none_scored": N_("nobody under their management scored yet"),
    "no_period": N_("no period worked in the cycle's period"),
}


class ScoreNotComputable(SubmissionInvalid):
    """A whole point group has nothing that can be scored; nothing was stored."""


class NotClassifiedThisYear(ScoreNotComputable):
    """A year-end score of someone who worked fewer months than the regime's minimum for
    a year-end class, under a regime that does not classify them; nothing was stored."""


YEAR_END_BELOW_MINIMUM = N_(
    "not classified this year: %(months)s month(s) worked in the year, fewer than the "
    "%(minimum)s that %(regime)s requires for a year-end class; ask the HR administrator "
    "to cancel the evaluation with that reason")


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceInput:
    """What one source (supervisor, the reviewee, one peer) gave."""

    points: Mapping[str, Decimal] = field(default_factory=dict)  # rubric criteria
    actuals: Mapping[str, Decimal] = field(default_factory=dict)  # ratio criteria
    tasks: Sequence[TaskItem] | None = None  # tasks criteria (None: not given)


@dataclass(frozen=True)
class Subordinate:
    """Someone a leader manages, with their class in the cycle (None: not scored yet)."""

    reviewee_id: str
    class_id: str | None


@dataclass(frozen=True)
class OverrideNote:
    """A recorded override fact: which, its source document, who recorded it and when."""

    override_id: str
    source_document: str = ""
    recorded_by: str = ""
    recorded_at: str = ""  # ISO instant


@dataclass(frozen=True)
class ScoringInputs:
    supervisor: SourceInput
    self_assessment: SourceInput | None = None  # None: missing (deadline passed)
    peers: Sequence[SourceInput] = ()  # only when the quorum was reached
    subordinates: Sequence[Subordinate] | None = None  # leaders' unit results
    overrides: Sequence[OverrideNote | str] = ()  # recorded override facts
    is_leader: bool = False
    periods: Sequence[PeriodScore] | None = None  # period_mean: the shorter periods

    def override_notes(self) -> list[OverrideNote]:
        """The override facts, ids given alone read as facts without a document."""
        return [o if isinstance(o, OverrideNote) else OverrideNote(o) for o in self.overrides]


# --- what each kind of criterion found --------------------------------------------------


@dataclass(frozen=True)
class RubricDetail:
    given: Mapping[Source, Fraction]  # each source's points (peers: their mean)
    weights: Mapping[Source, Fraction]  # the sources that count, with their weights
    peer_answers: int = 0


@dataclass(frozen=True)
class RatioDetail:
    actual: Fraction
    target: Fraction
    cap: Fraction
    capped: bool


@dataclass(frozen=True)
class UnitResultsDetail:
    threshold_class: str
    scored: tuple[Subordinate, ...]
    below: tuple[Subordinate, ...]
    not_scored: int
    share: Fraction
    scope: str


@dataclass(frozen=True)
class PeriodMeanDetail:
    of_group: str
    of_group_max: Fraction
    selection: PeriodSelection
    mean: Fraction | None  # the group's weighted mean points over the periods used
    # The regime's fewest months worked for a year-end class, and whether the months
    # worked fell short of it (classified on the periods worked all the same).
    min_months: int = 1
    below_minimum: bool = False


Detail = RubricDetail | RatioDetail | TasksResult | UnitResultsDetail | PeriodMeanDetail | None


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    raw: Fraction | None  # points out of the criterion's max; None: nobody could give it
    counted: Fraction  # what it adds to the total (after renormalisation)
    factor: Fraction  # counted = raw x factor
    detail: Detail
    missing: str | None = None  # why it could not be given: a code explain knows

    @property
    def criterion_id(self) -> str:
        return self.criterion.id

    @property
    def max(self) -> Decimal:
        return self.criterion.max

    @property
    def points(self) -> Decimal | None:
        return None if self.raw is None else to_decimal(self.raw)


@dataclass(frozen=True)
class GroupResult:
    group: PointGroup
    criteria: tuple[CriterionResult, ...]
    present_max: Fraction  # sum (or count, for mean) of what could be given
    points: Fraction

    @property
    def renormalised(self) -> bool:
        """Some criterion could not be given, so the others were scaled up."""
        return any(c.raw is None for c in self.criteria)


@dataclass(frozen=True)
class RuleHit:
    rule: ClassRule
    criteria: tuple[str, ...]  # the critical criteria below the rule's share


@dataclass(frozen=True)
class OverrideHit:
    override: Override
    notes: tuple[OverrideNote, ...]  # the facts recorded (a document each)
    applies: bool  # False: a leaders-only override on someone who leads nobody


@dataclass(frozen=True)
class ScoreResult:
    regime: Regime
    framework: Framework
    exact_total: Fraction
    class_id: str  # after class rules and overrides
    score_class_id: str  # the class the total alone gives
    groups: tuple[GroupResult, ...]
    rule_hits: tuple[RuleHit, ...]
    override_hits: tuple[OverrideHit, ...]

    @property
    def total(self) -> Decimal:
        return to_decimal(self.exact_total)

    @property
    def criteria(self) -> tuple[CriterionResult, ...]:
        return tuple(c for g in self.groups for c in g.criteria)

    @property
    def forced_by(self) -> tuple[str, ...]:
        """Ids of the class rules and overrides that lowered (or would lower) the class."""
        return tuple([h.rule.id for h in self.rule_hits]
                     + [h.override.id for h in self.override_hits if h.applies])

    @property
    def stamp(self) -> dict[str, Any]:
        return stamp(self)


# --- computing ------------------------------------------------------------------------


def _rubric(c: Criterion, regime: Regime, inputs: ScoringInputs
            ) -> tuple[Fraction | None, RubricDetail, str | None]:
    given: dict[Source, Fraction] = {}
    if c.id in inputs.supervisor.points:
        given[Source.SUPERVISOR] = exact(inputs.supervisor.points[c.id])
    if inputs.self_assessment is not None and c.id in inputs.self_assessment.points:
        given[Source.SELF] = exact(inputs.self_assessment.points[c.id])
    peer_points = [exact(p.points[c.id]) for p in inputs.peers if c.id in p.points] \
        if c.peer_rated else []
    if peer_points:
        given[Source.PEER] = sum(peer_points, ZERO) / len(peer_points)
    weights = {s: exact(regime.source_weights.get(s, 0)) for s in given}
    counted = {s: w for s, w in weights.items() if w > 0}
    detail = RubricDetail(given, counted, len(peer_points))
    if not counted:
        return None, detail, "not_given"
    if len(counted) == 1:  # one weighed source: its mean is its own points, exactly
        points = given[next(iter(counted))]
    else:
        weight_sum = sum(counted.values(), ZERO)
        points = sum((given[s] * w for s, w in counted.items()), ZERO) / weight_sum
    return min(points, exact(c.max)), detail, None


def _ratio(c: Criterion, inputs: ScoringInputs
           ) -> tuple[Fraction | None, RatioDetail | None, str | None]:
    actual = inputs.supervisor.actuals.get(c.id)
    if actual is None or c.target is None:
        return None, None, "no_actual"
    share = exact(actual) / exact(c.target)
    cap = exact(c.cap)
    detail = RatioDetail(exact(actual), exact(c.target), cap, share > cap)
    return min(share, cap) * exact(c.max), detail, None


def _tasks(c: Criterion, regime: Regime, inputs: ScoringInputs
           ) -> tuple[Fraction | None, TasksResult | None, str | None]:
    items = inputs.supervisor.tasks
    if not items:
        return None, None, "no_items"
    result = task_results(items, exact(regime.tasks.quality_deduction_per_failed_assessment),
                          exact(regime.tasks.progress_deduction_per_delay))
    return result.mean * exact(c.max), result, None


def _unit_results(c: Criterion, regime: Regime, inputs: ScoringInputs
                  ) -> tuple[Fraction | None, UnitResultsDetail | None, str | None]:
    rule = regime.unit_results
    if rule is None or inputs.subordinates is None:
        return None, None, "no_subordinates"
    scored = tuple(s for s in inputs.subordinates if s.class_id is not None)
    not_scored = len(inputs.subordinates) - len(scored)
    floor = regime.class_index(rule.all_at_least)
    below = tuple(s for s in scored if regime.class_index(s.class_id or "") > floor)
    share = Fraction(rule.share_when_all if not below else rule.share_otherwise)
    detail = UnitResultsDetail(rule.all_at_least, scored, below, not_scored, share, rule.scope)
    if not scored:
        return None, detail, "no_subordinates" if not inputs.subordinates else "none_scored"
    return share * Fraction(c.max), detail, None


def _period_mean(c: Criterion, regime: Regime, inputs: ScoringInputs
                 ) -> tuple[Fraction | None, PeriodMeanDetail | None, str | None]:
    group = regime.group(c.of_group or "")
    selection = select_periods(inputs.periods or (), [g.id for g in regime.groups])
    mean = selection.mean(group.id)
    rule = regime.year_end
    below = mean is not None and selection.months < rule.min_months
    if below and rule.below_minimum == "not_classified":
        raise NotClassifiedThisYear(None, {c.id: Problem(
            YEAR_END_BELOW_MINIMUM, months=selection.months, minimum=rule.min_months,
            regime=regime.name, english=YEAR_END_BELOW_MINIMUM % {
                "months": selection.months, "minimum": rule.min_months,
                "regime": f"regime {regime.id} (year_end.min_months)"})})
    detail = PeriodMeanDetail(group.id, Fraction(group.max), selection, mean,
                              rule.min_months, below)
    if mean is None:
        return None, detail, "no_period"
    return mean * Fraction(c.max) / Fraction(group.max), detail, None


def _criterion(c: Criterion, regime: Regime, inputs: ScoringInputs
               ) -> tuple[Fraction | None, Detail, str | None]:
    if c.kind is CriterionKind.RUBRIC:
        return _rubric(c, regime, inputs)
    if c.kind is CriterionKind.RATIO:
        return _ratio(c, inputs)
    if c.kind is CriterionKind.TASKS:
        return _tasks(c, regime, inputs)
    if c.kind is CriterionKind.UNIT_RESULTS:
        return _unit_results(c, regime, inputs)
    return _period_mean(c, regime, inputs)


def _group(g: PointGroup, framework: Framework, regime: Regime, inputs: ScoringInputs
           ) -> GroupResult:
    computed = [(c, *_criterion(c, regime, inputs)) for c in framework.criteria
                if c.group == g.id]
    present = [(c, raw) for c, raw, _, _ in computed if raw is not None]
    if not present:
        why = "; ".join(f"{c.id}: {MISSING.get(missing or '', missing)}"
                        for c, _, _, missing in computed)
        raise ScoreNotComputable(None, {g.id: Problem(
            GROUP_NOT_SCORABLE, group=g.label,
            english=f"nothing in {g.label.en!r} can be scored ({why}); a group is never "
            "counted as zero: give its inputs (the assigned items, the periods worked), or "
            "cancel the evaluation with a reason")})
    gmax = exact(g.max)
    results: list[CriterionResult] = []
    if g.combine == "sum":
        present_max = sum((exact(c.max) for c, _ in present), ZERO)
        factors = dict.fromkeys((c.id for c, _ in present), gmax / present_max)
    else:  # mean: each criterion counts equally, as its share of its own maximum
        present_max = Fraction(len(present))
        factors = {c.id: gmax / (exact(c.max) * len(present)) for c, _ in present}
    for c, raw, detail, missing in computed:
        if raw is None:
            results.append(CriterionResult(c, None, ZERO, ZERO, detail, missing))
        else:
            factor = factors[c.id]
            results.append(CriterionResult(c, raw, raw * factor, factor, detail))
    points = sum((r.counted for r in results), ZERO)
    return GroupResult(g, tuple(results), present_max, points)


def score(regime: Regime, framework: Framework, inputs: ScoringInputs) -> ScoreResult:
    """The total, the class and everything the breakdown shows, for one evaluation.

    Raises ScoreNotComputable when a whole point group has nothing to score.
    """
    groups = tuple(_group(g, framework, regime, inputs) for g in regime.groups)
    total = sum((g.points for g in groups), ZERO)
    score_class = regime.class_by_score(total)
    class_id = score_class
    rule_hits: list[RuleHit] = []
    for rule in regime.class_rules:
        below = tuple(r.criterion.id for g in groups for r in g.criteria
                      if r.criterion.critical and r.raw is not None
                      and r.raw < exact(rule.share) * exact(r.criterion.max))
        if below:
            rule_hits.append(RuleHit(rule, below))
            class_id = regime.lower(class_id, rule.forces_class)
    notes = inputs.override_notes()
    override_hits: list[OverrideHit] = []
    for o in regime.overrides:
        mine = tuple(n for n in notes if n.override_id == o.id)
        if not mine:
            continue
        applies = inputs.is_leader or not o.leaders_only
        override_hits.append(OverrideHit(o, mine, applies))
        if applies:
            class_id = regime.lower(class_id, o.forces_class)
    return ScoreResult(regime, framework, total, class_id, score_class, groups,
                       tuple(rule_hits), tuple(override_hits))


def stamp(result: ScoreResult) -> dict[str, Any]:
    """What is stored with every score so that it can be recomputed and shown years later.

    The rules (regime id and version, framework id, version and content hash), the
    class rules and overrides that capped the class, the points of each group (the
    year-end mean reads them) and the breakdown per criterion: its labels, its
    points out of its max, and what it counted for after renormalisation.
    """
    fw = result.framework
    breakdown = []
    for g in result.groups:
        for c in g.criteria:
            entry: dict[str, Any] = {
                "criterion": c.criterion.id, "group": g.group.id,
                "label": {"en": c.criterion.label.en, "vi": c.criterion.label.vi},
                "points": None if c.raw is None else str(to_decimal(c.raw)),
                "max": str(c.criterion.max), "counted": str(to_decimal(c.counted)),
            }
            if isinstance(c.detail, UnitResultsDetail):
                entry["unit_results"] = {
                    "share": None if c.raw is None else str(to_decimal(c.detail.share)),
                    "below": [s.reviewee_id for s in c.detail.below],
                    "scored": len(c.detail.scored), "not_scored": c.detail.not_scored}
            if isinstance(c.detail, PeriodMeanDetail) and c.raw is not None:
                # What the result page, the email and the record say of a part year.
                entry["year_end"] = {"months": c.detail.selection.months,
                                     "min_months": c.detail.min_months,
                                     "below_minimum": c.detail.below_minimum}
            breakdown.append(entry)
    return {
        "regime_id": result.regime.id,
        "regime_version": str(result.regime.version),
        "framework_id": fw.id,
        "framework_version": str(fw.version),
        "framework_hash": fw.content_hash,
        "exact_total": str(result.exact_total),
        "forced_by": list(result.forced_by),
        "groups": {g.group.id: str(to_decimal(g.points)) for g in result.groups},
        "breakdown": breakdown,
    }
