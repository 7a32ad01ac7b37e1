"""Scoring by regime: pure functions over validated regime and framework data."""

from workflow.scoring.compute import (
    ScoreResult,
    ScoringInputs,
    SourceInput,
    TaskItem,
    Waiver,
    score,
    shown,
)
from workflow.scoring.model import Criterion, CriterionKind, Framework, Regime, Source

__all__ = [
    "Criterion",
    "CriterionKind",
    "Framework",
    "Regime",
    "ScoreResult",
    "ScoringInputs",
    "Source",
    "SourceInput",
    "TaskItem",
    "Waiver",
    "score",
    "shown",
]
