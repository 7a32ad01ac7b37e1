"""Who stands below the regime's minimum months for a year-end class, as the exports
say it (issue 17, item 6d): the cycle report (CSV, XLSX, HTML) and the personnel
record read the same as the score form and the result page.

Two cases. Classified on the periods worked (``below_minimum:
classified_on_periods_worked``): the score's stamp records the months and the
minimum (``scoring.compute.stamp``), nothing to read here. Not classified
(``not_classified``): there is no score, the score form refuses one; the months come
from the periods the year rests on, read for everyone unscored at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow import catalog
from workflow.catalog import N_
from workflow.domain import State
from workflow.scoring.model import CriterionKind
from workflow.scoring.periods import select_periods
from workflow.service.core import Service
from workflow.service.scoring_inputs import periods_of_people
from workflow.store.tables import EVALUATION, PERSON

NOT_CLASSIFIED = N_("not classified this year (%(months)s of the %(minimum)s months needed)")
# The very words of the result page and the result email.
CLASSIFIED_SHORT = N_("classified on %(months)s month(s) worked, fewer than the %(minimum)s "
                      "the rules ask for a year-end class")


@dataclass(frozen=True)
class MonthsShort:
    """A year-end evaluation resting on fewer months than the regime's minimum."""

    months: int
    minimum: int
    classified: bool  # True: classified on the periods worked; False: not classified


def from_stamp(stamp: Mapping[str, Any] | None) -> MonthsShort | None:
    """What a score's stamp says of a class given below the minimum, if it was."""
    for item in (stamp or {}).get("breakdown") or []:
        year_end = item.get("year_end") if isinstance(item, Mapping) else None
        if isinstance(year_end, Mapping) and year_end.get("below_minimum"):
            return MonthsShort(int(year_end.get("months") or 0),
                               int(year_end.get("min_months") or 0), True)
    return None


def not_classified(svc: Service, session: Session, cycle_id: str) -> dict[str, MonthsShort]:
    """The unscored people of a year-end cycle whose regime does not classify them on
    fewer months than its minimum, and who have fewer (by reviewee id). Empty, without
    reading anything more, for any other cycle."""
    rules = svc.rules.get(session, cycle_id)
    rule = rules.regime.year_end
    if rule.below_minimum != "not_classified" or not any(
            fw.has(CriterionKind.PERIOD_MEAN) for fw in rules.frameworks.values()):
        return {}
    unscored = list(session.execute(
        select(EVALUATION.c.reviewee_id).where(
            EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.score.is_(None),
            EVALUATION.c.state.in_([s.value for s in State if s is not State.FINALISED])))
        .scalars())
    periods = periods_of_people(session, cycle_id, rules.config.period, rules.regime.id,
                                unscored)
    groups = [g.id for g in rules.regime.groups]
    out: dict[str, MonthsShort] = {}
    for person in unscored:
        months = select_periods(periods.get(person, []), groups).months
        if months < rule.min_months:
            out[person] = MonthsShort(months, rule.min_months, False)
    return out


def said(short: MonthsShort, class_label: str, locale: str) -> str:
    """The class as the exports write it for someone below the minimum: "not classified
    this year (1 of the 3 months needed)", or the class with the result page's note."""
    if not short.classified:
        return catalog.gettext(locale, NOT_CLASSIFIED, months=short.months,
                               minimum=short.minimum)
    note = catalog.gettext(locale, CLASSIFIED_SHORT, months=short.months,
                           minimum=short.minimum)
    return f"{class_label} ({note})" if class_label else note


@dataclass(frozen=True)
class ShortLine:
    """One person of a year-end cycle below the minimum, for the HTML report."""

    reviewee_id: str
    full_name: str
    unit_id: str
    class_id: str | None  # the final class where classified on the periods worked
    short: MonthsShort


def below_minimum(svc: Service, session: Session, cycle_id: str) -> list[ShortLine]:
    """Everyone of the cycle below the regime's minimum months (both cases), by unit and
    reviewee; empty without a query for a cycle that is not a year end."""
    rules = svc.rules.get(session, cycle_id)
    if not any(fw.has(CriterionKind.PERIOD_MEAN) for fw in rules.frameworks.values()):
        return []
    unscored = not_classified(svc, session, cycle_id)
    stmt = (select(EVALUATION.c.reviewee_id, PERSON.c.full_name, EVALUATION.c.unit_id,
                   EVALUATION.c.score, EVALUATION.c.score_stamp, EVALUATION.c.final_class,
                   EVALUATION.c.score_class)
            .join(PERSON, PERSON.c.id == EVALUATION.c.reviewee_id)
            .where(EVALUATION.c.cycle_id == cycle_id)
            .order_by(EVALUATION.c.unit_id, EVALUATION.c.reviewee_id))
    if rules.regime.year_end.below_minimum == "not_classified":
        if not unscored:
            return []
        stmt = stmt.where(EVALUATION.c.reviewee_id.in_(sorted(unscored)))
    out: list[ShortLine] = []
    for r in session.execute(stmt):
        short = from_stamp(r.score_stamp) if r.score is not None else unscored.get(
            r.reviewee_id)
        if short is not None:
            out.append(ShortLine(r.reviewee_id, r.full_name, r.unit_id,
                                 r.final_class or r.score_class, short))
    return out
