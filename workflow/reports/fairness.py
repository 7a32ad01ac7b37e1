"""Fairness signals: where a cycle's results look biased, for people to look into.

Information only: a signal never changes a score or a class. Each signal kind
carries the method that raised it, written out so that the report and the
calibration page say how it was found and how many people are behind it.
``assess`` is pure (figures in, signals out); ``signals`` gathers the figures.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session

from workflow import catalog, formatting
from workflow.catalog import N_
from workflow.reports.facts import CycleFacts, Spread, cycle_facts, names_of
from workflow.reports.gaps import Gaps, SourceTotals, gaps
from workflow.scoring.display import rounded, shown_total
from workflow.scoring.model import Regime
from workflow.service.core import Service

HUNDREDTH = Decimal("0.01")  # the figures of the signals: two places, as written


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
# One signal per evaluation: tens of thousands in a national cycle (the others are one
# per supervisor or unit).
GAP_KINDS = (SELF_GAP, PEER_GAP)
# The report page lists at most this many signals of each gap kind, the largest gaps
# first; the signals download (``signals.csv``) has every one. Nobody reads 50,000 rows
# on a page, and they made it a 17 MiB fragment at 100,000 people (bench/RESULTS.md).
GAPS_SHOWN = 100


@dataclass(frozen=True)
class GapFigures:
    """The figures of one gap signal as every surface shows them: the totals by the
    regime's display rule (89.995 reads 89.99, as on the person's own page), the peers'
    and the supervisor's points on the peer-rated criteria rounded by the rule, and the
    gap as the difference of the two shown figures (it adds up on the page)."""

    evaluation_id: int
    reviewee_id: str
    scorer_id: str
    source: Decimal  # the self-assessed total, or the peers' mean points
    supervisor: Decimal
    gap: Decimal
    maximum: Decimal | None  # of the peer-rated criteria (a peer gap only)


@dataclass(frozen=True)
class Signal:
    kind: str
    subject_id: str  # a supervisor, a unit or an evaluation
    subject: str  # how people know it
    people: int  # how many people the figure is computed from
    figure: str  # the numbers behind it
    message: str
    gap: GapFigures | None = None  # a gap signal's figures, as numbers


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
    # Signals of each kind found in the cycle, those left out of ``signals`` included
    # (``limit``: at most that many of each gap kind kept, the largest gaps first).
    found: dict[str, int] = field(default_factory=dict)
    limit: int | None = None

    def of_kind(self, kind: str) -> list[Signal]:
        return [s for s in self.signals if s.kind == kind]

    def found_of(self, kind: str) -> int:
        """How many signals of ``kind`` the cycle has (shown or not)."""
        return self.found.get(kind, len(self.of_kind(kind)))


def gap_figures(t: SourceTotals, kind: str, regime: Regime) -> GapFigures:
    """The shown figures of ``t``'s self-assessment or peer gap (pure)."""
    if kind == SELF_GAP:
        source = shown_total(t.self_total or Decimal(0), regime)
        supervisor = shown_total(t.supervisor_total, regime)
        maximum = None
    else:
        source = rounded(t.peer_points or Decimal(0), regime.display)
        supervisor = rounded(t.supervisor_peer_points or Decimal(0), regime.display)
        maximum = t.peer_max
    return GapFigures(t.evaluation_id, t.reviewee_id, t.scorer_id, source, supervisor,
                      source - supervisor, maximum)


def largest_first(found: Iterable[SourceTotals], kind: str, limit: int | None = None
                  ) -> list[SourceTotals]:
    """The gaps of ``kind``, the largest (either way, on the exact figures) first, ties by
    evaluation id; ``limit``: only that many."""
    def rank(t: SourceTotals) -> tuple[Decimal, int]:
        gap = t.self_gap if kind == SELF_GAP else t.peer_gap
        return -abs(gap or Decimal(0)), t.evaluation_id

    if limit is None:
        return sorted(found, key=rank)
    return heapq.nsmallest(limit, found, key=rank)


def methods(rules: SignalRules, locale: str = "en") -> list[tuple[str, str, str]]:
    """(kind, title, method) of every signal, in the words the report prints."""
    def say(text: str, **values: object) -> str:
        return catalog.gettext(locale, text, **values)

    def num(value: object) -> str:
        return formatting.number(value, locale, 2, strip=True)

    def pct(value: object) -> str:
        return formatting.percent(value, locale)

    return [
        (LENIENT, say(N_("Supervisor more lenient than the agency")), say(N_(
            "For each supervisor, the mean of the scores they gave is compared with the mean "
            "of every other score in the cycle, as a standardised difference d = (their mean "
            "- the others' mean) / the standard deviation of all the cycle's scores. A "
            "supervisor is shown when d >= %(d)s (a large difference by Cohen's convention) "
            "and the difference is unlikely to be chance: z = d / sqrt(1/n + 1/m) >= %(z)s, n "
            "and m being the people behind each mean. Both groups need at least %(n)s people. "
            "Scores revised on appeal are left out: they are not the supervisor's."),
            d=num(rules.large_difference), z=num(rules.min_z), n=rules.min_group)),
        (SEVERE, say(N_("Supervisor more severe than the agency")), say(N_(
            "The same comparison, shown when d <= -%(d)s and z <= -%(z)s."),
            d=num(rules.large_difference), z=num(rules.min_z))),
        (SAME_CLASS, say(N_("Nearly everyone in a unit got the same class")), say(N_(
            "A unit with at least %(n)s people scored where %(share)s or more hold the same "
            "class (after calibration)."), n=rules.min_group, share=pct(rules.same_class_share))),
        (SAME_SCORE, say(N_("Nearly everyone in a unit got the same score")), say(N_(
            "A unit with at least %(n)s people scored whose scores have a standard deviation "
            "below %(sd)s points."), n=rules.min_group, sd=num(rules.same_score_sd))),
        (SELF_GAP, say(N_("Large gap between self-assessment and supervisor score")), say(N_(
            "The reviewee's self-assessment and the supervisor's score are each turned into a "
            "total with the cycle's own scoring rules, each source alone; shown when they "
            "differ by %(points)s points or more (either way)."),
            points=num(rules.self_gap_points))),
        (PEER_GAP, say(N_("Large gap between peer input and supervisor score")), say(N_(
            "On the criteria peers rate, the mean of the peers' points against the "
            "supervisor's points; shown when they differ by %(share)s of those criteria's "
            "maximum or more. Only where at least the quorum of peers answered; peers are "
            "never named."), share=pct(rules.peer_gap_share))),
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


def assess(facts: CycleFacts, found: Gaps | None, rules: SignalRules | None = None,
           locale: str = "en", limit: int | None = None) -> FairnessReport:
    """The signals of a cycle from its figures (pure), their texts in ``locale``; the gap
    signals the largest first, ``limit``: at most that many of each gap kind (the report
    page's; ``found`` counts them all)."""
    rules = rules or SignalRules()

    def say(text: str, **values: object) -> str:
        return catalog.gettext(locale, text, **values)

    # A cycle can have thousands of gap signals, each three figures: a Decimal is written
    # once per value *as rounded* (what the formatter writes depends on nothing else;
    # the key keeps the sign of a zero), not once per signal.
    written: dict[tuple[object, bool], str] = {}

    def num(value: object, signed: bool = False) -> str:
        plus = signed and value != 0
        key: tuple[object, bool] | None = None
        if isinstance(value, Decimal) and value.is_finite() and abs(value) < 10 ** 12:
            key = (value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP).as_tuple(), plus)
            found = written.get(key)
            if found is not None:
                return found
        text = formatting.number(value, locale, 2)
        text = f"+{text}" if plus and not text.startswith("-") else text
        if key is not None:
            written[key] = text
        return text

    sd = facts.agency.sd
    report = FairnessReport(facts.cycle_id, rules, agency_mean=facts.agency.mean,
                            agency_sd=sd, agency_n=facts.agency.n)
    for s in facts.scorers:
        c = _compare(s.scorer_id, s.name, s.own, facts.agency, sd, rules)
        report.supervisors.append(c)
        if c.d is None or c.z is None or c.mean is None or c.rest_mean is None:
            continue
        if abs(c.d) >= rules.large_difference and abs(c.z) >= rules.min_z:
            kind, message = (LENIENT, N_(
                "The scores %(name)s gave are markedly higher than the rest of the "
                "agency's.")) if c.d > 0 else (SEVERE, N_(
                    "The scores %(name)s gave are markedly lower than the rest of the "
                    "agency's."))
            report.signals.append(Signal(
                kind, s.scorer_id, f"{s.name} ({s.scorer_id})", c.n,
                say(N_("mean %(mean)s against %(rest)s for the other %(n)s; d = %(d)s, "
                       "z = %(z)s"), mean=num(c.mean), rest=num(c.rest_mean), n=c.rest_n,
                    d=num(c.d, True), z=num(c.z, True)),
                say(message, name=s.name)))
    for u in facts.units:
        if u.scored < rules.min_group:
            continue
        top_class, top_n = max(u.classes.items(), key=lambda kv: (kv[1], kv[0]))
        share = top_n / u.scored
        if share >= rules.same_class_share:
            report.signals.append(Signal(
                SAME_CLASS, u.unit_id, f"{u.name} ({u.unit_id})", u.scored,
                say(N_("%(n)s of %(of)s (%(share)s) are rated “%(class)s”"), n=top_n,
                    of=u.scored, share=formatting.percent(share, locale),
                    **{"class": facts.label(top_class, locale)}),
                say(N_("Nearly everyone in this unit got the same class."))))
        unit_sd = u.scores.sd
        if unit_sd is not None and unit_sd < rules.same_score_sd:
            report.signals.append(Signal(
                SAME_SCORE, u.unit_id, f"{u.name} ({u.unit_id})", u.scores.n,
                say(N_("standard deviation %(sd)s points (scores %(low)s to %(high)s)"),
                    sd=num(unit_sd), low=num(u.low or 0), high=num(u.high or 0)),
                say(N_("Nearly everyone in this unit got the same score."))))
    if found is not None:
        names = facts.names
        regime = facts.regime
        report.limit = limit
        report.found.update({SELF_GAP: len(found.large_self), PEER_GAP: len(found.large_peer)})

        shown_before: dict[tuple[object, bool], str] = {}

        def shown(value: Decimal, signed: bool = False) -> str:
            # Rounded already (``gap_figures``): written, never rounded again; once per
            # value as written (its digits and exponent), as ``num`` does.
            key = (value.as_tuple(), signed)
            text = shown_before.get(key)
            if text is None:
                text = formatting.shown_number(value, locale)
                text = shown_before[key] = f"+{text}" if signed and value > 0 else text
            return text

        def subject(t: SourceTotals) -> str:
            return say(N_("%(name)s (%(id)s), scored by %(scorer)s"),
                       name=names.get(t.reviewee_id, t.reviewee_id), id=t.reviewee_id,
                       scorer=names.get(t.scorer_id, t.scorer_id))

        for t in largest_first(found.large_self, SELF_GAP, limit):
            g = gap_figures(t, SELF_GAP, regime)
            report.signals.append(Signal(
                SELF_GAP, str(t.evaluation_id), subject(t), 1,
                say(N_("self-assessed %(own)s, supervisor %(supervisor)s: %(gap)s"),
                    own=shown(g.source), supervisor=shown(g.supervisor),
                    gap=shown(g.gap, True)),
                say(N_("The self-assessment and the supervisor's score are far apart.")), g))
        for t in largest_first(found.large_peer, PEER_GAP, limit):
            g = gap_figures(t, PEER_GAP, regime)
            report.signals.append(Signal(
                PEER_GAP, str(t.evaluation_id), subject(t), 1,
                say(N_("peers' mean %(peers)s, supervisor %(supervisor)s of %(max)s on the "
                       "peer-rated criteria: %(gap)s"), peers=shown(g.source),
                    supervisor=shown(g.supervisor), max=num(g.maximum or Decimal(0)),
                    gap=shown(g.gap, True)),
                say(N_("The peers' input and the supervisor's score are far apart.")), g))
    return report


def signals(svc: Service, cycle_id: str, rules: SignalRules | None = None,
            session: Session | None = None, locale: str = "en") -> FairnessReport:
    """The fairness signals of a cycle, for the report and the calibration page."""
    if session is None:
        with svc.store.read() as s:
            return signals(svc, cycle_id, rules, s, locale)
    rules = rules or SignalRules()
    facts = cycle_facts(svc, cycle_id, session)
    found = gaps(svc, cycle_id, self_gap_points=rules.self_gap_points,
                 peer_gap_share=rules.peer_gap_share, session=session)
    names_needed = {t.reviewee_id for t in [*found.large_self, *found.large_peer]} | \
        {t.scorer_id for t in [*found.large_self, *found.large_peer]}
    facts.names.update(names_of(session, names_needed - set(facts.names)))
    return assess(facts, found, rules, locale)
