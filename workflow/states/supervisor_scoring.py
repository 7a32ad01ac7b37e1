"""supervisor_scoring: the supervisor, an acting supervisor or, after escalation, the
supervisor's own supervisor scores. Never scored by the machine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow.domain import State, Trigger
from workflow.scoring.model import Framework
from workflow.states.base import DeadlineRule, Notice, StateSpec
from workflow.states.forms import (
    FieldErrors,
    criteria_points,
    ratio_actuals,
    refuse_unknown,
    task_items,
    text,
)


def validate_score(payload: Mapping[str, Any], framework: Framework) -> dict[str, Any]:
    """Points for every rubric criterion, confirmed actuals and task items, a comment."""
    errors = FieldErrors()
    refuse_unknown(payload, {"criteria", "ratios", "tasks", "comment"}, errors)
    clean: dict[str, Any] = {
        "criteria": criteria_points(payload, framework, errors),
        "ratios": ratio_actuals(payload, framework, errors),
        "tasks": task_items(payload, framework, errors, with_waivers=True),
        "comment": text(payload.get("comment"), "comment", errors),
    }
    errors.raise_if_any()
    return clean


SPEC = StateSpec(
    state=State.SUPERVISOR_SCORING,
    summary="The supervisor scores; reminders, then escalation up the line.",
    waits_on="scorers",
    deadline=DeadlineRule(moves_with=None, escalates=True),
    on_enter=(Notice("task_supervisor_scoring", "scorers"),),
    on_enter_by={Trigger.REOPEN: (Notice("reopened", "reviewee"),
                                  Notice("task_supervisor_scoring", "scorers"))},
    validators={Trigger.SUBMIT_SCORE: validate_score},
)
