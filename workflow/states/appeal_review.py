"""appeal_review: an appeal reviewer, never the person who gave the score, upholds the
score (and may restore the class calibration moved) or revises it with a new score and
a reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow.catalog import N_
from workflow.domain import State, Trigger
from workflow.scoring.model import Framework
from workflow.states.base import DeadlineRule, Notice, StateSpec
from workflow.states.forms import FieldErrors, refuse_unknown, text
from workflow.states.supervisor_scoring import validate_score


def validate_uphold(payload: Mapping[str, Any], _framework: Framework) -> dict[str, Any]:
    errors = FieldErrors()
    refuse_unknown(payload, {"reason", "restore_class"}, errors)
    clean: dict[str, Any] = {"reason": text(payload.get("reason"), "reason", errors,
                                            required=True)}
    errors.raise_if_any()
    # Upholding the score may also restore the class calibration moved it from (the
    # service checks the quota); the key is there only when asked, so an upheld
    # appeal without it is recorded exactly as before.
    if payload.get("restore_class") in (True, "1", "on", "yes"):
        clean["restore_class"] = True
    return clean


def validate_revision(payload: Mapping[str, Any], framework: Framework) -> dict[str, Any]:
    """A reason and a whole new score, in the form the supervisor used."""
    errors = FieldErrors()
    refuse_unknown(payload, {"reason", "score"}, errors)
    reason = text(payload.get("reason"), "reason", errors, required=True)
    score = payload.get("score")
    if not isinstance(score, Mapping):
        errors.add("score", N_("a revision needs the new score"))
        errors.raise_if_any()
        raise AssertionError("unreachable")
    errors.raise_if_any()
    return {"reason": reason, "score": validate_score(score, framework)}


SPEC = StateSpec(
    state=State.APPEAL_REVIEW,
    summary="The appeal reviewer upholds or revises; reminders, then escalation to admins.",
    waits_on="appeal_reviewer",
    deadline=DeadlineRule(moves_with=None, escalates=True),
    on_enter=(Notice("task_appeal_review", "appeal_reviewer"),
              Notice("appeal_lodged", "supervisor")),
    validators={
        Trigger.UPHOLD_SCORE: validate_uphold,
        Trigger.REVISE_SCORE: validate_revision,
    },
)
