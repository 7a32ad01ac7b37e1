"""The HTML report of a cycle (with its charts), the fragment the admin dashboard
embeds, the fairness signals for the calibration page, and the personnel record.

Templates live in ``templates/reports/`` (Jinja, autoescape on, undefined variables
are errors). The charts are inline SVG from ``workflow.reports.charts``: the page
needs no JavaScript and no file beside it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from workflow import catalog
from workflow.clock import utc_now
from workflow.errors import KpiError
from workflow.reports import charts
from workflow.reports.facts import TIMED_PHASES, CycleFacts, cycle_facts, names_of
from workflow.reports.fairness import FairnessReport, SignalRules, assess, methods
from workflow.reports.gaps import Gaps, gaps
from workflow.reports.record import PersonnelRecord, personnel_record
from workflow.service.core import Service


@dataclass
class CycleReport:
    """Everything the HTML report shows, gathered in one read transaction."""

    facts: CycleFacts
    gaps: Gaps
    fairness: FairnessReport
    charts: dict[str, Markup]
    generated_at: datetime


def gather(svc: Service, cycle_id: str, rules: SignalRules | None = None
           ) -> tuple[CycleFacts, Gaps, FairnessReport]:
    """The figures, the streamed gaps and the signals of one cycle, in one read
    transaction (no charts: the calibration page shows only the signals)."""
    rules = rules or SignalRules()
    with svc.store.read() as session:
        facts = cycle_facts(svc, cycle_id, session)
        found = gaps(svc, cycle_id, self_gap_points=rules.self_gap_points,
                     peer_gap_share=rules.peer_gap_share, session=session)
        wanted = {t.reviewee_id for t in [*found.large_self, *found.large_peer]}
        wanted |= set(found.by_scorer)
        facts.names.update(names_of(session, wanted - set(facts.names)))
    return facts, found, assess(facts, found, rules)


def build_report(svc: Service, cycle_id: str, rules: SignalRules | None = None, *,
                 now: datetime | None = None) -> CycleReport:
    """The figures, the streamed gaps, the signals and the charts of one cycle."""
    facts, found, fairness = gather(svc, cycle_id, rules)
    return CycleReport(facts, found, fairness, draw(facts, found), now or utc_now())


def _name(facts: CycleFacts, person_id: str) -> str:
    return facts.names.get(person_id, person_id)


def draw(facts: CycleFacts, found: Gaps) -> dict[str, Markup]:
    """Every chart of the report as inline SVG, by name."""
    out: dict[str, str] = {}
    classes = facts.classes
    quota = facts.regime.quota
    units = [u for u in facts.units if u.scored]
    if units:
        notes = []
        for u in units:
            note = ""
            if quota and u.classes.get(quota.relative_to):
                share = u.classes.get(quota.limited_class, 0) / u.classes[quota.relative_to]
                note = f"{share:.0%} of {quota.relative_to} (quota {quota.max_ratio:.0%})"
            notes.append(note)
        out["classes"] = charts.stacked_bars(
            "classes", "Classes per unit",
            "Share of each class among the people scored in each unit; " + "; ".join(
                f"{u.name}: " + ", ".join(f"{u.classes.get(c.id, 0)} {c.label_en}"
                                         for c in classes) for u in units),
            [f"{u.name} (n={u.scored})" for u in units],
            [charts.Series(c.label_en, [u.classes.get(c.id, 0) for u in units])
             for c in classes], notes=notes, xlabel="share of the unit")
    if facts.meters and quota:
        out["quota"] = charts.paired_bars(
            "quota", "The quota per pool",
            "; ".join(f"{m.pool}: {m.limited} {quota.limited_class}, {m.allowed} allowed"
                      for m in facts.meters),
            [m.pool for m in facts.meters],
            charts.Series(f"{quota.limited_class} now", [m.limited for m in facts.meters]),
            charts.Series("allowed by the quota", [m.allowed for m in facts.meters]),
            "people", value_format="{:.0f}")
    if facts.scored:
        width = float(facts.histogram[0].high - facts.histogram[0].low)
        out["histogram"] = charts.histogram(
            "histogram", "Scores",
            "People per score band: " + ", ".join(
                f"{b.low:g} to {b.high:g}: {b.count}" for b in facts.histogram if b.count),
            [float(b.low) for b in facts.histogram], [b.count for b in facts.histogram],
            width, [(float(c.min), c.label_en) for c in classes if c.min is not None])
    paired = [g for g in found.by_scorer.values() if g.self_n]
    if paired:
        paired.sort(key=lambda g: _name(facts, g.scorer_id))
        out["self_vs_supervisor"] = charts.paired_bars(
            "self_vs_supervisor", "Self-assessment against supervisor score",
            "; ".join(f"{_name(facts, g.scorer_id)}: self {float(g.self_mean or 0):.2f}, "
                      f"supervisor {float(g.supervisor_mean_with_self or 0):.2f} "
                      f"(n={g.self_n})" for g in paired),
            [f"{_name(facts, g.scorer_id)} (n={g.self_n})" for g in paired],
            charts.Series("self-assessed (mean)", [float(g.self_mean or 0) for g in paired]),
            charts.Series("supervisor (mean)",
                          [float(g.supervisor_mean_with_self or 0) for g in paired]),
            "mean total")
    appealed = [a for a in facts.appeals if a.scored]
    if appealed:
        out["appeals"] = charts.stacked_bars(
            "appeals", "Appeals per supervisor",
            "; ".join(f"{a.name}: {a.lodged} appeals of {a.scored} scored, {a.upheld} upheld,"
                      f" {a.revised} revised, {a.pending} pending" for a in appealed),
            [f"{a.name} (n={a.scored})" for a in appealed],
            [charts.Series("upheld", [a.upheld for a in appealed]),
             charts.Series("revised", [a.revised for a in appealed]),
             charts.Series("pending", [a.pending for a in appealed]),
             charts.Series("not appealed", [a.scored - a.lodged for a in appealed])],
            notes=[f"appeal rate {a.rate:.0%}" if a.rate is not None else ""
                   for a in appealed], xlabel="share of the people scored")
    timed = [t for t in facts.timeliness if t.closed or t.still_open]
    if timed:
        out["timeliness"] = charts.stacked_bars(
            "timeliness", "On time per phase",
            "; ".join(f"{t.phase}: {t.on_time} on time, {t.late} late, {t.still_open} open"
                      for t in timed),
            [t.phase.replace("_", " ") for t in timed],
            [charts.Series("on time", [t.on_time for t in timed]),
             charts.Series("late", [t.late for t in timed]),
             charts.Series("still open", [t.still_open for t in timed])],
            notes=[f"{t.rate:.0%} on time" if t.rate is not None else "" for t in timed],
            xlabel="share of the phase's deadlines")
    return {k: Markup(v) for k, v in out.items()}  # our own SVG; its text is escaped


# --- rendering --------------------------------------------------------------------------


def _num(value: Any, places: int = 2) -> str:
    if value is None:
        return ""
    q = Decimal(1).scaleb(-places)
    return str(Decimal(str(value)).quantize(q, rounding=ROUND_HALF_UP))


def _pct(value: Any) -> str:
    return "" if value is None else f"{float(value):.0%}"


def _local(value: datetime | None, tz: str = "Asia/Ho_Chi_Minh") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


@cache
def environment(templates_dir: Path, locale: str = "en") -> Environment:
    """The reports' environment in ``locale`` (its catalogue installed)."""
    env = Environment(loader=FileSystemLoader(templates_dir / "reports"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct, local=_local)
    return catalog.install(env, locale)


def _render(svc: Service, template: str, **context: Any) -> str:
    return environment(svc.settings.templates_dir).get_template(template).render(**context)


def _context(report: CycleReport) -> dict[str, Any]:
    return {"r": report, "f": report.facts, "fair": report.fairness,
            "methods": methods(report.fairness.rules), "timed_phases": TIMED_PHASES}


def cycle_report_fragment(svc: Service, cycle_id: str, *, now: datetime | None = None) -> str:
    """The report as an HTML fragment (a <section>): what the admin dashboard embeds."""
    return _render(svc, "cycle_fragment.html.j2", **_context(build_report(svc, cycle_id, now=now)))


def cycle_report_html(svc: Service, cycle_id: str, *, now: datetime | None = None) -> str:
    """The report as a whole page (``kpi report CYCLE --out FILE.html``)."""
    return _render(svc, "cycle.html.j2", **_context(build_report(svc, cycle_id, now=now)))


def fairness_fragment(svc: Service, cycle_id: str, rules: SignalRules | None = None) -> str:
    """The fairness signals with their methods, for the calibration page (information only)."""
    facts, _found, fairness = gather(svc, cycle_id, rules)
    return _render(svc, "signals.html.j2", fair=fairness, f=facts,
                   methods=methods(fairness.rules))


def record_html(svc: Service, person_id: str, *, now: datetime | None = None) -> str:
    """The personnel record of one person as a whole page."""
    record: PersonnelRecord = personnel_record(svc, person_id, now=now)
    return _render(svc, "record.html.j2", rec=record)


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
