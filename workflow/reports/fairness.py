"""Fairness signals: where a cycle's results look biased, for people to look into.

Information only: a signal never changes a score or a class. Each signal kind
carries the method that raised it, written out so that the report and the
calibration page say how it was found and how many people are behind it.
``assess`` is pure (figures in, signals out); ``signals`` gathers the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import Session

from workflow.reports.facts import CycleFacts, Spread, cycle_facts, names_of
from workflow.reports.gaps import Gaps, gaps
from workflow.scoring import shown
from workflow.service.core import Service


@dataclass(frozen=True)
class SignalRules:
    """The thresholds; the defaults are written into every method text."""

    min_group: int = 5  # fewer people than this behind a figure: no signal
    large_difference: float = 0.8  # |standardised difference|: "large" (Cohen)
    min_z: float = 2.0  # and unlikely to be chance (about p < 0.05, two-sided)
    same_class_share: float = 0.9  # a unit where 90% or more share one class
    same_score_sd: float = 2.0  # a unit whose scores spread less than 2 points (sd)
    self_gap_points: Decimal = Decimal(15)  # self-assessed total vs supervisor's
    peer_gap_share: Decimal = Decimal("0.2")  # of the peer-rated criteria's maximum


LENIENT = "lenient_supervisor"
SEVERE = "severe_supervisor"
SAME_CLASS = "same_class"
SAME_SCORE = "same_score"
SELF_GAP = "self_gap"
PEER_GAP = "peer_gap"


@dataclass(frozen=True)
class Signal:
    kind: str
    subject_id: str  # a supervisor, a unit or an evaluation
    subject: str  # how people know it
    people: int  # how many people the figure is computed from
    figure: str  # the numbers behind it
    message: str


@dataclass(frozen=True)
class SupervisorComparison:
    """One supervisor against the rest of the agency (shown whether flagged or not)."""

    scorer_id: str
    name: str
    n: int
    mean: float | None
    rest_n: int
    rest_mean: float | None
    d: float | None  # standardised difference; None when too few people
    z: float | None


@dataclass
class FairnessReport:
    cycle_id: str
    rules: SignalRules
    signals: list[Signal] = field(default_factory=list)
    supervisors: list[SupervisorComparison] = field(default_factory=list)
    agency_mean: float | None = None
    agency_sd: float | None = None
    agency_n: int = 0

    def of_kind(self, kind: str) -> list[Signal]:
        return [s for s in self.signals if s.kind == kind]


def methods(rules: SignalRules) -> list[tuple[str, str, str]]:
    """(kind, title, method) of every signal, in the words the report prints."""
    return [
        (LENIENT, "Supervisor more lenient than the agency",
         "For each supervisor, the mean of the scores they gave is compared with the mean "
         "of every other score in the cycle, as a standardised difference d = (their mean "
         "- the others' mean) / the standard deviation of all the cycle's scores. A "
         f"supervisor is shown when d >= {rules.large_difference} (a large difference by "
         "Cohen's convention) and the difference is unlikely to be chance: z = d / "
         f"sqrt(1/n + 1/m) >= {rules.min_z}, n and m being the people behind each mean. "
         f"Both groups need at least {rules.min_group} people. Scores revised on appeal "
         "are left out: they are not the supervisor's."),
        (SEVERE, "Supervisor more severe than the agency",
         f"The same comparison, shown when d <= -{rules.large_difference} and z <= "
         f"-{rules.min_z}."),
        (SAME_CLASS, "Nearly everyone in a unit got the same class",
         f"A unit with at least {rules.min_group} people scored where "
         f"{rules.same_class_share:.0%} or more hold the same class (after calibration)."),
        (SAME_SCORE, "Nearly everyone in a unit got the same score",
         f"A unit with at least {rules.min_group} people scored whose scores have a "
         f"standard deviation below {rules.same_score_sd} points."),
        (SELF_GAP, "Large gap between self-assessment and supervisor score",
         "The reviewee's self-assessment and the supervisor's score are each turned into "
         "a total with the cycle's own scoring rules, each source alone; shown when they "
         f"differ by {rules.self_gap_points} points or more (either way)."),
        (PEER_GAP, "Large gap between peer input and supervisor score",
         "On the criteria peers rate, the mean of the peers' points against the "
         "supervisor's points; shown when they differ by "
         f"{rules.peer_gap_share:.0%} of those criteria's maximum or more. Only where at "
         "least the quorum of peers answered; peers are never named."),
    ]


def _compare(scorer_id: str, name: str, own: Spread, agency: Spread, sd: float | None,
             rules: SignalRules) -> SupervisorComparison:
    rest = agency.minus(own)
    d = z = None
    if own.n >= rules.min_group and rest.n >= rules.min_group and sd and \
            own.mean is not None and rest.mean is not None:
        d = (own.mean - rest.mean) / sd
        z = d / math.sqrt(1 / own.n + 1 / rest.n)
    return SupervisorComparison(scorer_id, name, own.n, own.mean, rest.n, rest.mean, d, z)


def assess(facts: CycleFacts, found: Gaps | None, rules: SignalRules | None = None
           ) -> FairnessReport:
    """The signals of a cycle from its figures (pure)."""
    rules = rules or SignalRules()
    sd = facts.agency.sd
    report = FairnessReport(facts.cycle_id, rules, agency_mean=facts.agency.mean,
                            agency_sd=sd, agency_n=facts.agency.n)
    for s in facts.scorers:
        c = _compare(s.scorer_id, s.name, s.own, facts.agency, sd, rules)
        report.supervisors.append(c)
        if c.d is None or c.z is None or c.mean is None or c.rest_mean is None:
            continue
        if abs(c.d) >= rules.large_difference and abs(c.z) >= rules.min_z:
            kind, word = (LENIENT, "higher") if c.d > 0 else (SEVERE, "lower")
            report.signals.append(Signal(
                kind, s.scorer_id, f"{s.name} ({s.scorer_id})", c.n,
                f"mean {c.mean:.2f} against {c.rest_mean:.2f} for the other {c.rest_n}; "
                f"d = {c.d:+.2f}, z = {c.z:+.2f}",
                f"The scores {s.name} gave are markedly {word} than the rest of the agency's."))
    for u in facts.units:
        if u.scored < rules.min_group:
            continue
        top_class, top_n = max(u.classes.items(), key=lambda kv: (kv[1], kv[0]))
        share = top_n / u.scored
        if share >= rules.same_class_share:
            report.signals.append(Signal(
                SAME_CLASS, u.unit_id, f"{u.name} ({u.unit_id})", u.scored,
                f"{top_n} of {u.scored} ({share:.0%}) are {facts.label(top_class)}",
                "Nearly everyone in this unit got the same class."))
        unit_sd = u.scores.sd
        if unit_sd is not None and unit_sd < rules.same_score_sd:
            report.signals.append(Signal(
                SAME_SCORE, u.unit_id, f"{u.name} ({u.unit_id})", u.scores.n,
                f"standard deviation {unit_sd:.2f} points (scores {u.low or 0:.2f} to "
                f"{u.high or 0:.2f})",
                "Nearly everyone in this unit got the same score."))
    if found is not None:
        names = facts.names
        for t in found.large_self:
            gap = t.self_gap or Decimal(0)
            report.signals.append(Signal(
                SELF_GAP, str(t.evaluation_id),
                f"{names.get(t.reviewee_id, t.reviewee_id)} ({t.reviewee_id}), scored by "
                f"{names.get(t.scorer_id, t.scorer_id)}", 1,
                f"self-assessed {shown(t.self_total or Decimal(0))}, supervisor "
                f"{shown(t.supervisor_total)}: {'+' if gap > 0 else ''}{shown(gap)}",
                "The self-assessment and the supervisor's score are far apart."))
        for t in found.large_peer:
            gap = t.peer_gap or Decimal(0)
            report.signals.append(Signal(
                PEER_GAP, str(t.evaluation_id),
                f"{names.get(t.reviewee_id, t.reviewee_id)} ({t.reviewee_id}), scored by "
                f"{names.get(t.scorer_id, t.scorer_id)}", 1,
                f"peers' mean {shown(t.peer_points or Decimal(0))}, supervisor "
                f"{shown(t.supervisor_peer_points or Decimal(0))} of "
                f"{shown(t.peer_max or Decimal(0))}"
                f" on the peer-rated criteria: {'+' if gap > 0 else ''}{shown(gap)}",
                "The peers' input and the supervisor's score are far apart."))
    return report


def signals(svc: Service, cycle_id: str, rules: SignalRules | None = None,
            session: Session | None = None) -> FairnessReport:
    """The fairness signals of a cycle, for the report and the calibration page."""
    if session is None:
        with svc.store.read() as s:
            return signals(svc, cycle_id, rules, s)
    rules = rules or SignalRules()
    facts = cycle_facts(svc, cycle_id, session)
    found = gaps(svc, cycle_id, self_gap_points=rules.self_gap_points,
                 peer_gap_share=rules.peer_gap_share, session=session)
    names_needed = {t.reviewee_id for t in [*found.large_self, *found.large_peer]} | \
        {t.scorer_id for t in [*found.large_self, *found.large_peer]}
    facts.names.update(names_of(session, names_needed - set(facts.names)))
    return assess(facts, found, rules)
