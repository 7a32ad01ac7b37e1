"""Decree 335/2025 as the engine computes it: table-driven cases, each naming its rule.

The regime and frameworks are the shipped files (config/), so these cases check the
data as much as the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from tests.support import CONFIG
from workflow.scoring import (
    OverrideNote,
    PeriodScore,
    ScoreNotComputable,
    ScoringInputs,
    SourceInput,
    Subordinate,
    TaskItem,
    Waiver,
    score,
)
from workflow.scoring.model import Framework, Regime, Source, load_framework, load_regime
from workflow.scoring.tasks import task_results

VN = load_regime(CONFIG / "regimes" / "vn-decree-335-2025.yaml")
SPECIALIST = load_framework(CONFIG / "frameworks" / "vn-specialist.yaml", VN)
LEADER = load_framework(CONFIG / "frameworks" / "vn-leader.yaml", VN)
YEAR_END = load_framework(CONFIG / "frameworks" / "vn-year-end.yaml", VN)
US = load_regime(CONFIG / "regimes" / "us-5cfr430-five-level.yaml")
US_GS = load_framework(CONFIG / "frameworks" / "us-gs-employee.yaml", US)
QUARTER = Fraction(1, 4)
WAIVER = Waiver("Nguyễn Văn A, Giám đốc Sở",
                "Văn bản 12/SNV: chờ ý kiến bộ, nguyên nhân khách quan")


def item(completed: bool = True, meets: bool = True, failed: int = 0, delays: int = 0,
         qw: Waiver | None = None, pw: Waiver | None = None) -> TaskItem:
    return TaskItem("item", completed, meets and completed, failed, delays, qw, pw)


# --- Art 14: quantity, quality, progress of the assigned items ---------------------------

TASK_CASES = [
    # (rule, items, quantity, quality, progress)
    ("Art 14: quantity = items completed / items assigned",
     [item(), item(), item(False), item(False)], Fraction(1, 2), Fraction(1, 2), Fraction(1, 2)),
    ("Art 14: quality counts only completed items meeting the content requirements",
     [item(), item(meets=False), item(False)], Fraction(2, 3), Fraction(1, 3), Fraction(2, 3)),
    ("Art 14: quality -25% of the item's point for one failed assessment",
     [item(failed=1)], Fraction(1), Fraction(3, 4), Fraction(1)),
    ("Art 14: quality -25% per failed assessment (two: -50%)",
     [item(failed=2), item()], Fraction(1), Fraction(3, 4), Fraction(1)),
    ("Art 14: a quality point never goes below zero (five failed assessments)",
     [item(failed=5)], Fraction(1), Fraction(0), Fraction(1)),
    ("Art 14: progress -25% of the item's point per delay",
     [item(delays=1), item(delays=2)], Fraction(1), Fraction(1), Fraction(5, 8)),
    ("Art 14: an item not completed earns no quality or progress point",
     [item(False, failed=0, delays=0)], Fraction(0), Fraction(0), Fraction(0)),
    ("Art 14: a quality deduction is waived for an objective cause confirmed by a named "
     "approver", [item(failed=2, qw=WAIVER)], Fraction(1), Fraction(1), Fraction(1)),
    ("Art 14: a progress deduction is waived for an objective cause confirmed by a named "
     "approver", [item(delays=3, pw=WAIVER)], Fraction(1), Fraction(1), Fraction(1)),
    ("Art 14: a waiver without a named approver is ignored",
     [item(failed=1, qw=Waiver("  ", "objective cause"))], Fraction(1), Fraction(3, 4),
     Fraction(1)),
    ("Art 14: a waiver without a reason is ignored",
     [item(delays=1, pw=Waiver("Giám đốc", ""))], Fraction(1), Fraction(1), Fraction(3, 4)),
    ("Art 14: a quality waiver does not waive a delay",
     [item(failed=1, delays=1, qw=WAIVER)], Fraction(1), Fraction(1), Fraction(3, 4)),
]


@pytest.mark.parametrize(("items", "quantity", "quality", "progress"),
                         [c[1:] for c in TASK_CASES], ids=[c[0] for c in TASK_CASES])
def test_task_components_follow_art_14(items: list[TaskItem], quantity: Fraction,
                                       quality: Fraction, progress: Fraction) -> None:
    result = task_results(items, QUARTER, QUARTER)
    assert (result.quantity, result.quality, result.progress) == (quantity, quality, progress)
    assert result.mean == (quantity + quality + progress) / 3


def test_waivers_and_ignored_waivers_are_on_the_record() -> None:
    result = task_results([item(failed=1, qw=WAIVER), item(delays=1, pw=Waiver("", "x"))],
                          QUARTER, QUARTER)
    kinds = [(n.item, n.kind) for n in result.notes]
    assert kinds == [(1, "quality_waived"), (2, "progress_waiver_ignored"),
                     (2, "progress_deduction")]
    assert result.notes[0].approver == WAIVER.approver


# --- Arts 12, 14, 20: the total and the class --------------------------------------------


def rubric(*points: str | int, criteria: tuple[str, ...] = ("political_quality",
                                                             "competence_attitude",
                                                             "innovation")) -> dict[str, Decimal]:
    return {c: Decimal(str(p)) for c, p in zip(criteria, points, strict=True)}


def supervisor(general: tuple[str | int, ...], items: list[TaskItem] | None,
               **extra: str | int) -> SourceInput:
    points = rubric(*general)
    points.update({k: Decimal(str(v)) for k, v in extra.items()})
    return SourceInput(points=points, tasks=items)


ALL_DONE = [item(), item(), item()]


@dataclass(frozen=True)
class Case:
    rule: str
    inputs: ScoringInputs
    total: Decimal
    class_id: str
    framework: Framework = SPECIALIST
    regime: Regime = VN
    score_class: str | None = None
    forced_by: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def leader(general: tuple[str | int, ...], items: list[TaskItem] | None, organising: str | int,
           subordinates: list[Subordinate] | None, **kw: Any) -> ScoringInputs:
    return ScoringInputs(supervisor(general, items, organising_capacity=organising),
                         subordinates=subordinates, is_leader=True, **kw)


def team(*classes: str) -> list[Subordinate]:
    return [Subordinate(f"P{i}", c) for i, c in enumerate(classes)]


CASES = [
    Case("Art 12: general criteria (at most 30) + task results (at most 70) = 100",
         ScoringInputs(supervisor((10, 10, 10), ALL_DONE)), Decimal(100), "excellent"),
    Case("Art 14: task results are the mean of quantity, quality and progress, scaled to 70",
         ScoringInputs(supervisor((0, 0, 0), [item(), item(False)])), Decimal(35),
         "not_completed"),
    Case("Art 14: one failed assessment on one of two items: quality 87.5%",
         ScoringInputs(supervisor((0, 0, 0), [item(failed=1), item()])),
         Decimal(70) * (1 + Decimal("0.875") + 1) / 3, "completed"),
    Case("Art 20(4): excellent from 90, inclusive",
         ScoringInputs(supervisor((10, 10, 0), ALL_DONE)), Decimal(90), "excellent"),
    Case("Art 20(4): 89.99 is well completed, not excellent",
         ScoringInputs(supervisor((10, "9.99", 0), ALL_DONE)), Decimal("89.99"),
         "well_completed"),
    Case("Art 20(4): well completed from 70",
         ScoringInputs(supervisor((0, 0, 0), ALL_DONE)), Decimal(70), "well_completed"),
    Case("Art 20(4): completed from 50 to under 70",
         ScoringInputs(supervisor((10, 10, 0), [item(False), item(False), item(), item(),
                                               item(), item(False), item()])),
         Decimal(20) + Decimal(70) * 4 / 7, "completed"),
    Case("Art 20(4): not completed under 50",
         ScoringInputs(supervisor((5, 5, 5), [item(False), item(False), item()])),
         Decimal(15) + Decimal(70) / 3, "not_completed"),
    Case("Art 20(4): disciplined (reprimand or higher) in the year: not completed whatever "
         "the score",
         ScoringInputs(supervisor((10, 10, 10), ALL_DONE),
                       overrides=[OverrideNote("discipline_reprimand_or_higher", "QĐ 45/QĐ-SNV",
                                               "SNV060", "2026-05-10T02:00:00+00:00")]),
         Decimal(100), "not_completed", score_class="excellent",
         forced_by=("discipline_reprimand_or_higher",)),
    Case("Art 20(4): a competent conclusion of degradation: not completed",
         ScoringInputs(supervisor((8, 8, 8), ALL_DONE), overrides=["degradation_conclusion"]),
         Decimal(94), "not_completed", score_class="excellent",
         forced_by=("degradation_conclusion",)),
    Case("Art 20(4): corruption in the unit a leader runs: not completed",
         leader((10, 10, 10), ALL_DONE, 14, team("well_completed"),
                overrides=["leader_unit_corruption"]),
         Decimal(100), "not_completed", LEADER, score_class="excellent",
         forced_by=("leader_unit_corruption",)),
    Case("Art 20(4): the unit-corruption override concerns leaders only",
         ScoringInputs(supervisor((10, 10, 10), ALL_DONE), overrides=["leader_unit_corruption"]),
         Decimal(100), "excellent"),
    Case("Leaders: unit results 100% when everyone they manage is at least completed",
         leader((10, 10, 10), ALL_DONE, 14, team("completed", "excellent", "well_completed")),
         Decimal(100), "excellent", LEADER),
    Case("Leaders: unit results 50% when someone they manage is not completed",
         leader((10, 10, 10), ALL_DONE, 14, team("excellent", "not_completed")),
         Decimal(93), "excellent", LEADER),
    Case("Leaders: nobody they manage scored yet: unit results renormalised away, not zero",
         leader((10, 10, 0), ALL_DONE, 14, team(*[None] * 3)),  # type: ignore[arg-type]
         Decimal(90), "excellent", LEADER),
    Case("Leaders: capacity to organise implementation is scored by the supervisor",
         leader((10, 10, 10), ALL_DONE, 7, team("completed")), Decimal(93), "excellent", LEADER),
    Case("Leaders: no own items: tasks renormalised within task results",
         leader((10, 10, 10), [], 14, team("completed")), Decimal(100), "excellent", LEADER),
    Case("Combination: a missing self-assessment is left out, not counted as zero",
         ScoringInputs(supervisor((8, 8, 8), ALL_DONE), self_assessment=None),
         Decimal(94), "excellent",
         regime=VN.model_copy(update={"source_weights": {Source.SUPERVISOR: Decimal(1),
                                                         Source.SELF: Decimal("0.5")}})),
    Case("Combination: peers weigh what the regime says (here 1/4), in a weighted mean",
         ScoringInputs(supervisor((8, 8, 8), ALL_DONE),
                       peers=[SourceInput(points=rubric(4, 4, 4)),
                              SourceInput(points=rubric(4, 4, 4))]),
         Decimal("7.2") * 3 + 70, "excellent",
         regime=VN.model_copy(update={"source_weights": {Source.SUPERVISOR: Decimal(1),
                                                         Source.PEER: Decimal("0.25")}})),
    Case("Combination: peers are advisory by default (weight 0)",
         ScoringInputs(supervisor((8, 8, 8), ALL_DONE),
                       peers=[SourceInput(points=rubric(0, 0, 0))] * 3),
         Decimal(94), "excellent"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_decree_335_total_and_class(case: Case) -> None:
    result = score(case.regime, case.framework, case.inputs)
    assert abs(result.total - case.total) < Decimal("1e-20")
    assert result.class_id == case.class_id
    assert result.score_class_id == (case.score_class or case.class_id)
    assert result.forced_by == case.forced_by


def test_a_group_with_nothing_to_score_is_refused_not_zero() -> None:
    """Art 14 has no task score without assigned items: refusing beats counting it as 0."""
    with pytest.raises(ScoreNotComputable, match="task_results: nothing in 'Task results'"):
        score(VN, SPECIALIST, ScoringInputs(supervisor((10, 10, 10), [])))


def test_exact_arithmetic_a_total_of_exactly_90_is_excellent() -> None:
    """Seven elements rated 3.5, 3.5, 4.5, 5, 5, 5, 5 average exactly 4.5: 90, level 5.

    Decimal arithmetic through the factor 100/35 would give 89.99999999999999999999999998.
    """
    criteria = [{"id": f"e{i}", "kind": "rubric", "group": "elements", "max": 5,
                 "label": {"en": f"E{i}", "vi": f"E{i}"}} for i in range(7)]
    fw = Framework.model_validate({"id": "seven", "version": 1, "regime": US.id,
                                   "name": {"en": "7", "vi": "7"}, "position_groups": ["gs"],
                                   "criteria": criteria})
    ratings = ["3.5", "3.5", "4.5", "5", "5", "5", "5"]
    points = {f"e{i}": Decimal(r) for i, r in enumerate(ratings)}
    result = score(US, fw, ScoringInputs(SourceInput(points=points)))
    assert result.exact_total == 90 and result.total == Decimal(90)
    assert result.class_id == "level_5"


# --- the year end: the mean of the periods actually worked -------------------------------


def period(label: str, start: str, end: str, general: str | None, tasks: str | None,
           status: str = "worked", agency: str = "") -> PeriodScore:
    groups = {} if general is None else {"general": Decimal(general),
                                         "task_results": Decimal(tasks or 0)}
    return PeriodScore(label, date.fromisoformat(start), date.fromisoformat(end),
                       status, groups, source_agency=agency)  # type: ignore[arg-type]


YEAR_CASES = [
    ("Year end: the mean of the periods worked",
     [period("jan", "2026-01-01", "2026-01-31", "24", "56"),
      period("feb", "2026-02-01", "2026-02-28", "27", "63")], Decimal("85"), "well_completed"),
    ("Year end: a leave period is left out of the mean, not counted as zero",
     [period("jan", "2026-01-01", "2026-01-31", "24", "56"),
      period("feb", "2026-02-01", "2026-02-28", None, None, "leave"),
      period("mar", "2026-03-01", "2026-03-31", "27", "63")], Decimal("85"), "well_completed"),
    ("Year end: a cancelled or unfinished period is left out",
     [period("jan", "2026-01-01", "2026-01-31", "30", "62"),
      period("feb", "2026-02-01", "2026-02-28", None, None, "cancelled"),
      period("mar", "2026-03-01", "2026-03-31", None, None, "open")], Decimal("92"),
     "excellent"),
    ("Year end: a transferred person's imported quarter weighs three months",
     [period("2026-01", "2026-01-01", "2026-03-31", "20", "50", agency="Sở Tài chính"),
      period("apr", "2026-04-01", "2026-04-30", "30", "70")], Decimal("77.5"),
     "well_completed"),
    ("Year end: where periods overlap, this agency's own period counts, not the import",
     [period("2026-04", "2026-04-01", "2026-04-30", "10", "10", agency="Sở Tài chính"),
      period("apr", "2026-04-01", "2026-04-30", "30", "70")], Decimal("100"), "excellent"),
]


@pytest.mark.parametrize(("periods", "total", "class_id"), [c[1:] for c in YEAR_CASES],
                         ids=[c[0] for c in YEAR_CASES])
def test_year_end_mean_over_time_worked(periods: list[PeriodScore], total: Decimal,
                                        class_id: str) -> None:
    result = score(VN, YEAR_END, ScoringInputs(SourceInput(), periods=periods))
    assert result.total == total
    assert result.class_id == class_id


def test_year_end_discipline_in_the_year_still_overrides_the_mean() -> None:
    result = score(VN, YEAR_END, ScoringInputs(
        SourceInput(), periods=[period("jan", "2026-01-01", "2026-01-31", "30", "70")],
        overrides=["discipline_reprimand_or_higher"]))
    assert (result.total, result.class_id) == (Decimal(100), "not_completed")


def test_year_end_with_no_period_worked_cannot_be_scored() -> None:
    with pytest.raises(ScoreNotComputable, match="annual_general: no period worked"):
        score(VN, YEAR_END, ScoringInputs(SourceInput(), periods=[
            period("jan", "2026-01-01", "2026-01-31", None, None, "leave")]))


# --- the second regime: 5 CFR 430 -----------------------------------------------------

US_CASES = [
    ("5 CFR 430.208(d): a critical element rated unacceptable gives level 1",
     {"mission_results": 1, "customer_service": 5, "technical_competence": 5, "teamwork": 5},
     "level_1", ("critical_element_unacceptable", "critical_element_minimally_successful")),
    ("5 CFR 430.208(d): a non-critical element rated unacceptable does not give level 1",
     {"mission_results": 3, "customer_service": 3, "technical_competence": 3, "teamwork": 1},
     "level_3", ()),
    ("agency method: every element at 5 is level 5, Outstanding",
     {"mission_results": 5, "customer_service": 5, "technical_competence": 5, "teamwork": 5},
     "level_5", ()),
    ("agency method: an average rating of 3.5 is level 4",
     {"mission_results": 4, "customer_service": 3, "technical_competence": 4, "teamwork": 3},
     "level_4", ()),
    ("agency method: a critical element at level 2 caps the summary at level 2",
     {"mission_results": 2, "customer_service": 5, "technical_competence": 5, "teamwork": 5},
     "level_2", ("critical_element_minimally_successful",)),
]


@pytest.mark.parametrize(("ratings", "class_id", "rules"), [c[1:] for c in US_CASES],
                         ids=[c[0] for c in US_CASES])
def test_us_summary_level(ratings: dict[str, int], class_id: str, rules: tuple[str, ...]
                          ) -> None:
    points = {k: Decimal(v) for k, v in ratings.items()}
    result = score(US, US_GS, ScoringInputs(SourceInput(points=points)))
    assert result.total == Decimal(sum(ratings.values()) * 5)
    assert result.class_id == class_id
    assert result.forced_by == rules
