"""What the edges (web pages, `kpi` commands) look up, each in a read transaction of its own.

The edges import no store and no SQLAlchemy (the import contract in pyproject.toml):
they call these and get frozen records back, never a session or a row mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from workflow.domain import State
from workflow.scoring.model import Regime
from workflow.service.core import PersonInfo, Service, load_people
from workflow.service.cycles import PopulationPlan
from workflow.service.rules import CycleRules
from workflow.service.simulate import Simulation, simulate_cycle
from workflow.store.tables import EVALUATION


def cycle_rules(svc: Service, cycle_id: str) -> CycleRules:
    """The rules of the stored cycle ``cycle_id``; CycleNotFound when there is none."""
    with svc.store.read() as session:
        return svc.rules.get(session, cycle_id)


def regime_of_evaluation(svc: Service, evaluation_id: int) -> Regime:
    """The regime an evaluation is scored under (its display rule shows its score)."""
    with svc.store.read() as session:
        cycle_id = session.execute(select(EVALUATION.c.cycle_id).where(
            EVALUATION.c.id == evaluation_id)).scalar_one()
        return svc.rules.get(session, cycle_id).regime


def person(svc: Service, person_id: str) -> PersonInfo | None:
    """One person of the organisation, or None when ``person_id`` is unknown."""
    return people(svc, [person_id]).get(person_id)


def people(svc: Service, ids: set[str] | list[str]) -> dict[str, PersonInfo]:
    """The people among ``ids`` who exist, by id."""
    with svc.store.read() as session:
        return load_people(session, ids)


@dataclass(frozen=True, slots=True)
class CycleCheck:
    """`kpi cycle check`'s material: who would be in the cycle, its simulation, and
    everyone either of them names."""

    plan: PopulationPlan
    simulation: Simulation
    people: dict[str, PersonInfo]


def check_cycle(svc: Service, rules: CycleRules, opened_at: datetime) -> CycleCheck:
    """The population of ``rules`` in the current organisation and its simulated
    calendar if the cycle opened at ``opened_at`` and nobody acted."""
    with svc.store.read() as session:
        plan, sim = simulate_cycle(svc, session, rules, opened_at)
        named = load_people(session, {e.recipient_id for e in sim.emails}
                            | {e.member.id for e in plan.evaluations})
    return CycleCheck(plan, sim, named)


@dataclass(frozen=True, slots=True)
class EvaluationLine:
    """One evaluation as `kpi cycle list` prints it."""

    id: int
    reviewee_id: str
    reviewee_name: str  # empty when the person has left the organisation's file
    unit_id: str
    state: State
    due_at: datetime | None
    score: str | None
    final_class: str | None


@dataclass(frozen=True, slots=True)
class EvaluationList:
    cycle_id: str
    timezone: str  # the cycle's, for showing the due dates
    regime: Regime  # its display rule says how the scores are written
    lines: tuple[EvaluationLine, ...]


def list_evaluations(svc: Service, cycle_id: str, *, state: str | None = None,
                     unit: str | None = None) -> EvaluationList:
    """The evaluations of ``cycle_id`` in id order, optionally only those in ``state``
    and of ``unit``; CycleNotFound when the cycle does not exist."""
    with svc.store.read() as session:
        rules = svc.rules.get(session, cycle_id)
        stmt = select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.unit_id,
                      EVALUATION.c.state, EVALUATION.c.due_at, EVALUATION.c.score,
                      EVALUATION.c.final_class).where(EVALUATION.c.cycle_id == cycle_id)
        if state:
            stmt = stmt.where(EVALUATION.c.state == state)
        if unit:
            stmt = stmt.where(EVALUATION.c.unit_id == unit)
        rows = session.execute(stmt.order_by(EVALUATION.c.id)).all()
        names = load_people(session, [r.reviewee_id for r in rows])
    return EvaluationList(cycle_id, rules.tz_name, rules.regime, tuple(
        EvaluationLine(id=r.id, reviewee_id=r.reviewee_id,
                       reviewee_name=names[r.reviewee_id].full_name
                       if r.reviewee_id in names else "",
                       unit_id=r.unit_id, state=State(r.state), due_at=r.due_at,
                       score=r.score, final_class=r.final_class)
        for r in rows))
