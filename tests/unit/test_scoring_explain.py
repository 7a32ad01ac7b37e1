"""The breakdown a civil servant reads, in English and Vietnamese."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from tests.unit.test_scoring_decree import (
    LEADER,
    SPECIALIST,
    VN,
    WAIVER,
    item,
    rubric,
    supervisor,
    team,
)
from workflow.scoring import (
    OverrideNote,
    ScoringInputs,
    SourceInput,
    TaskItem,
    Waiver,
    lines,
    score,
    shown_total,
)
from workflow.scoring.explain import apportion
from workflow.scoring.model import Source


def texts(result_lines: list, lang: str = "en") -> list[str]:  # type: ignore[type-arg]
    return [line.text(lang) for line in result_lines]


def test_a_total_of_89_996_is_well_completed_and_shown_as_89_99() -> None:
    """The class is decided on the exact total; the shown total never contradicts it."""
    items = [item(), item(), item(delays=1)]  # progress 11/12: tasks 70 x 35/36 = 68.0556
    result = score(VN, SPECIALIST, ScoringInputs(supervisor((10, 10, "1.94"), items)))
    assert Decimal("89.995") <= result.total < 90
    assert result.class_id == "well_completed"
    assert shown_total(result.exact_total, VN) == Decimal("89.99")
    out = lines(result)
    total = next(line for line in out if line.kind == "total")
    assert total.shown == "89.99"
    assert total.text("en") == ("Total: 89.99 of 100 (exactly 89.995556...: the class is "
                                "decided on the exact total, so it is not rounded up to 90.00)")
    assert total.text("vi").startswith("Tổng điểm: 89,99/100 (chính xác 89,995556...")
    assert "Class by score: Well completed (70 to under 90)" in texts(out)


def test_a_total_just_above_a_threshold_is_shown_half_up() -> None:
    assert shown_total(Decimal("90.004"), VN) == Decimal("90.00")
    assert shown_total(Decimal("74.385"), VN) == Decimal("74.39")
    assert shown_total(Decimal("69.995"), VN) == Decimal("69.99")
    assert shown_total(Decimal("49.9951"), VN) == Decimal("49.99")


def test_shown_lines_add_up_to_the_shown_total_by_largest_remainder() -> None:
    thirds = [Fraction(100, 3)] * 3
    assert apportion(thirds, Decimal("100.00")) == [Decimal("33.34"), Decimal("33.33"),
                                                    Decimal("33.33")]


def test_breakdown_shows_inputs_deductions_waivers_and_why_in_both_languages() -> None:
    items = [TaskItem("Báo cáo quý", True, True, 1, 0),
             TaskItem("Thẩm định hồ sơ", True, True, 0, 2, None, WAIVER),
             TaskItem("Dự thảo kế hoạch", False),
             TaskItem("Trả lời kiến nghị", True, True, 0, 1, None, Waiver("", "khách quan"))]
    regime = VN.model_copy(update={"source_weights": {Source.SUPERVISOR: Decimal(1),
                                                      Source.PEER: Decimal("0.25")}})
    inputs = ScoringInputs(
        supervisor((8, "7.5", 9), items), self_assessment=SourceInput(points=rubric(9, 9, 9)),
        peers=[SourceInput(points=rubric(6, 6, 6))] * 3,
        overrides=[OverrideNote("discipline_reprimand_or_higher", "QĐ 45/QĐ-SNV", "SNV060",
                                "2026-05-10T02:00:00+00:00")])
    out = lines(score(regime, SPECIALIST, inputs))
    en, vi = texts(out, "en"), texts(out, "vi")
    assert "    supervisor 8.00; own proposal 9.00 (advisory); colleagues 6.00, the mean of 3 " \
           "answers; weighted mean, weights supervisor 1, colleagues 0.25" in en
    assert "      item 1 «Báo cáo quý»: quality -25% for 1 failed assessment(s)" in en
    assert ("      item 2 «Thẩm định hồ sơ»: progress deduction for 2 delay(s) waived by "
            f"{WAIVER.approver}: {WAIVER.reason}") in en
    assert "      item 3 «Dự thảo kế hoạch»: not completed (no quantity, quality or progress " \
           "point)" in en
    assert "      item 4 «Trả lời kiến nghị»: waiver ignored: it needs a named approver and a " \
           "reason" in en
    assert "      sản phẩm 1 «Báo cáo quý»: chất lượng bị trừ 25% do 1 lần thẩm định không đạt" \
        in vi
    assert ("Override: Disciplined (reprimand or higher) in the year (document QĐ 45/QĐ-SNV, "
            "recorded by SNV060 on 2026-05-10): at most Not completed") in en
    assert en[-1] == "Class: Not completed" and vi[-1] == "Xếp loại: Không hoàn thành nhiệm vụ"


def test_renormalisation_is_explained() -> None:
    inputs = ScoringInputs(supervisor((10, 10, 10), [item()], organising_capacity=14),
                           subordinates=[], is_leader=True)
    en = texts(lines(score(VN, LEADER, inputs)))
    assert "  Results of the unit led: nobody under their management in the cycle; left out, " \
           "not counted as zero" in en
    assert "  renormalised: the criteria given carry 56 of 70 points, so each is scaled by " \
           "1.25" in en
    assert "  Own assigned products and work items: 42.00 of 42, x 1.25 = 52.50" in en


def test_unit_results_name_who_is_below() -> None:
    inputs = ScoringInputs(supervisor((10, 10, 10), [item()], organising_capacity=14),
                           subordinates=team("completed", "not_completed", None),
                           is_leader=True)
    en = texts(lines(score(VN, LEADER, inputs)))
    assert "    2 people under their management scored, 1 below «Completed»: 50% of the " \
           "points" in en
    assert "      below «Completed»: P1 (Not completed)" in en
    assert "      1 not scored yet: recomputed when they are" in en
