"""The exact total alone, in integers: what the reports compute for every row. Pure.

``compute.score`` builds every detail the breakdown shows, with ``Fraction`` at each
step (a Fraction normalises by a gcd on every operation): about 70 of them per
evaluation, most of the report's first build at national scale (the self-assessed
total of each of 100,000 rows, bench/RESULTS.md, report-cache). ``exact_total`` is the
same rational number computed as an unreduced pair of integers (numerator,
denominator), reduced once at the end: the arithmetic stays exact (no rounding
anywhere), so the Fraction it returns is equal to ``score(...).exact_total`` (the
property test in tests/unit/test_scoring_properties.py says so on random inputs), and
a total of 89.995 is decided and shown as it always was.

What is fixed per regime and framework (the maxima, the weights, the deductions, the
groups) is read once into a ``_Plan``. The criteria that need the team or the
periods (``unit_results``, ``period_mean``) and a group with nothing to score (an
error, with its message) go through ``compute.score``: they are few, and its error is
the one to give.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from workflow.scoring.compute import ScoringInputs, score
from workflow.scoring.model import CriterionKind, Framework, Regime, Source
from workflow.scoring.tasks import TaskItem

Q = tuple[int, int]  # numerator, denominator (> 0), not reduced


def _q(value: Decimal | int | Fraction) -> Q:
    n, d = value.as_integer_ratio()
    return n, d


def _add(a: Q, b: Q) -> Q:
    if a[1] == b[1]:
        return a[0] + b[0], a[1]
    return a[0] * b[1] + b[0] * a[1], a[1] * b[1]


def _mul(a: Q, b: Q) -> Q:
    return a[0] * b[0], a[1] * b[1]


def _div(a: Q, b: Q) -> Q:  # b != 0
    n, d = a[0] * b[1], a[1] * b[0]
    return (-n, -d) if d < 0 else (n, d)


def _min(a: Q, b: Q) -> Q:
    return a if a[0] * b[1] <= b[0] * a[1] else b


class _Unsupported(Exception):
    """This evaluation needs ``compute.score`` (its team, its periods, an empty group)."""


@dataclass(frozen=True)
class _Criterion:
    id: str
    kind: CriterionKind
    max: Q
    peer_rated: bool
    target: Q | None
    cap: Q


@dataclass(frozen=True)
class _Group:
    combine: str
    max: Q
    criteria: tuple[_Criterion, ...]


@dataclass(frozen=True)
class _Plan:
    groups: tuple[_Group, ...]
    weights: Mapping[Source, Q]  # every source's weight (0 for one the regime ignores)
    quality_deduction: Q
    progress_deduction: Q
    supported: bool  # no criterion needs the team or the periods


# By the identity of the regime and the framework (pydantic models holding a dict are
# not hashable); the weak references tell a live entry from one whose id was reused.
_PLANS: dict[tuple[int, int], tuple[weakref.ref[Regime], weakref.ref[Framework], _Plan]] = {}
_SLOW = (CriterionKind.UNIT_RESULTS, CriterionKind.PERIOD_MEAN)


def _plan(regime: Regime, framework: Framework) -> _Plan:
    key = (id(regime), id(framework))
    found = _PLANS.get(key)
    if found is not None and found[0]() is regime and found[1]() is framework:
        return found[2]
    groups = tuple(_Group(g.combine, _q(g.max), tuple(
        _Criterion(c.id, c.kind, _q(c.max), c.peer_rated,
                   None if c.target is None else _q(c.target), _q(c.cap))
        for c in framework.criteria if c.group == g.id)) for g in regime.groups)
    plan = _Plan(groups, {s: _q(regime.source_weights.get(s, 0)) for s in Source},
                 _q(regime.tasks.quality_deduction_per_failed_assessment),
                 _q(regime.tasks.progress_deduction_per_delay),
                 not any(c.kind in _SLOW for c in framework.criteria))
    if len(_PLANS) > 256:  # rules loaded again and again (tests): forget the old ones
        _PLANS.clear()
    _PLANS[key] = (weakref.ref(regime), weakref.ref(framework), plan)
    return plan


def _rubric(c: _Criterion, plan: _Plan, inputs: ScoringInputs) -> Q | None:
    num = 0
    den = 1  # the weighted sum, over a common denominator
    weight_n, weight_d = 0, 1
    sources: list[tuple[Q, Q]] = []
    given = inputs.supervisor.points.get(c.id)
    if given is not None:
        sources.append((_q(given), plan.weights[Source.SUPERVISOR]))
    if inputs.self_assessment is not None:
        given = inputs.self_assessment.points.get(c.id)
        if given is not None:
            sources.append((_q(given), plan.weights[Source.SELF]))
    if c.peer_rated:
        peers = [p.points[c.id] for p in inputs.peers if c.id in p.points]
        if peers:
            total: Q = (0, 1)
            for given in peers:
                total = _add(total, _q(given))
            sources.append((_div(total, (len(peers), 1)), plan.weights[Source.PEER]))
    counted = False
    for (pn, pd), (wn, wd) in sources:
        if wn <= 0:
            continue
        counted = True
        num, den = num * pd * wd + pn * wn * den, den * pd * wd
        weight_n, weight_d = weight_n * wd + wn * weight_d, weight_d * wd
    if not counted:
        return None
    return _min(_div((num, den), (weight_n, weight_d)), c.max)


def _ratio(c: _Criterion, inputs: ScoringInputs) -> Q | None:
    actual = inputs.supervisor.actuals.get(c.id)
    if actual is None or c.target is None:
        return None
    share = _div(_q(actual), c.target)
    return _mul(_min(share, c.cap), c.max)


def _kept(count: int, per: Q, waiver_valid: bool) -> int:
    """An item's quality or progress point after its deductions, over ``per``'s
    denominator (max(0, 1 - per x count), or 1 when none or waived)."""
    if count == 0 or waiver_valid:
        return per[1]
    return max(0, per[1] - per[0] * count)


def _tasks(c: _Criterion, plan: _Plan, items: Sequence[TaskItem] | None) -> Q | None:
    if not items:
        return None
    qn, qd = plan.quality_deduction
    pn, pd = plan.progress_deduction
    completed = quality = progress = 0  # progress over pd, quality over qd
    for item in items:
        if not item.completed:
            continue
        completed += 1
        if item.meets_requirements:
            w = item.quality_waiver
            quality += _kept(item.failed_assessments, (qn, qd), w is not None and w.valid)
        w = item.progress_waiver
        progress += _kept(item.delays, (pn, pd), w is not None and w.valid)
    # (completed + quality / qd + progress / pd) / assigned / 3, times the maximum
    assigned = len(items)
    mean = (completed * qd * pd + quality * pd + progress * qd, qd * pd * assigned * 3)
    return _mul(mean, c.max)


def _total(plan: _Plan, inputs: ScoringInputs) -> Q:
    total: Q = (0, 1)
    for g in plan.groups:
        raws: list[tuple[_Criterion, Q]] = []
        for c in g.criteria:
            if c.kind is CriterionKind.RUBRIC:
                raw = _rubric(c, plan, inputs)
            elif c.kind is CriterionKind.RATIO:
                raw = _ratio(c, inputs)
            elif c.kind is CriterionKind.TASKS:
                raw = _tasks(c, plan, inputs.supervisor.tasks)
            else:
                raise _Unsupported
            if raw is not None:
                raws.append((c, raw))
        if not raws:
            raise _Unsupported  # compute.score says which group and why
        if g.combine == "sum":  # each scaled by the group's max over the present maxima
            present: Q = (0, 1)
            summed: Q = (0, 1)
            for c, raw in raws:
                present = _add(present, c.max)
                summed = _add(summed, raw)
            total = _add(total, _div(_mul(summed, g.max), present))
        else:  # mean: each as its share of its own maximum, the group's max over n
            shares: Q = (0, 1)
            for c, raw in raws:
                shares = _add(shares, _div(raw, c.max))
            total = _add(total, _div(_mul(shares, g.max), (len(raws), 1)))
    return total


def exact_total(regime: Regime, framework: Framework, inputs: ScoringInputs) -> Fraction:
    """``score(regime, framework, inputs).exact_total``, computed without the details
    (same value; ScoreNotComputable in the same cases, from ``score`` itself)."""
    plan = _plan(regime, framework)
    if plan.supported:
        try:
            n, d = _total(plan, inputs)
        except _Unsupported:
            pass
        else:
            return Fraction(n, d)
    return score(regime, framework, inputs).exact_total
