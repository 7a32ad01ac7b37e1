"""Nobody decides their own case: who steps aside from deciding an evaluation, and who
takes the case on. Pure: works on plain maps the service builds from the store.

A person is *in conflict* with a reviewee when either of them named the other in the
organisation file's ``conflicts_with`` column (the relation is symmetric: a relative is
a relative whoever wrote it down), or when they declared it on the scoring form. A
person in conflict, and the reviewee themselves, never score, calibrate, approve or
review a petition on that evaluation; the permission check (``workflow.permissions``)
refuses it, whatever page or file the request comes from.

Who takes the case on, on the record:
- scoring: the next person up the supervisor line who is not in conflict (the cycle
  file's ``evaluators`` entry for the reviewee first, when there is one);
- calibration: the cycle file's ``recusal.calibration``, else the calibrator's own
  evaluator (their supervisor, or the ``evaluators`` entry for the head of the agency).
  Only the evaluations the calibrator is in conflict with pass on: the calibrator
  calibrates the rest of the pool. Decree 90/2020 Art 16 (research/regulation.md
  rule 17) has the head of an agency evaluated by the head of the directly superior
  agency, and deputies and staff by the head: the head's own class is the superior's
  decision, everyone else's stays the head's;
- appeal (petition) review: the cycle file's ``recusal.appeal_review`` takes over
  from a default reviewer who is in conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# The assignment role of a person who steps aside from deciding an evaluation.
RECUSED = "recused"
# The assignment role of whoever calibrates one evaluation instead of the cycle's calibrator.
CALIBRATOR_INSTEAD = "calibrator"
# What a person steps aside from.
SCORING, CALIBRATION, APPEAL_REVIEW, DECIDING = ("scoring", "calibration", "appeal_review",
                                                 "deciding")
FROM_ORGANISATION = "conflict of interest declared in the organisation file"
OWN_EVALUATION = "their own evaluation"


@dataclass(frozen=True)
class Recusal:
    """One person stepping aside from one evaluation, and who takes the case on."""

    reviewee_id: str
    person_id: str
    steps_aside_from: str  # SCORING, CALIBRATION, APPEAL_REVIEW or DECIDING (any decision)
    handed_to: str | None  # None: nobody takes anything on (they only may not decide)
    reason: str


def conflict_map(declared: Iterable[tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    """Everyone's conflicts, both ways, from (person id, their conflicts_with cell)."""
    out: dict[str, set[str]] = {}
    for person_id, cell in declared:
        for other in (cell or "").split():
            if other != person_id:
                out.setdefault(person_id, set()).add(other)
                out.setdefault(other, set()).add(person_id)
    return {k: frozenset(v) for k, v in out.items()}


def next_up(start: str | None, above: Callable[[str], str | None],
            excluded: Iterable[str], limit: int = 64) -> str | None:
    """The first person above ``start`` (not ``start`` itself) who is not excluded."""
    barred = set(excluded)
    seen: set[str] = set()
    person = above(start) if start else None
    while person and person not in seen and len(seen) < limit:
        if person not in barred:
            return person
        seen.add(person)
        person = above(person)
    return None


def first_free(candidates: Iterable[str | None], excluded: Iterable[str]) -> str | None:
    barred = set(excluded)
    return next((c for c in candidates if c and c not in barred), None)


def calibration_recusals(calibrator_id: str | None, reviewees: Iterable[str],
                         conflicts: Mapping[str, frozenset[str]], named: str | None,
                         above: Callable[[str], str | None]) -> list[Recusal]:
    """The evaluations of ``reviewees`` the calibrator may not calibrate (their own, and
    those of the people they are in conflict with), each handed to the cycle file's
    ``recusal.calibration`` or else the calibrator's own evaluator. ``handed_to`` is None
    when neither exists or both are in conflict: opening the cycle is then refused."""
    if not calibrator_id:
        return []
    barred = conflicts.get(calibrator_id, frozenset())
    out = []
    for reviewee in reviewees:
        if reviewee != calibrator_id and reviewee not in barred:
            continue
        excluded = {calibrator_id, reviewee, *conflicts.get(reviewee, frozenset())}
        taker = first_free([named, above(calibrator_id)], excluded)
        out.append(Recusal(reviewee, calibrator_id, CALIBRATION, taker,
                           OWN_EVALUATION if reviewee == calibrator_id else FROM_ORGANISATION))
    return out
