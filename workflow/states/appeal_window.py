"""appeal_window: the reviewee has the result and may accept it or appeal with reasons.
Silence until the deadline is acceptance."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from workflow.cycle_config import CycleFile
from workflow.domain import State, Trigger
from workflow.effects.ports import People
from workflow.evaluation_rows import EvaluationRecord
from workflow.scoring.model import Framework
from workflow.states.base import DeadlineRule, Notice, StateSpec, TriggerContext, TriggerEffect
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


def appeal_reviewer(row: EvaluationRecord, config: CycleFile, admins: Iterable[str],
                    people: People, recused: Iterable[str] = (), *,
                    scorer_decides: bool = False) -> str | None:
    """Who reviews an appeal lodged on ``row``.

    By default (the regime's ``petition.resolved_by: evaluator_superior``): the council
    the cycle file names, else the supervisor's supervisor, else the one the cycle file
    names under ``recusal.appeal_review``, else the scorer's supervisor, else the first
    admin; never the scorer. With ``scorer_decides`` (``resolved_by: evaluator``): the
    one who classified it, the scorer, and only when they may not (their own evaluation,
    a conflict of interest) that same line. Never the reviewee, never one of
    ``recused``. ``people`` holds the supervisor and the scorer.

    A petition against a petition's decision (the regime's ``re_review``; the row's
    ``petition_round`` is then 1 or more): see ``re_reviewer``."""
    if row.petition_round >= 1:
        return re_reviewer(row, config, admins, people, recused)
    scorer = row.scored_by
    barred: set[str | None] = {row.reviewee_id, *recused}
    if scorer_decides and scorer and scorer not in barred:
        return str(scorer)
    barred.add(scorer)
    above = partial(_above, config, people)
    for candidate in (config.appeal_reviewer, above(row.supervisor_id),
                      config.recusal.appeal_review, above(scorer)):
        if candidate and candidate not in barred:
            return candidate
    return _first_admin(admins, barred)


def re_reviewer(row: EvaluationRecord, config: CycleFile, admins: Iterable[str],
                people: People, recused: Iterable[str] = ()) -> str | None:
    """Who reviews a petition against the decision of the previous one: the cycle
    file's ``re_appeal_reviewer``, else the next person up from whoever decided it
    (the row's ``appeal_reviewer_id``: their supervisor, or the evaluator the cycle
    file names for the head of the agency), else ``recusal.appeal_review``, else the
    first admin. Never the reviewee, the scorer, the one who decided, or one of
    ``recused`` (a conflict of interest). ``people`` holds the one who decided."""
    decided_by = row.appeal_reviewer_id
    barred = {row.reviewee_id, row.scored_by, decided_by, *recused}
    for candidate in (config.re_appeal_reviewer, _above(config, people, decided_by),
                      config.recusal.appeal_review):
        if candidate and candidate not in barred:
            return str(candidate)
    return _first_admin(admins, barred)


def _above(config: CycleFile, people: People, person_id: str | None) -> str | None:
    """The person's supervisor, or the evaluator the cycle file names for them."""
    if not person_id:
        return None
    person = people.get(person_id)
    return (person.supervisor_id if person else None) or config.evaluators.get(person_id)


def _first_admin(admins: Iterable[str], barred: set[str | None]) -> str | None:
    others = sorted(a for a in admins if a not in barred)
    return others[0] if others else None


def lodged(ctx: TriggerContext) -> TriggerEffect:
    """A petition lodged: the evaluation counts it (``petition_round``), so that its
    decision knows whether it may be petitioned again and who reviews the next one."""
    return TriggerEffect(values={"petition_round": ctx.petition_round + 1})


SPEC = StateSpec(
    state=State.APPEAL_WINDOW,
    summary="The reviewee accepts or appeals; accepted by silence at the deadline. "
            "Entered again after a petition's decision where the regime allows a re-review.",
    waits_on="reviewee",
    deadline=DeadlineRule(moves_with=Trigger.APPEAL_WINDOW_CLOSED),
    on_enter=(Notice("result", "reviewee"),),
    # A decision the regime lets the person petition again (re_review): the decision
    # email opens the new window, it says until when and to whom.
    on_enter_by={
        Trigger.UPHOLD_SCORE: (Notice("appeal_decided", "reviewee"),),
        Trigger.REVISE_SCORE: (Notice("appeal_decided", "reviewee"),
                               Notice("appeal_decided", "supervisor")),
    },
    validators={
        Trigger.LODGE_APPEAL: validate_appeal,
        Trigger.ACCEPT_RESULT: validate_acceptance,
    },
    effects={Trigger.LODGE_APPEAL: lodged},
)
