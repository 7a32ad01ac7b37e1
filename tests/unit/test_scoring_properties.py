"""Properties of the scoring that hold for any input (Hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_scoring_decree import LEADER, SPECIALIST, US, US_GS, VN
from workflow.scoring import (
    ScoreNotComputable,
    ScoringInputs,
    SourceInput,
    Subordinate,
    TaskItem,
    Waiver,
    fast,
    lines,
    score,
    shown_total,
    to_decimal,
)
from workflow.scoring.fast import exact_total
from workflow.scoring.model import CriterionKind, Framework, Regime, Source

CLASSES = [c.id for c in VN.classes]


def points_for(framework: Framework) -> st.SearchStrategy[dict[str, Decimal]]:
    rubric = [c for c in framework.criteria if c.kind is CriterionKind.RUBRIC]
    return st.fixed_dictionaries({
        c.id: st.integers(0, int(c.max * 100)).map(lambda n: Decimal(n) / 100) for c in rubric})


waivers = st.one_of(st.none(), st.builds(Waiver, st.sampled_from(["", "Giám đốc Sở"]),
                                         st.sampled_from(["", "nguyên nhân khách quan"])))


@st.composite
def task_item(draw: st.DrawFn) -> TaskItem:
    completed = draw(st.booleans())
    return TaskItem(draw(st.sampled_from(["Báo cáo", "Thẩm định", "Dự thảo"])), completed,
                    completed and draw(st.booleans()), draw(st.integers(0, 5)),
                    draw(st.integers(0, 5)), draw(waivers), draw(waivers))


task_lists = st.lists(task_item(), min_size=1, max_size=8)


@st.composite
def regimes(draw: st.DrawFn) -> Regime:
    """The Decree 335 regime with any source weights (the supervisor always counts)."""
    def weight(low: int) -> Decimal:
        return Decimal(draw(st.integers(low, 100))) / 100

    weights = {Source.SUPERVISOR: weight(1), Source.SELF: weight(0), Source.PEER: weight(0)}
    return VN.model_copy(update={"source_weights": weights})


@st.composite
def cases(draw: st.DrawFn) -> tuple[Regime, Framework, ScoringInputs]:
    regime = draw(regimes())
    framework = draw(st.sampled_from([SPECIALIST, LEADER]))
    sources = st.builds(SourceInput, points_for(framework))
    inputs = ScoringInputs(
        SourceInput(points=draw(points_for(framework)), tasks=draw(task_lists)),
        self_assessment=draw(st.one_of(st.none(), sources)),
        peers=draw(st.lists(sources, max_size=4)),
        subordinates=draw(st.lists(st.builds(Subordinate, st.just("P"),
                                             st.sampled_from([*CLASSES, None])), max_size=5)),
        is_leader=framework is LEADER)
    return regime, framework, inputs


@settings(max_examples=120, deadline=None)
@given(cases())
def test_total_stays_within_0_and_the_scale(case: tuple[Regime, Framework, ScoringInputs]
                                            ) -> None:
    regime, framework, inputs = case
    result = score(regime, framework, inputs)
    assert 0 <= result.exact_total <= Fraction(regime.scale)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({c.id: st.integers(0, 5).map(Decimal) for c in US_GS.criteria}))
def test_us_total_stays_within_0_and_100(points: dict[str, Decimal]) -> None:
    result = score(US, US_GS, ScoringInputs(SourceInput(points=points)))
    assert 0 <= result.total <= 100


def with_item(inputs: ScoringInputs, i: int, item: TaskItem) -> ScoringInputs:
    """The same inputs with the supervisor's item ``i`` replaced by ``item``."""
    items = list(inputs.supervisor.tasks or [])
    return replace(inputs, supervisor=replace(inputs.supervisor,
                                              tasks=[*items[:i], item, *items[i + 1:]]))


@settings(max_examples=120, deadline=None)
@given(cases(), st.data())
def test_more_items_completed_never_lowers_the_score(
        case: tuple[Regime, Framework, ScoringInputs], data: st.DataObject) -> None:
    regime, framework, inputs = case
    items = list(inputs.supervisor.tasks or [])
    open_items = [i for i, t in enumerate(items) if not t.completed]
    if not open_items:
        items.append(TaskItem("extra", False))
        open_items = [len(items) - 1]
        inputs = replace(inputs, supervisor=replace(inputs.supervisor, tasks=list(items)))
    i = data.draw(st.sampled_from(open_items))
    done = replace(items[i], completed=True, meets_requirements=data.draw(st.booleans()))
    more = with_item(inputs, i, done)
    assert score(regime, framework, more).exact_total >= \
        score(regime, framework, inputs).exact_total


@settings(max_examples=120, deadline=None)
@given(cases(), st.data())
def test_more_deductions_never_raise_the_score(case: tuple[Regime, Framework, ScoringInputs],
                                               data: st.DataObject) -> None:
    regime, framework, inputs = case
    items = list(inputs.supervisor.tasks or [])
    i = data.draw(st.integers(0, len(items) - 1))
    worse = replace(items[i], failed_assessments=items[i].failed_assessments + 1,
                    delays=items[i].delays + data.draw(st.integers(0, 2)),
                    quality_waiver=None, progress_waiver=None)
    changed = with_item(inputs, i, worse)
    assert score(regime, framework, changed).exact_total <= \
        score(regime, framework, inputs).exact_total


def zeros(framework: Framework) -> SourceInput:
    return SourceInput(points={c.id: Decimal(0) for c in framework.criteria
                               if c.kind is CriterionKind.RUBRIC})


@settings(max_examples=120, deadline=None)
@given(cases())
def test_a_missing_component_never_lowers_the_score(
        case: tuple[Regime, Framework, ScoringInputs]) -> None:
    """Nobody could give it (self-assessment missed, no peers, no items): never counted as 0."""
    regime, framework, inputs = case

    def total(changed: ScoringInputs) -> Fraction:
        return score(regime, framework, changed).exact_total

    assert total(replace(inputs, self_assessment=None)) >= \
        total(replace(inputs, self_assessment=zeros(framework)))
    assert total(replace(inputs, peers=[])) >= \
        total(replace(inputs, peers=[zeros(framework)] * 3))
    if framework is LEADER:  # a leader's own items can be missing: the group has other criteria
        none_done = [TaskItem("x", False)] * 3
        assert total(replace(inputs, supervisor=replace(inputs.supervisor, tasks=[]))) >= \
            total(replace(inputs, supervisor=replace(inputs.supervisor, tasks=none_done)))


@settings(max_examples=120, deadline=None)
@given(cases())
def test_explain_lines_add_up_to_the_total(case: tuple[Regime, Framework, ScoringInputs]
                                           ) -> None:
    regime, framework, inputs = case
    result = score(regime, framework, inputs)
    out = lines(result)
    adds = [line for line in out if line.adds_to_total]
    total_line = next(line for line in out if line.kind == "total")
    assert sum((c.counted for c in result.criteria), Fraction(0)) == result.exact_total
    assert abs(sum((line.points or Decimal(0) for line in adds), Decimal(0))
               - (total_line.points or Decimal(0))) < Decimal("1e-20")
    # what is printed adds up to what is printed under it, to the cent
    assert sum(Decimal(line.shown or "0") for line in adds) == Decimal(total_line.shown or "")
    # and the printed total never contradicts the class
    assert regime.class_by_score(Decimal(total_line.shown or "")) == result.score_class_id
    assert all(set(line.label) == {"en", "vi"} and all(line.label.values()) for line in out)


@given(st.integers(0, 10_000_000).map(lambda n: Fraction(n, 100_000)))
def test_the_shown_total_is_half_up_unless_that_crosses_a_threshold(total: Fraction) -> None:
    shown = shown_total(total, VN)
    assert abs(Fraction(shown) - total) < Fraction(1, 100)
    assert VN.class_by_score(shown) == VN.class_by_score(total)
    half_up = to_decimal(total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if VN.class_by_score(half_up) == VN.class_by_score(total):
        assert shown == half_up


# --- the reports' fast exact total (workflow.scoring.fast) against ``score`` ------------


def _fine_points(framework: Framework) -> st.SearchStrategy[dict[str, Decimal]]:
    """Points to the thousandth, some criteria left out (not given by this source)."""
    rubric = [c for c in framework.criteria if c.kind is CriterionKind.RUBRIC]
    return st.dictionaries(st.sampled_from([c.id for c in rubric]),
                           st.integers(0, 10_000).map(lambda n: Decimal(n) / 1000),
                           max_size=len(rubric))


@st.composite
def fast_cases(draw: st.DrawFn) -> tuple[Regime, Framework, ScoringInputs]:
    regime, framework = draw(st.sampled_from([(VN, SPECIALIST), (VN, LEADER), (US, US_GS)]))
    weights = {s: Decimal(draw(st.integers(0, 100))) / 100 for s in Source}
    deductions = {k: Decimal(draw(st.integers(0, 100))) / 100
                  for k in ("quality_deduction_per_failed_assessment",
                            "progress_deduction_per_delay")}
    regime = regime.model_copy(update={
        "source_weights": weights, "tasks": regime.tasks.model_copy(update=deductions)})
    sources = st.builds(SourceInput, _fine_points(framework))
    inputs = ScoringInputs(
        SourceInput(points=draw(_fine_points(framework)),
                    tasks=draw(st.one_of(st.none(), st.lists(task_item(), max_size=8)))),
        self_assessment=draw(st.one_of(st.none(), sources)),
        peers=draw(st.lists(sources, max_size=4)),
        subordinates=draw(st.lists(st.builds(Subordinate, st.just("P"),
                                             st.sampled_from([*CLASSES, None])), max_size=3)),
        is_leader=framework is LEADER)
    return regime, framework, inputs


@settings(max_examples=400, deadline=None)
@given(fast_cases())
def test_the_fast_total_is_the_exact_total(case: tuple[Regime, Framework, ScoringInputs]
                                           ) -> None:
    """Same Fraction as ``score`` (so the same class and the same shown total), or the
    same error when a group has nothing to score."""
    regime, framework, inputs = case
    try:
        expected: Fraction | type[Exception] = score(regime, framework, inputs).exact_total
    except ScoreNotComputable:
        expected = ScoreNotComputable
    try:
        got: Fraction | type[Exception] = exact_total(regime, framework, inputs)
    except ScoreNotComputable:
        got = ScoreNotComputable
    assert got == expected
    if isinstance(got, Fraction):
        assert to_decimal(got) == to_decimal(expected)  # type: ignore[arg-type]


def test_the_fast_total_takes_the_integer_path_and_keeps_89_995() -> None:
    """The specialist's framework is computed in integers (not handed to ``score``), and a
    total of 89.995 stays below 90, shown 89.99."""
    assert fast._plan(VN, SPECIALIST).supported
    assert not fast._plan(VN, LEADER).supported  # the team: through score
    items = [TaskItem("Báo cáo", True, True)] * 4
    points = {"political_quality": Decimal("9.995"), "competence_attitude": Decimal(10),
              "innovation": Decimal(0)}
    inputs = ScoringInputs(SourceInput(points=points, tasks=items))
    real_score = fast.score
    try:
        fast.score = None  # type: ignore[assignment]  # any fallback would fail here
        total = exact_total(VN, SPECIALIST, inputs)
    finally:
        fast.score = real_score
    assert total == score(VN, SPECIALIST, inputs).exact_total
    assert total == Fraction("89.995")
    assert VN.class_by_score(total) == VN.class_by_score(Decimal("89.99")) != \
        VN.class_by_score(Decimal(90))
    assert shown_total(total, VN) == Decimal("89.99")
