"""The lists leaders decide on: who is "not completed" (the measures the law attaches),
who is "excellent" (reward), and who has stayed below "completed" for two or more
consecutive periods (training).

Filtered in SQL; only the people on a list are read into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from workflow.domain import State
from workflow.errors import KpiError
from workflow.reports.facts import CLASS, NOT_CANCELLED, cycle_or_fail
from workflow.reports.stamp import read_stamp
from workflow.scoring.display import shown_total
from workflow.scoring.model import Regime
from workflow.service.core import Service
from workflow.store.tables import CYCLE, EVALUATION, PERSON, UNIT

LISTS = ("not-completed", "excellent", "training")
HEADER = ["cycle_id", "employee_id", "full_name", "unit_id", "unit", "position_group",
          "score", "final_class", "final_class_label", "overrides", "state", "final"]
TRAINING_HEADER = ["employee_id", "full_name", "unit_id", "unit", "position_group",
                   "periods_below", "below_class", "streak"]


class UnknownList(KpiError):
    exit_code = 2


@dataclass(frozen=True)
class Period:
    cycle_id: str
    period_start: date
    score: Decimal | None
    class_id: str


def _people_with_class(session: Session, cycle_id: str, classes: Sequence[str],
                       regime: Regime) -> list[list[object]]:
    labels = {c.id: c.label.en for c in regime.classes}
    rows = session.execute(
        select(EVALUATION.c.reviewee_id, PERSON.c.full_name, EVALUATION.c.unit_id,
               UNIT.c.name.label("unit_name"), EVALUATION.c.position_group, EVALUATION.c.score,
               CLASS.label("klass"), EVALUATION.c.score_stamp, EVALUATION.c.state)
        .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
        .outerjoin(UNIT, UNIT.c.id == EVALUATION.c.unit_id)
        .where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED, CLASS.in_(list(classes)))
        .order_by(EVALUATION.c.unit_id, EVALUATION.c.reviewee_id)).all()
    return [[cycle_id, r.reviewee_id, r.full_name, r.unit_id, r.unit_name or r.unit_id,
             r.position_group, None if r.score is None else shown_total(r.score, regime),
             r.klass,
             labels.get(r.klass, r.klass), ", ".join(read_stamp(r.score_stamp).forced_by),
             r.state, "yes" if r.state == State.FINALISED.value else "no (provisional)"]
            for r in rows]


def decision_list(svc: Service, cycle_id: str, which: str, *, below: str | None = None
                  ) -> tuple[list[str], list[list[object]]]:
    """(header, rows) of one list; ``below`` names the class the training list is under."""
    with svc.store.read() as session:
        cycle_or_fail(session, cycle_id)
        regime = svc.rules.get(session, cycle_id).regime
        if which == "not-completed":
            return HEADER, _people_with_class(session, cycle_id, [regime.classes[-1].id],
                                              regime)
        if which == "excellent":
            return HEADER, _people_with_class(session, cycle_id, [regime.classes[0].id], regime)
        if which == "training":
            return TRAINING_HEADER, training(session, cycle_id, regime, below)
    raise UnknownList(f"no list {which!r}; the lists are {', '.join(LISTS)}")


def floor_class(regime: Regime, below: str | None) -> str:
    """The class the training list counts people under (default: completed)."""
    ids = [c.id for c in regime.classes]
    if below is None:
        below = "completed" if "completed" in ids else ids[-2] if len(ids) > 1 else ids[0]
    if below not in ids:
        raise UnknownList(f"regime {regime.id} has no class {below!r}; its classes are "
                          f"{', '.join(ids)}")
    return below


def streak(periods: Sequence[Period], below: set[str]) -> list[Period]:
    """The run of periods below the floor that ends with the last one (pure)."""
    run: list[Period] = []
    for p in reversed(periods):
        if p.class_id not in below:
            break
        run.append(p)
    return run[::-1]


def training(session: Session, cycle_id: str, regime: Regime, below: str | None,
             min_periods: int = 2) -> list[list[object]]:
    """People below the floor in this cycle and the periods of the same kind just before.

    "Consecutive" means consecutive among the person's own evaluated periods of the
    same kind (months with months, years with years) up to this cycle: a period the
    person was not evaluated in (leave, transfer) does not break the run.
    """
    floor = floor_class(regime, below)
    under = {c.id for c in regime.classes[regime.class_index(floor) + 1:]}
    this = cycle_or_fail(session, cycle_id)
    people = [r.reviewee_id for r in session.execute(
        select(EVALUATION.c.reviewee_id).where(EVALUATION.c.cycle_id == cycle_id, NOT_CANCELLED,
                                               CLASS.in_(sorted(under))))]
    out: list[list[object]] = []
    for start in range(0, len(people), 900):
        chunk = people[start:start + 900]
        history: dict[str, list[Period]] = {}
        info: dict[str, tuple[str, str, str, str]] = {}
        for r in session.execute(
                select(EVALUATION.c.reviewee_id, EVALUATION.c.cycle_id, EVALUATION.c.score,
                       CLASS.label("klass"), CYCLE.c.period_start, PERSON.c.full_name,
                       EVALUATION.c.unit_id, UNIT.c.name.label("unit_name"),
                       EVALUATION.c.position_group)
                .join(CYCLE, CYCLE.c.id == EVALUATION.c.cycle_id)
                .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
                .outerjoin(UNIT, UNIT.c.id == EVALUATION.c.unit_id)
                .where(EVALUATION.c.reviewee_id.in_(chunk), NOT_CANCELLED,
                       CLASS.is_not(None), CYCLE.c.period_kind == this.period_kind,
                       CYCLE.c.period_start <= this.period_start)
                .order_by(EVALUATION.c.reviewee_id, CYCLE.c.period_start)):
            history.setdefault(r.reviewee_id, []).append(
                Period(r.cycle_id, r.period_start,
                       None if r.score is None else Decimal(r.score), r.klass))
            if r.cycle_id == cycle_id:
                info[r.reviewee_id] = (r.full_name, r.unit_id, r.unit_name or r.unit_id,
                                       r.position_group)
        for person in chunk:
            run = streak(history.get(person, []), under)
            if len(run) >= min_periods and person in info:
                name, unit_id, unit, group = info[person]
                out.append([person, name, unit_id, unit, group, len(run), floor,
                            "; ".join(f"{p.cycle_id} {p.class_id}" for p in run)])
    return sorted(out, key=lambda r: (str(r[2]), str(r[0])))
