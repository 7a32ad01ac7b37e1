"""appeal_window: the reviewee has the result and may accept it or appeal with reasons.
Silence until the deadline is acceptance."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workflow.cycle_config import CycleFile
from workflow.domain import State, Trigger
from workflow.effects.ports import People
from workflow.scoring.model import Framework
from workflow.states.base import DeadlineRule, Notice, StateSpec
from workflow.states.forms import FieldErrors, refuse_unknown, text


def validate_appeal(payload: Mapping[str, Any], _framework: Framework) -> dict[str, Any]:
    errors = FieldErrors()
    refuse_unknown(payload, {"reasons"}, errors)
    clean = {"reasons": text(payload.get("reasons"), "reasons", errors, required=True)}
    errors.raise_if_any()
    return clean


def validate_acceptance(payload: Mapping[str, Any], _framework: Framework) -> dict[str, Any]:
    errors = FieldErrors()
    refuse_unknown(payload, {"comment"}, errors)
    clean = {"comment": text(payload.get("comment"), "comment", errors)}
    errors.raise_if_any()
    return clean


def appeal_reviewer(row: Mapping[str, Any], config: CycleFile, admins: Iterable[str],
                    people: People, recused: Iterable[str] = (), *,
                    scorer_decides: bool = False) -> str | None:
    """Who reviews an appeal lodged on ``row``.

    By default (the regime's ``petition.resolved_by: evaluator_superior``): the council
    the cycle file names, else the supervisor's supervisor, else the one the cycle file
    names under ``recusal.appeal_review``, else the scorer's supervisor, else the first
    admin; never the scorer. With ``scorer_decides`` (``resolved_by: evaluator``): the
    one who classified it, the scorer, and only when they may not (their own evaluation,
    a conflict of interest) that same line. Never the reviewee, never one of
    ``recused``. ``people`` holds the supervisor and the scorer."""
    scorer = row["scored_by"]
    barred = {row["reviewee_id"], *recused}
    if scorer_decides and scorer and scorer not in barred:
        return str(scorer)
    barred.add(scorer)

    def above(person_id: str | None) -> str | None:
        if not person_id:
            return None
        person = people.get(person_id)
        return (person.supervisor_id if person else None) or config.evaluators.get(person_id)

    for candidate in (config.appeal_reviewer, above(row["supervisor_id"]),
                      config.recusal.appeal_review, above(scorer)):
        if candidate and candidate not in barred:
            return candidate
    others = sorted(a for a in admins if a not in barred)
    return others[0] if others else None


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
