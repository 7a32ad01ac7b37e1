"""The HTML report of a cycle (with its charts), the fragment the admin dashboard
embeds, the fairness signals for the calibration page, and the personnel record.

Templates live in ``templates/reports/`` (Jinja, autoescape on, undefined variables
are errors). The charts are inline SVG from ``workflow.reports.charts``: the page
needs no JavaScript and no file beside it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from workflow import catalog, formatting
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.errors import KpiError
from workflow.reports import charts, words
from workflow.reports.facts import TIMED_PHASES, CycleFacts, cycle_facts, names_of
from workflow.reports.fairness import (
    GAPS_SHOWN,
    PEER_GAP,
    SELF_GAP,
    FairnessReport,
    SignalRules,
    assess,
    largest_first,
    methods,
)
from workflow.reports.gaps import Gaps, gaps
from workflow.reports.record import PersonnelRecord, personnel_record
from workflow.scoring.model import Regime
from workflow.scoring.quota_explain import allowance_rule
from workflow.service.core import Service
from workflow.service.year_end_standing import ShortLine, below_minimum, said

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
# Bars per chart at most. A chart of every unit or supervisor of a national cycle (5,000
# bars) is unreadable and took matplotlib minutes to draw (bench/RESULTS.md,
# report-cache): above this the chart shows the ones its note names, and the table
# under it lists them all.
MAX_BARS = 30


@dataclass
class CycleReport:
    """Everything the HTML report shows, gathered in one read transaction."""

    facts: CycleFacts
    gaps: Gaps
    fairness: FairnessReport
    charts: dict[str, Markup]
    generated_at: datetime
    # chart -> what it leaves out, in the reader's words ("30 of 5,000 units...")
    chart_notes: dict[str, str] = field(default_factory=dict)
    # A year end: who rests on fewer months than the regime's minimum, and how.
    year_end: list[ShortLine] = field(default_factory=list)


def gather(svc: Service, cycle_id: str, rules: SignalRules | None = None,
           locale: str = "en", now: datetime | None = None, limit: int | None = None
           ) -> tuple[CycleFacts, Gaps, FairnessReport]:
    """The figures, the streamed gaps and the signals of one cycle, in one read
    transaction (no charts: the calibration page shows only the signals); ``limit``: at
    most that many signals of each gap kind, the largest gaps first."""
    rules = rules or SignalRules()
    with svc.store.read() as session:
        facts = cycle_facts(svc, cycle_id, session, now=now)
        found = gaps(svc, cycle_id, self_gap_points=rules.self_gap_points,
                     peer_gap_share=rules.peer_gap_share, session=session)
        # The names of the people in the signals kept (not of the 50,000 left out).
        named = [*largest_first(found.large_self, SELF_GAP, limit),
                 *largest_first(found.large_peer, PEER_GAP, limit)]
        wanted = {t.reviewee_id for t in named} | set(found.by_scorer)
        facts.names.update(names_of(session, wanted - set(facts.names)))
    return facts, found, assess(facts, found, rules, locale, limit)


def build_report(svc: Service, cycle_id: str, rules: SignalRules | None = None, *,
                 now: datetime | None = None, locale: str = "en",
                 limit: int | None = None) -> CycleReport:
    """The figures, the streamed gaps, the signals and the charts of one cycle
    (``limit``: at most that many signals of each gap kind)."""
    now = now or utc_now()
    facts, found, fairness = gather(svc, cycle_id, rules, locale, now, limit)
    notes: dict[str, str] = {}
    drawn = draw(facts, found, locale, notes)
    with svc.store.read() as session:
        short = below_minimum(svc, session, cycle_id)
    return CycleReport(facts, found, fairness, drawn, now, notes, short)


T = TypeVar("T")


def _top(items: Sequence[T], rank: Callable[[T], Any]) -> list[T]:
    """The ``MAX_BARS`` items ranked first by ``rank`` (highest first), in their order."""
    limit = MAX_BARS
    if len(items) <= limit:
        return list(items)
    kept = {id(x) for x in sorted(items, key=rank, reverse=True)[:limit]}
    return [x for x in items if id(x) in kept]


def _name(facts: CycleFacts, person_id: str) -> str:
    return facts.names.get(person_id, person_id)


def draw(facts: CycleFacts, found: Gaps, locale: str = "en",
         left_out: dict[str, str] | None = None) -> dict[str, Markup]:
    """Every chart of the report as inline SVG, by name, its words in ``locale``; a chart
    of more than ``MAX_BARS`` units or supervisors shows those its entry in ``left_out``
    names."""
    left_out = {} if left_out is None else left_out

    def say(text: str, **values: object) -> str:
        return catalog.gettext(locale, text, **values)

    def shown(name: str, kept: int, of: int, note: str) -> None:
        if kept < of:
            left_out[name] = say(note, shown=kept, total=formatting.number(of, locale, 0))

    def num(value: object, places: int = 2) -> str:
        return formatting.number(value, locale, places)

    def pct(value: object) -> str:
        return formatting.percent(value, locale)

    decimal = formatting.number(Decimal("0.5"), locale, 1)[1]  # the locale's separator
    out: dict[str, str] = {}
    classes = facts.classes
    quota = facts.regime.quota
    every_unit = [u for u in facts.units if u.scored]
    units = _top(every_unit, lambda u: (u.scored, u.unit_id))
    shown("classes", len(units), len(every_unit),
          N_("The chart shows the %(shown)s units with the most people scored, of "
             "%(total)s; the table lists every unit."))
    if units:
        notes = []
        for u in units:
            note = ""
            if quota and u.classes.get(quota.relative_to):
                share = u.classes.get(quota.limited_class, 0) / u.classes[quota.relative_to]
                # Short, beside the bar: the caption says what is compared with what.
                note = say(N_("%(share)s, quota %(quota)s"), share=pct(share),
                           quota=pct(quota.max_ratio))
            notes.append(note)
        out["classes"] = charts.stacked_bars(
            "classes", say(N_("Classes per unit")),
            say(N_("Share of each class among the people scored in each unit")) + ": " +
            "; ".join(f"{u.name}: " + ", ".join(
                f"{u.classes.get(c.id, 0)} {facts.label(c.id, locale)}" for c in classes)
                for u in units),
            [f"{u.name} (n={u.scored})" for u in units],
            [charts.Series(facts.label(c.id, locale), [u.classes.get(c.id, 0) for u in units])
             for c in classes], notes=notes, xlabel=say(N_("share of the unit")), decimal=decimal)
    if facts.meters and quota:
        limited = facts.label(quota.limited_class, locale)
        out["quota"] = charts.paired_bars(
            "quota", say(N_("The quota per pool")),
            "; ".join(say(N_("%(pool)s: %(limited)s rated “%(class)s”, %(allowed)s allowed"),
                          pool=words.pool(m.pool, locale), limited=m.limited,
                          allowed=m.allowed, **{"class": limited}) for m in facts.meters),
            [words.pool(m.pool, locale) for m in facts.meters],
            charts.Series(say(N_("“%(class)s” now"), **{"class": limited}),
                          [m.limited for m in facts.meters]),
            charts.Series(say(N_("allowed by the quota")), [m.allowed for m in facts.meters]),
            say(N_("people")), value_format="{:.0f}", decimal=decimal)
    if facts.scored:
        width = float(facts.histogram[0].high - facts.histogram[0].low)
        out["histogram"] = charts.histogram(
            "histogram", say(N_("Scores")),
            say(N_("People per score band")) + ": " + ", ".join(
                say(N_("%(low)s to %(high)s: %(n)s"), low=num(b.low, 0), high=num(b.high, 0),
                    n=b.count) for b in facts.histogram if b.count),
            [float(b.low) for b in facts.histogram], [b.count for b in facts.histogram],
            width, [(float(c.min), facts.label(c.id, locale)) for c in classes
                    if c.min is not None],
            xlabel=say(N_("score")), ylabel=say(N_("people")), decimal=decimal)
    every_pair = [g for g in found.by_scorer.values() if g.self_n]
    paired = _top(every_pair, lambda g: abs((g.self_mean or 0) - (g.supervisor_mean_with_self
                                                                 or 0)))
    shown("self_vs_supervisor", len(paired), len(every_pair),
          N_("The chart shows the %(shown)s supervisors whose mean differs most from the "
             "self-assessments, of %(total)s; the table lists every supervisor."))
    if paired:
        paired.sort(key=lambda g: _name(facts, g.scorer_id))
        out["self_vs_supervisor"] = charts.paired_bars(
            "self_vs_supervisor", say(N_("Self-assessment against the supervisor's score")),
            "; ".join(say(N_("%(name)s: self-assessed %(own)s, supervisor %(supervisor)s "
                             "(n=%(n)s)"), name=_name(facts, g.scorer_id),
                          own=num(g.self_mean or 0), n=g.self_n,
                          supervisor=num(g.supervisor_mean_with_self or 0)) for g in paired),
            [f"{_name(facts, g.scorer_id)} (n={g.self_n})" for g in paired],
            charts.Series(say(N_("self-assessed (mean)")),
                          [float(g.self_mean or 0) for g in paired]),
            charts.Series(say(N_("supervisor (mean)")),
                          [float(g.supervisor_mean_with_self or 0) for g in paired]),
            say(N_("mean total")), decimal=decimal)
    every_appealed = [a for a in facts.appeals if a.scored]
    appealed = _top(every_appealed, lambda a: (a.lodged, a.rate or 0))
    shown("appeals", len(appealed), len(every_appealed),
          N_("The chart shows the %(shown)s supervisors with the most appeals, of "
             "%(total)s; the table lists every supervisor."))
    if appealed:
        out["appeals"] = charts.stacked_bars(
            "appeals", say(N_("Appeals per supervisor")),
            "; ".join(say(N_("%(name)s: %(lodged)s appeals of %(scored)s scored, %(upheld)s "
                             "upheld, %(revised)s revised, %(pending)s pending"), name=a.name,
                          lodged=a.lodged, scored=a.scored, upheld=a.upheld, revised=a.revised,
                          pending=a.pending) for a in appealed),
            [f"{a.name} (n={a.scored})" for a in appealed],
            [charts.Series(say(N_("upheld")), [a.upheld for a in appealed]),
             charts.Series(say(N_("revised")), [a.revised for a in appealed]),
             charts.Series(say(N_("pending")), [a.pending for a in appealed]),
             charts.Series(say(N_("no appeal")), [a.scored - a.lodged for a in appealed])],
            notes=[say(N_("appeal rate %(rate)s"), rate=pct(a.rate)) if a.rate is not None
                   else "" for a in appealed], xlabel=say(N_("share of the people scored")),
            decimal=decimal)
    timed = [t for t in facts.timeliness if t.closed or t.still_open]
    if timed:
        out["timeliness"] = charts.stacked_bars(
            "timeliness", say(N_("On time per phase")),
            "; ".join(say(N_("%(phase)s: %(on_time)s on time, %(late)s late, %(open)s open"),
                          phase=words.state(t.phase, locale), on_time=t.on_time, late=t.late,
                          open=t.still_open) for t in timed),
            [words.state(t.phase, locale) for t in timed],
            [charts.Series(say(N_("on time")), [t.on_time for t in timed]),
             charts.Series(say(N_("late")), [t.late for t in timed]),
             charts.Series(say(N_("still open")), [t.still_open for t in timed])],
            notes=[say(N_("%(rate)s on time"), rate=pct(t.rate)) if t.rate is not None else ""
                   for t in timed],
            xlabel=say(N_("share of the phase's deadlines")), decimal=decimal)
    return {k: Markup(v) for k, v in out.items()}  # our own SVG; its text is escaped


# --- rendering --------------------------------------------------------------------------


def filters(locale: str) -> dict[str, Callable[..., str]]:
    """The report's figures written the locale's way (``workflow.formatting``): ``num``
    (a mean, a deviation: half-up), ``pct``, ``score`` (the regime's display rule),
    ``shown`` (a figure rounded already), ``local`` (a date-time, its zone named) and
    ``short`` (a date-time in a table whose zone the page names once)."""

    # A report of a national cycle writes tens of thousands of figures (the supervisors'
    # table, the signals) through Babel at about 0.3 ms each, and many repeat: each is
    # written once per value, type and places (the type too: a float and a Decimal that
    # compare equal are not always written alike).
    written: dict[tuple[type, Any, int], str] = {}

    def num(value: Any, places: int = 2) -> str:
        if value is None:
            return ""
        key = (type(value), value, places)
        found = written.get(key)
        if found is None:
            if len(written) > 100_000:  # bounded, however many reports this process writes
                written.clear()
            found = written[key] = formatting.number(value, locale, places)
        return found

    def pct(value: Any) -> str:
        return "" if value is None else formatting.percent(value, locale)

    def score(value: Any, regime: Regime) -> str:
        return "" if value is None else formatting.score(value, locale, regime)

    def shown(value: Any) -> str:
        return "" if value is None else formatting.shown_number(value, locale)

    def local(value: datetime | None, tz: str = DEFAULT_TZ) -> str:
        return "" if value is None else formatting.date_time(value, tz, locale)

    def short(value: datetime | None, tz: str = DEFAULT_TZ) -> str:
        return "" if value is None else formatting.short_time(value, tz, locale)

    def day(value: Any) -> str:
        return "" if value is None else formatting.numeric_date(value, locale)

    return {"num": num, "pct": pct, "score": score, "shown": shown, "local": local,
            "short": short, "day": day,
            "state": lambda value: words.state(str(value), locale),
            "flag": lambda value: words.flag(str(value), locale),
            "pool": lambda value: words.pool(str(value), locale),
            # the rule that gave a pool its allowance (or left it unmetered)
            "allowance_rule": lambda meter: allowance_rule(meter).get(locale, ""),
            "role": lambda value: words.role(str(value), locale),
            "action": lambda value: words.action(str(value), locale),
            "zone": lambda value: formatting.zone_name(str(value), locale) or str(value)}


@cache
def environment(templates_dir: Path, locale: str = "en") -> Environment:
    """The reports' environment in ``locale`` (its catalogue installed)."""
    env = Environment(loader=FileSystemLoader(templates_dir / "reports"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(filters(locale))
    return catalog.install(env, locale)


def _render(svc: Service, template: str, locale: str, **context: Any) -> str:
    env = environment(svc.settings.templates_dir, locale)
    return env.get_template(template).render(locale=locale, **context)


def _context(report: CycleReport, locale: str, signals_download: str | None = None
             ) -> dict[str, Any]:
    facts = report.facts
    return {"r": report, "f": facts, "fair": report.fairness,
            "signals_download": signals_download,
            "methods": methods(report.fairness.rules, locale), "timed_phases": TIMED_PHASES,
            "class_name": lambda class_id: facts.label(class_id, locale),
            "year_end_said": lambda line: said(
                line.short, facts.label(line.class_id, locale) if line.class_id else "",
                locale),
            "regime_name": facts.regime.name.vi if locale == "vi" else facts.regime.name.en}


def cycle_report_fragment(svc: Service, cycle_id: str, *, now: datetime | None = None,
                          locale: str = "en", signals_download: str | None = None) -> str:
    """The report as an HTML fragment (a <section>): what the admin dashboard embeds, in
    the admin's language. It lists at most ``GAPS_SHOWN`` signals of each gap kind (the
    largest gaps first) and says how many there are; ``signals_download``: the link of
    every signal of the cycle (CSV), given beside that count."""
    report = build_report(svc, cycle_id, now=now, locale=locale, limit=GAPS_SHOWN)
    return _render(svc, "cycle_fragment.html.j2", locale,
                   **_context(report, locale, signals_download))


def cycle_report_html(svc: Service, cycle_id: str, *, now: datetime | None = None,
                      locale: str = "vi") -> str:
    """The report as a whole page (``kpi report CYCLE --out FILE.html [--lang vi|en]``)."""
    report = build_report(svc, cycle_id, now=now, locale=locale)
    return _render(svc, "cycle.html.j2", locale, **_context(report, locale))


def fairness_fragment(svc: Service, cycle_id: str, rules: SignalRules | None = None,
                      locale: str = "en") -> str:
    """The fairness signals with their methods, for the calibration page (information only)."""
    facts, _found, fairness = gather(svc, cycle_id, rules, locale)
    return _render(svc, "signals.html.j2", locale, fair=fairness, f=facts,
                   methods=methods(fairness.rules, locale), signals_download=None)


def record_html(svc: Service, person_id: str, *, now: datetime | None = None,
                locale: str | None = None, cycles: Collection[str] | None = None) -> str:
    """The personnel record of one person as a whole page, in ``locale`` (default: the
    person's own); ``cycles``: only the evaluations of these (an admin's scope)."""
    record: PersonnelRecord = personnel_record(svc, person_id, now=now)
    if cycles is not None:
        record.evaluations = [e for e in record.evaluations if e.cycle_id in cycles]
    return _render(svc, "record.html.j2", locale or record.locale, rec=record)


def write_pdf(html: str, path: Path) -> None:
    """Print an HTML page to PDF with WeasyPrint (it uses the system's Pango)."""
    try:
        # Imported here: it loads Pango, which takes a second, and only PDF needs it.
        from weasyprint import HTML  # noqa: PLC0415
    except (ImportError, OSError) as exc:
        raise KpiError(f"PDF output needs WeasyPrint and the Pango library ({exc}); write "
                       f"{path.with_suffix('.html').name} instead") from None
    with warnings.catch_warnings():
        # WeasyPrint warns, on systems without libharfbuzz-subset, that a future version
        # will need it; the PDF is right either way and the reader cannot act on it.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        HTML(string=html).write_pdf(path)
