"""The columns of the per-evaluation report, shared by the CSV and the XLSX writers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from workflow.reports.facts import FLAG_NAMES
from workflow.reports.rows import EvaluationRow, local

Kind = Literal["text", "int", "score", "bool", "datetime"]
APPEAL_OUTCOMES = {"uphold_score": "upheld", "revise_score": "revised"}


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind
    value: Callable[[EvaluationRow], Any]
    width: int = 14


def _moves(row: EvaluationRow, tz: str) -> str:
    return " | ".join(
        f"{m.from_class} -> {m.to_class} by {m.by} on "
        f"{local(m.at, tz):%Y-%m-%d %H:%M}: {m.reason}" for m in row.moves)


def _outcome(row: EvaluationRow) -> str:
    if row.appeal is None:
        return ""
    return APPEAL_OUTCOMES.get(row.appeal.decision or "", "pending")


def columns(criteria: Sequence[tuple[str, str]], tz: str,
            class_labels: dict[str, str]) -> list[Column]:
    """Every column, the criteria of the cycle's frameworks in the middle."""
    def points(criterion: str) -> Callable[[EvaluationRow], Any]:
        return lambda r: r.shown_points(criterion)

    cols = [
        Column("evaluation_id", "int", lambda r: r.evaluation_id, 10),
        Column("employee_id", "text", lambda r: r.reviewee_id, 12),
        Column("full_name", "text", lambda r: r.reviewee_name, 28),
        Column("unit_id", "text", lambda r: r.unit_id, 9),
        Column("unit", "text", lambda r: r.unit_name, 24),
        Column("position_group", "text", lambda r: r.position_group),
        Column("task_group", "text", lambda r: r.task_group, 10),
        Column("leader", "bool", lambda r: r.is_leader, 8),
        Column("supervisor_id", "text", lambda r: r.supervisor_id, 12),
        Column("scored_by", "text", lambda r: r.scored_by, 12),
        Column("state", "text", lambda r: r.state, 18),
        Column("score", "score", lambda r: r.shown_score, 9),
        Column("class_by_score", "text", lambda r: r.score_class, 16),
        Column("final_class", "text", lambda r: r.final_class, 16),
        Column("final_class_label", "text",
               lambda r: class_labels.get(r.final_class or "", ""), 24),
        Column("scored_at", "datetime", lambda r: local(r.scored_at, tz), 17),
        Column("framework", "text", lambda r: r.framework, 18),
    ]
    cols += [Column(f"points:{cid}", "score", points(cid), 12) for cid, _label in criteria]
    cols += [
        Column("overrides", "text", lambda r: ", ".join(r.forced_by), 20),
        Column("calibration_moves", "int", lambda r: len(r.moves), 10),
        Column("calibration_detail", "text", lambda r: _moves(r, tz), 40),
        Column("appealed", "bool", lambda r: r.appeal is not None, 9),
        Column("appeal_reasons", "text", lambda r: r.appeal.reasons if r.appeal else "", 30),
        Column("appeal_outcome", "text", _outcome, 12),
        Column("appeal_decision_reason", "text",
               lambda r: (r.appeal.decision_reason or "") if r.appeal else "", 30),
        Column("appeal_reviewer_id", "text",
               lambda r: (r.appeal.reviewer_id or "") if r.appeal else "", 12),
    ]
    cols += [Column(flag, "bool", _flag(flag), 10) for flag in FLAG_NAMES]
    return cols


def _flag(name: str) -> Callable[[EvaluationRow], Any]:
    return lambda r: r.flags[name]
