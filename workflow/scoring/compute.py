"""Computing a score and a class from the inputs of one evaluation. Pure.

Every step appends an ``ExplainLine`` so that ``kpi score explain``, the result
email and the result page show the same breakdown, and the lines of the criteria
add up to the total. Decimals throughout; rounding happens only when shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from workflow.scoring.model import Criterion, CriterionKind, Framework, Regime, Source

ZERO = Decimal(0)
ONE = Decimal(1)


def shown(value: Decimal) -> str:
    """How a score is shown to people: half-up to two places."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Waiver:
    """A deduction waived for an objective cause, confirmed by a named approver."""

    approver: str
    reason: str


@dataclass(frozen=True)
class TaskItem:
    """One assigned product or work item of the period (Decree 335, Art 14)."""

    title: str
    completed: bool
    meets_requirements: bool = False
    failed_assessments: int = 0
    delays: int = 0
    quality_waiver: Waiver | None = None
    progress_waiver: Waiver | None = None


@dataclass(frozen=True)
class SourceInput:
    """What one source (supervisor, the reviewee, one peer) gave."""

    points: Mapping[str, Decimal] = field(default_factory=dict)  # rubric criteria
    actuals: Mapping[str, Decimal] = field(default_factory=dict)  # ratio criteria
    tasks: Sequence[TaskItem] | None = None  # tasks criteria (None: not given)


@dataclass(frozen=True)
class ScoringInputs:
    supervisor: SourceInput
    self_assessment: SourceInput | None = None  # None: missing (deadline passed)
    peers: Sequence[SourceInput] = ()  # only when the quorum was reached
    subordinate_classes: Sequence[str] | None = None  # leaders' unit results
    overrides: Sequence[str] = ()  # ids of recorded override facts
    is_leader: bool = False


@dataclass(frozen=True)
class ExplainLine:
    """One line of the breakdown. ``points`` is set on lines that add to the total."""

    key: str  # criterion or group id, or a step name
    text: str
    points: Decimal | None = None
    max: Decimal | None = None
    adds_to_total: bool = False


@dataclass(frozen=True)
class CriterionResult:
    criterion_id: str
    group: str
    points: Decimal | None  # None: nobody could give it; renormalised away
    max: Decimal


@dataclass(frozen=True)
class ScoreResult:
    total: Decimal
    class_id: str
    score_class_id: str  # the class the total alone gives, before overrides
    forced_by: tuple[str, ...]
    criteria: tuple[CriterionResult, ...]
    groups: Mapping[str, Decimal]
    lines: tuple[ExplainLine, ...]
    stamp: Mapping[str, str]


def task_components(items: Sequence[TaskItem], rules_quality: Decimal, rules_progress: Decimal
                    ) -> tuple[Decimal, Decimal, Decimal, list[str]]:
    """Quantity, quality and progress (each 0..1) of a list of assigned items."""
    assigned = Decimal(len(items))
    notes: list[str] = []
    completed = sum((ONE for i in items if i.completed), ZERO)
    quality = ZERO
    progress = ZERO
    for n, item in enumerate(items, 1):
        if item.completed and item.meets_requirements:
            if item.failed_assessments and item.quality_waiver is None:
                q = max(ZERO, ONE - rules_quality * item.failed_assessments)
                notes.append(f"item {n} ({item.title}): quality -{rules_quality * 100:.0f}% x "
                             f"{item.failed_assessments} failed assessment(s)")
            else:
                q = ONE
                if item.failed_assessments:
                    notes.append(f"item {n} ({item.title}): quality deduction waived by "
                                 f"{item.quality_waiver.approver if item.quality_waiver else ''}: "
                                 f"{item.quality_waiver.reason if item.quality_waiver else ''}")
            quality += q
        if item.completed:
            if item.delays and item.progress_waiver is None:
                p = max(ZERO, ONE - rules_progress * item.delays)
                notes.append(f"item {n} ({item.title}): progress -{rules_progress * 100:.0f}% x "
                             f"{item.delays} delay(s)")
            else:
                p = ONE
                if item.delays and item.progress_waiver:
                    notes.append(f"item {n} ({item.title}): progress deduction waived by "
                                 f"{item.progress_waiver.approver}: {item.progress_waiver.reason}")
            progress += p
    return completed / assigned, quality / assigned, progress / assigned, notes


def _rubric(c: Criterion, regime: Regime, inputs: ScoringInputs) -> tuple[Decimal | None, str]:
    given: dict[Source, Decimal] = {}
    if c.id in inputs.supervisor.points:
        given[Source.SUPERVISOR] = inputs.supervisor.points[c.id]
    if inputs.self_assessment is not None and c.id in inputs.self_assessment.points:
        given[Source.SELF] = inputs.self_assessment.points[c.id]
    if c.peer_rated:
        peer_points = [p.points[c.id] for p in inputs.peers if c.id in p.points]
        if peer_points:
            given[Source.PEER] = sum(peer_points, ZERO) / len(peer_points)
    weights = {s: regime.source_weights.get(s, ZERO) for s in given}
    counted = {s: w for s, w in weights.items() if w > 0}
    if not counted:
        return None, "not given"
    weight_sum = sum(counted.values(), ZERO)
    points = sum((given[s] * w for s, w in counted.items()), ZERO) / weight_sum
    parts = [f"{s.value} {shown(given[s])}" + ("" if s in counted else " (advisory)")
             for s in given]
    if len(counted) > 1 or weight_sum != ONE:
        parts.append("weights " + ", ".join(f"{s.value} {w}" for s, w in counted.items()))
    return points, "; ".join(parts)


def _criterion(c: Criterion, regime: Regime, inputs: ScoringInputs
               ) -> tuple[Decimal | None, list[str]]:
    if c.kind is CriterionKind.RUBRIC:
        points, detail = _rubric(c, regime, inputs)
        return points, [detail]
    if c.kind is CriterionKind.RATIO:
        actual = inputs.supervisor.actuals.get(c.id)
        if actual is None or c.target is None:
            return None, ["no actual value given"]
        share = min(actual / c.target, c.cap)
        return share * c.max, [f"actual {actual} / target {c.target}"
                               + (f" capped at {c.cap}" if actual / c.target > c.cap else "")]
    if c.kind is CriterionKind.TASKS:
        items = inputs.supervisor.tasks
        if not items:
            return None, ["no assigned items"]
        qty, qual, prog, notes = task_components(
            items, regime.tasks.quality_deduction_per_failed_assessment,
            regime.tasks.progress_deduction_per_delay)
        mean = (qty + qual + prog) / 3
        detail = (f"{len(items)} items: quantity {shown(qty * 100)}%, "
                  f"quality {shown(qual * 100)}%, progress {shown(prog * 100)}%; "
                  f"mean {shown(mean * 100)}%")
        return mean * c.max, [detail, *notes]
    # UNIT_RESULTS
    rule = regime.unit_results
    classes = inputs.subordinate_classes
    if rule is None or not classes:
        return None, ["no subordinate results yet"]
    floor = regime.class_index(rule.all_at_least)
    below = [k for k in classes if regime.class_index(k) > floor]
    share = rule.share_when_all if not below else rule.share_otherwise
    detail = (f"{len(classes)} subordinates, {len(below)} below {rule.all_at_least}: "
              f"{shown(share * 100)}%")
    return share * c.max, [detail]


def score(regime: Regime, framework: Framework, inputs: ScoringInputs) -> ScoreResult:
    """The total, the class and the breakdown of one evaluation."""
    lines: list[ExplainLine] = []
    results: list[CriterionResult] = []
    groups: dict[str, Decimal] = {}
    for g in regime.groups:
        criteria = [c for c in framework.criteria if c.group == g.id]
        computed = [(c, *_criterion(c, regime, inputs)) for c in criteria]
        present_max = sum((c.max for c, p, _ in computed if p is not None), ZERO)
        factor = g.max / present_max if present_max else ZERO
        lines.append(ExplainLine(g.id, f"{g.label.en} (at most {g.max})", max=g.max))
        for c, points, details in computed:
            results.append(CriterionResult(c.id, g.id, points, c.max))
            if points is None:
                lines.append(ExplainLine(c.id, f"  {c.label.en}: {details[0]}; left out, "
                                         "the others are scaled up", max=c.max))
                continue
            scaled = points * factor
            text = f"  {c.label.en}: {shown(points)} / {c.max} ({details[0]})"
            if factor != ONE:
                text += f" x {shown(factor)} renormalised = {shown(scaled)}"
            lines.append(ExplainLine(c.id, text, scaled, c.max, adds_to_total=True))
            lines.extend(ExplainLine(c.id, f"    {note}") for note in details[1:])
        groups[g.id] = sum((p * factor for _, p, _ in computed if p is not None), ZERO)
        if present_max and factor != ONE:
            lines.append(ExplainLine(
                g.id, f"  renormalised: the criteria given carry {present_max} of {g.max} "
                "points, so each is scaled by " + shown(factor)))
        elif not present_max:
            lines.append(ExplainLine(g.id, "  nothing could be given in this group"))
    total = sum(groups.values(), ZERO)
    score_class = next(c.id for c in regime.classes if total >= c.min)
    forced = tuple(
        o.id for o in regime.overrides
        if o.id in inputs.overrides and (inputs.is_leader or not o.leaders_only)
    )
    class_id = score_class
    for override_id in forced:
        o = next(o for o in regime.overrides if o.id == override_id)
        if regime.class_index(o.forces_class) > regime.class_index(class_id):
            class_id = o.forces_class
    lines.append(ExplainLine("total", f"Total: {shown(total)} / {regime.scale}", total,
                             regime.scale))
    band = regime.band(score_class)
    lines.append(ExplainLine("class", f"Class by score: {band.label.en} (from {band.min})"))
    for override_id in forced:
        o = next(o for o in regime.overrides if o.id == override_id)
        lines.append(ExplainLine(
            "override", f"Override: {o.label.en} -> {regime.band(o.forces_class).label.en}"))
    stamp = {
        "regime_id": regime.id,
        "regime_version": str(regime.version),
        "framework_id": framework.id,
        "framework_version": str(framework.version),
        "framework_hash": framework.content_hash,
    }
    return ScoreResult(total, class_id, score_class, forced, tuple(results), groups,
                       tuple(lines), stamp)
