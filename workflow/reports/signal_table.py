"""Every fairness signal of a cycle as a table: the signals download (``signals.csv``).

The report page lists at most ``fairness.GAPS_SHOWN`` signals of each gap kind; this
table has them all, in the page's order (the kinds as the report lists them, the gaps
the largest first), each with the words the page prints and, for a gap, its figures
as numbers (the totals as the regime's display rule shows them, the gap their
difference: ``fairness.gap_figures``). Pure: the caller gathers the report and writes
the file (``csv_files.write_table`` makes the typed text safe from a spreadsheet).
"""

from __future__ import annotations

from collections.abc import Sequence

from workflow import catalog
from workflow.catalog import N_
from workflow.reports.facts import CycleFacts
from workflow.reports.fairness import FairnessReport, methods

HEADER = (
    N_("Signal"), N_("Signal (id)"), N_("Subject (id)"), N_("Subject"), N_("People behind it"),
    N_("Finding"), N_("Figures"), N_("Employee id"), N_("Full name"), N_("Scored by (id)"),
    N_("Scored by"), N_("Self-assessed total or peers' mean"), N_("Supervisor"),
    N_("Maximum of the peer-rated criteria"), N_("Gap"),
)


def signal_table(report: FairnessReport, facts: CycleFacts, locale: str
                 ) -> tuple[list[str], list[list[object]]]:
    """(the header in ``locale``, one row per signal of ``report``)."""
    names = facts.names
    rows: list[list[object]] = []
    for kind, title, _method in methods(report.rules, locale):
        for s in report.of_kind(kind):
            g = s.gap
            figures: Sequence[object] = ("",) * 8 if g is None else (
                g.reviewee_id, names.get(g.reviewee_id, g.reviewee_id), g.scorer_id,
                names.get(g.scorer_id, g.scorer_id), g.source, g.supervisor,
                "" if g.maximum is None else g.maximum.normalize(), g.gap)
            rows.append([title, kind, s.subject_id, s.subject, s.people, s.message,
                         s.figure, *figures])
    return [catalog.gettext(locale, h) for h in HEADER], rows

