"""peer_input: nominated colleagues give advisory input, anonymous to the reviewee.

Fewer answers than the regime's ``peer_min_responses`` are withheld from everyone:
with two answers, each peer could be identified.
"""

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
from workflow.states.forms import FieldErrors, criteria_points, refuse_unknown, text


def validate_peer_input(payload: Mapping[str, Any], framework: Framework) -> dict[str, Any]:
    """Points on the peer-rated criteria and a comment."""
    errors = FieldErrors()
    refuse_unknown(payload, {"criteria", "comment"}, errors)
    clean = {
        "criteria": criteria_points(payload, framework, errors, only_peer_rated=True),
        "comment": text(payload.get("comment"), "comment", errors),
    }
    errors.raise_if_any()
    return clean


# What an answer makes of the peer's assignments (on SQLite the schema's trigger
# submission_answers_peer sets it in the answer's INSERT: service/transition.py).
ANSWERED = "answered"


def peer_answered(ctx: TriggerContext) -> TriggerEffect:
    """The answering peer's assignment is answered."""
    return TriggerEffect(assignment_status=tuple(
        (a.id, ANSWERED) for a in ctx.peers() if a.person_id == ctx.actor_id))


def peer_input_closed(ctx: TriggerContext) -> TriggerEffect:
    """The deadline closes the round: the silent peers' assignments are closed, and too
    few answers are flagged (they are then withheld from everyone)."""
    answered = len(ctx.peers("answered"))
    return TriggerEffect(
        values={"peer_quorum_not_reached": True} if answered < ctx.min_peer_responses else {},
        assignment_status=tuple((a.id, "closed") for a in ctx.peers("pending")))


SPEC = StateSpec(
    state=State.PEER_INPUT,
    summary="Nominated peers answer; closes when all have answered or at the deadline.",
    waits_on="peers",
    deadline=DeadlineRule(moves_with=Trigger.PEER_INPUT_CLOSED),
    on_enter=(Notice("task_peer_input", "peers"),),
    validators={Trigger.SUBMIT_PEER_INPUT: validate_peer_input},
    effects={Trigger.SUBMIT_PEER_INPUT: peer_answered,
             Trigger.PEER_INPUT_CLOSED: peer_input_closed},
)
