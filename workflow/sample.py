"""Plausible submissions for a framework, for the demo, the tests and the benchmarks.

Deterministic for a given ``random.Random``: the same seed gives the same cycle.
``level`` (0..1) says how well the person did; the points and task outcomes follow it.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from workflow.scoring.model import CriterionKind, Framework

TASK_TITLES = (
    "Báo cáo tổng hợp tình hình biên chế quý", "Thẩm định hồ sơ tuyển dụng",
    "Dự thảo kế hoạch đào tạo, bồi dưỡng", "Trả lời kiến nghị của công dân",
    "Cập nhật cơ sở dữ liệu cán bộ, công chức", "Tổng hợp kết quả đánh giá tháng",
    "Dự thảo quyết định nâng lương", "Kiểm tra công tác văn thư lưu trữ",
)


def _points(rng: random.Random, maximum: Decimal, level: float) -> str:
    share = min(1.0, max(0.0, rng.gauss(level, 0.06)))
    value = (maximum * Decimal(str(share))).quantize(Decimal("0.5"), rounding=ROUND_HALF_UP)
    return str(min(value, maximum))


def task_items(rng: random.Random, level: float, count: int | None = None
               ) -> list[dict[str, Any]]:
    items = []
    for i in range(count or rng.randint(3, 6)):
        completed = rng.random() < 0.55 + 0.45 * level
        items.append({
            "title": TASK_TITLES[i % len(TASK_TITLES)],
            "completed": completed,
            "meets_requirements": completed and rng.random() < 0.5 + 0.5 * level,
            "failed_assessments": 0 if rng.random() < level else 1,
            "delays": 0 if rng.random() < level else rng.randint(1, 2),
        })
        if not completed:
            # Drawn all the same (the rest of the sample stays as it was), but only a
            # completed item can be late or fail an assessment.
            items[-1].update(failed_assessments=0, delays=0)
    return items


def score(framework: Framework, rng: random.Random, level: float,
          tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A supervisor's score: points for every rubric criterion, the items confirmed."""
    payload: dict[str, Any] = {"criteria": {}, "ratios": {}, "comment": "Đánh giá theo kết quả."}
    for c in framework.criteria:
        if c.kind is CriterionKind.RUBRIC:
            payload["criteria"][c.id] = {"points": _points(rng, c.max, level)}
        elif c.kind is CriterionKind.RATIO and c.target is not None:
            payload["ratios"][c.id] = {"actual": str(int(c.target * Decimal(str(level))))}
    if any(c.kind is CriterionKind.TASKS for c in framework.criteria):
        payload["tasks"] = tasks if tasks is not None else task_items(rng, level)
    return payload


def self_assessment(framework: Framework, rng: random.Random, level: float
                    ) -> dict[str, Any]:
    """The reviewee's proposal: a little more generous than the truth, with evidence."""
    proposal = score(framework, rng, min(1.0, level + 0.05))
    for entry in proposal["criteria"].values():
        entry["evidence"] = "Hoàn thành đầy đủ, đúng hạn."
    proposal["note"] = "Tự đánh giá theo sản phẩm đã hoàn thành trong kỳ."
    proposal.pop("comment", None)
    return proposal


def peer_input(framework: Framework, rng: random.Random, level: float) -> dict[str, Any]:
    criteria = {c.id: {"points": _points(rng, c.max, level)}
                for c in framework.criteria if c.kind is CriterionKind.RUBRIC and c.peer_rated}
    return {"criteria": criteria, "comment": "Phối hợp tốt."}
