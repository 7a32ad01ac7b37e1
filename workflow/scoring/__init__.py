"""Scoring by regime: pure functions over validated regime and framework data."""

from workflow.scoring.compute import (
    OverrideNote,
    ScoreNotComputable,
    ScoreResult,
    ScoringInputs,
    SourceInput,
    Subordinate,
    TaskItem,
    Waiver,
    score,
    shown,
    stamp,
    to_decimal,
)
from workflow.scoring.explain import Line, lines, shown_total
from workflow.scoring.model import Criterion, CriterionKind, Framework, Regime, Source
from workflow.scoring.periods import PeriodScore

__all__ = [
    "Criterion",
    "CriterionKind",
    "Framework",
    "Line",
    "OverrideNote",
    "PeriodScore",
    "Regime",
    "ScoreNotComputable",
    "ScoreResult",
    "ScoringInputs",
    "Source",
    "SourceInput",
    "Subordinate",
    "TaskItem",
    "Waiver",
    "lines",
    "score",
    "shown",
    "shown_total",
    "stamp",
    "to_decimal",
]
