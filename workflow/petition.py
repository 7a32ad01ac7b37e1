"""The petition phases of a cycle, from its regime's petition rules. Pure.

A regime with a ``petition:`` section gives the due time of the appeal_window (the
reviewee's time to petition, kiến nghị) and of appeal_review (the time to resolve
it). ``with_petition_phases`` turns those rules into the cycle's two phases, so that
everything downstream (deadline rows, reminders, the sweep, `kpi cycle check`) runs
them as it runs any phase. A cycle file that sets the phases itself:
- keeps them as overrides when the regime allows it (``cycle_may_override``; the
  Decree 335 regime does, so every cycle file written before the rule existed runs as
  it did);
- is refused, at the line of the key, when the regime does not (the Law on Public
  Employees fixes 5 days and 10 working days).
A regime without petition rules leaves both phases to the cycle file, as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflow.cycle_config import PETITION_PHASES, CycleFile, DaysAfter, Phase, WorkingDaysAfter
from workflow.domain import State
from workflow.effects.ports import People, RulesLike
from workflow.effects.rows import phase_timers
from workflow.scoring.model import Regime
from workflow.scoring.petition import PetitionRules, PetitionTime
from workflow.timing import PhaseWindow, phase_window

Problem = tuple[tuple[str | int, ...], str]

# Which rule of the regime gives each phase, and how `kpi cycle check` names it.
RULE_OF_PHASE: dict[State, str] = {
    State.APPEAL_WINDOW: "window",
    State.APPEAL_REVIEW: "resolution",
}


def due_of(time: PetitionTime) -> DaysAfter | WorkingDaysAfter:
    """The phase due that a petition time gives: N days or N working days after it opens."""
    if time.days is not None:
        return DaysAfter(days=time.days)
    assert time.working_days is not None
    return WorkingDaysAfter(working_days=time.working_days)


def _rule_time(rules: PetitionRules, state: State) -> PetitionTime:
    return rules.window if state is State.APPEAL_WINDOW else rules.resolution


def with_petition_phases(cycle: CycleFile, regime: Regime) -> tuple[CycleFile, list[Problem]]:
    """The cycle with both petition phases set, and the problems (key path, message) of
    a cycle file that sets them against its regime's rules, or lacks them without any."""
    rules = regime.petition
    problems: list[Problem] = []
    if rules is None:
        for state in PETITION_PHASES:
            if state not in cycle.phases:
                problems.append((("phases",), (
                    f"{state.value}: regime {regime.id} has no petition rules, so the cycle "
                    f"file sets this phase: add phases.{state.value}.due (e.g. "
                    "{working_days: 5})")))
        return cycle, problems
    phases = dict(cycle.phases)
    for state in PETITION_PHASES:
        time = _rule_time(rules, state)
        if state in cycle.phases:
            if not rules.cycle_may_override:
                problems.append((("phases", state.value), (
                    f"the {_phase_word(state)} now comes from regime {regime.id} "
                    f"({time.describe()}"
                    f"{_start_words(rules) if state is State.APPEAL_WINDOW else ''}), which "
                    f"does not let a cycle change it: remove phases.{state.value} from the "
                    "cycle file")))
            continue
        phases[state] = Phase(due=due_of(time))
    return cycle.model_copy(update={"phases": phases}), problems


def _phase_word(state: State) -> str:
    return "petition window" if state is State.APPEAL_WINDOW else "time to resolve a petition"


def _start_words(rules: PetitionRules) -> str:
    return " of the publication of the unit's results" if rules.starts == "publication" \
        else " of the result's notification"


def source_of(cycle_file: CycleFile, regime: Regime, state: State) -> str:
    """Where a petition phase's due comes from, for `kpi cycle check`: the cycle file
    (and whether it overrides the regime), or the regime's rule."""
    if state not in PETITION_PHASES:
        return "cycle file"
    if state in cycle_file.phases:
        return "cycle file, overriding the regime" if regime.petition else "cycle file"
    return f"regime {regime.id}, petition.{RULE_OF_PHASE[state]}"


def starts_at_publication(regime: Regime) -> bool:
    """Whether the petition window runs from the publication of the unit's results."""
    return regime.petition is not None and regime.petition.starts == "publication"


def window_from_publication(rules: RulesLike, evaluation_id: int | None, reviewee_id: str,
                            published_at: datetime, people: People
                            ) -> tuple[PhaseWindow, list[dict[str, Any]]]:
    """The petition window of an evaluation waiting in the appeal window when its unit's
    results are published at ``published_at`` (``petition.starts: publication``): its
    deadline, and its rows, the reviewee's reminders counting from the publication.
    The service applies it to the store (``publication``), the simulation to its walk."""
    due = phase_window(rules.config, rules.calendar, State.APPEAL_WINDOW, published_at).due_at
    window = PhaseWindow(State.APPEAL_WINDOW, published_at, due)
    return window, phase_timers(rules, evaluation_id, window, [reviewee_id], people)
