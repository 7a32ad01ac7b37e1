"""self_assessment: the reviewee reports their results per indicator, with evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow.domain import State, Trigger
from workflow.scoring.model import Framework
from workflow.states.base import (
    DeadlineRule,
    Notice,
    StateSpec,
    TriggerContext,
    TriggerEffect,
)
from workflow.states.forms import (
    FieldErrors,
    criteria_points,
    ratio_actuals,
    refuse_unknown,
    task_items,
    text,
)


def validate_self_assessment(payload: Mapping[str, Any], framework: Framework) -> dict[str, Any]:
    """Proposed points per rubric criterion, actuals per ratio, the task items, a note."""
    errors = FieldErrors()
    refuse_unknown(payload, {"criteria", "ratios", "tasks", "note"}, errors)
    clean: dict[str, Any] = {
        "criteria": criteria_points(payload, framework, errors, with_evidence=True),
        "ratios": ratio_actuals(payload, framework, errors, with_evidence=True),
        "tasks": task_items(payload, framework, errors, with_evidence=True),
        "note": text(payload.get("note"), "note", errors),
    }
    errors.raise_if_any()
    return clean


def missed(_ctx: TriggerContext) -> TriggerEffect:
    """The evaluation moves on flagged, so the scorer knows why nothing was reported."""
    return TriggerEffect(values={"self_assessment_missing": True})


SPEC = StateSpec(
    state=State.SELF_ASSESSMENT,
    summary="The reviewee reports results per indicator, with evidence notes.",
    waits_on="reviewee",
    deadline=DeadlineRule(
        moves_with=Trigger.SELF_ASSESSMENT_MISSED,
        missed=(Notice("self_assessment_missed", "reviewee"),
                Notice("self_assessment_missed", "supervisor")),
    ),
    on_enter=(Notice("task_self_assessment", "reviewee"),),
    validators={Trigger.SUBMIT_SELF_ASSESSMENT: validate_self_assessment},
    effects={Trigger.SELF_ASSESSMENT_MISSED: missed},
)
