"""appeal_window: the reviewee has the result and may accept it or appeal with reasons.
Silence until the deadline is acceptance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow.domain import State, Trigger
from workflow.scoring.model import Framework
from workflow.states.base import DeadlineRule, Notice, StateSpec
from workflow.states.forms import FieldErrors, text


def validate_appeal(payload: Mapping[str, Any], _framework: Framework) -> dict[str, Any]:
    errors = FieldErrors()
    clean = {"reasons": text(payload.get("reasons"), "reasons", errors, required=True)}
    errors.raise_if_any()
    return clean


def validate_acceptance(payload: Mapping[str, Any], _framework: Framework) -> dict[str, Any]:
    errors = FieldErrors()
    clean = {"comment": text(payload.get("comment"), "comment", errors)}
    errors.raise_if_any()
    return clean


SPEC = StateSpec(
    state=State.APPEAL_WINDOW,
    summary="The reviewee accepts or appeals; accepted by silence at the deadline.",
    waits_on="reviewee",
    deadline=DeadlineRule(moves_with=Trigger.APPEAL_WINDOW_CLOSED),
    on_enter=(Notice("result", "reviewee"),),
    validators={
        Trigger.LODGE_APPEAL: validate_appeal,
        Trigger.ACCEPT_RESULT: validate_acceptance,
    },
)
