"""Recognising a waiver's approver among those allowed to confirm it (pure)."""

from __future__ import annotations

from workflow.scoring.tasks import (
    APPROVER_AMBIGUOUS,
    APPROVER_NOT_ALLOWED,
    NOBODY_APPROVES,
    Approver,
    confirm_waivers,
)

TWINS = [Approver("P7", "Nguyễn Văn <b>An</b>"), Approver("P9", "Nguyễn Văn <b>An</b>"),
         Approver("D1", "Giám đốc Nguyễn Thị Sở")]


def item(approver: str, kind: str = "quality_waiver") -> dict[str, object]:
    return {"title": "Hồ sơ \"số 1\"", "completed": True, "meets_requirements": True,
            "failed_assessments": 1, kind: {"approver": approver, "reason": "bão"}}


def test_a_name_two_approvers_share_must_be_written_as_the_id() -> None:
    _, problems = confirm_waivers([item("nguyễn văn <B>an</b>")], TWINS)
    problem = problems["tasks[0].quality_waiver.approver"]
    assert problem.message == APPROVER_AMBIGUOUS
    assert "(Nguyễn Văn <b>An</b> (P7), Nguyễn Văn <b>An</b> (P9)): write the employee id" \
        in problem
    confirmed, problems = confirm_waivers([item("p9")], TWINS)
    assert problems == {}
    assert confirmed[0]["quality_waiver"] == {"approver": "Nguyễn Văn <b>An</b>",
                                              "approver_id": "P9", "reason": "bão"}


def test_nobody_to_approve_and_an_unknown_approver_are_told_apart() -> None:
    items = [item("D1"), item("X", "progress_waiver"), {"title": "no waiver",
                                                        "completed": False}]
    _, nobody = confirm_waivers(items, [])
    assert {k: p.message for k, p in nobody.items()} == {
        "tasks[0].quality_waiver.approver": NOBODY_APPROVES,
        "tasks[1].progress_waiver.approver": NOBODY_APPROVES}
    confirmed, problems = confirm_waivers(items, TWINS)
    assert list(problems) == ["tasks[1].progress_waiver.approver"]
    assert problems["tasks[1].progress_waiver.approver"].message == APPROVER_NOT_ALLOWED
    assert "item 2 «no waiver»" not in problems["tasks[1].progress_waiver.approver"]
    assert confirmed[2] == items[2]
