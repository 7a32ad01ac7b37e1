"""The columns of the per-evaluation report, shared by the CSV and the XLSX writers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from workflow import catalog
from workflow.catalog import N_
from workflow.reports import words
from workflow.reports.facts import FLAG_NAMES
from workflow.reports.rows import EvaluationRow, local
from workflow.service import year_end_standing

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


def class_label(row: EvaluationRow, class_labels: Mapping[str, str], locale: str) -> str:
    """The final class as people read it, with what a year-end class below the regime's
    minimum months says on the result page: not classified, or on the months worked."""
    label = class_labels.get(row.final_class or "", "")
    return label if row.year_end is None else year_end_standing.said(row.year_end, label,
                                                                      locale)


def columns(criteria: Sequence[tuple[str, str]], tz: str,
            class_labels: dict[str, str], locale: str = "en") -> list[Column]:
    """Every column, the criteria of the cycle's frameworks in the middle; ``locale``:
    the language of the class labels (``class_labels``) and of their notes."""
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
        Column("final_class_label", "text", lambda r: class_label(r, class_labels, locale), 24),
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


# The headers people read when the report is asked for in a language (`--lang`);
# without one, the column ids above stay: scripts read them.
HEADERS = {
    "evaluation_id": N_("Evaluation"), "employee_id": N_("Employee id"),
    "full_name": N_("Full name"), "unit_id": N_("Unit id"), "unit": N_("Unit"),
    "position_group": N_("Position group"), "task_group": N_("Task group"),
    "leader": N_("Leader"), "supervisor_id": N_("Supervisor"), "scored_by": N_("Scored by"),
    "state": N_("State"), "score": N_("Score"), "class_by_score": N_("Class by score (id)"),
    "final_class": N_("Final class (id)"), "final_class_label": N_("Final class"),
    "scored_at": N_("Scored at"), "framework": N_("Criteria set"),
    "overrides": N_("Overrides"), "calibration_moves": N_("Calibration moves"),
    "calibration_detail": N_("Calibration detail"), "appealed": N_("Appealed"),
    "appeal_reasons": N_("Appeal reasons"), "appeal_outcome": N_("Appeal outcome"),
    "appeal_decision_reason": N_("Reason for the appeal decision"),
    "appeal_reviewer_id": N_("Appeal reviewer"),
}
POINTS_OF = N_("Points: %(criterion)s")


def localised(cols: Sequence[Column], locale: str, criterion_labels: Mapping[str, str]
              ) -> list[Column]:
    """The columns with headers in ``locale`` and the states and flags in its words."""
    out = []
    for c in cols:
        header = c.header
        if header.startswith("points:"):
            cid = header.removeprefix("points:")
            title = catalog.gettext(locale, POINTS_OF, criterion=criterion_labels.get(cid, cid))
        elif header in HEADERS:
            title = catalog.gettext(locale, HEADERS[header])
        else:
            title = words.flag(header, locale)
        value = _state_words(c.value, locale) if header == "state" else c.value
        out.append(replace(c, header=title, value=value))
    return out


def _state_words(get: Callable[[EvaluationRow], Any], locale: str
                 ) -> Callable[[EvaluationRow], Any]:
    return lambda r: words.state(str(get(r)), locale)
