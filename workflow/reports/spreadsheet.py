"""The XLSX workbook: a summary sheet, then one sheet per unit.

Written by ``workflow.reports.xlsx`` as text straight into the zip: rows go to disk as
they come, so a cycle of 100,000 evaluations takes no more memory than one of ten, and
a cell costs a string format (openpyxl's write-only mode cost 60 microseconds a cell).
Every sheet has its header row (and the identifying columns) frozen and a number
format per column.
Text is always stored as text: a reason typed as ``=1+1`` is never a formula.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from workflow import catalog, formatting
from workflow.catalog import N_
from workflow.reports import words
from workflow.reports.facts import CycleFacts
from workflow.reports.rows import EvaluationRow
from workflow.reports.table import Column
from workflow.reports.xlsx import Sheet, Workbook

FORMATS = {"int": "0", "score": "0.00", "datetime": "yyyy-mm-dd hh:mm", "share": "0.0%"}
FROZEN = "D2"  # the header row and id, employee id and name stay in view
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_title(unit_id: str, used: set[str]) -> str:
    """A valid, unique sheet name (at most 31 characters, none of []:*?/\\)."""
    base = _BAD_SHEET_CHARS.sub("_", unit_id).strip("'")[:31] or "unit"
    title, n = base, 1
    while title.lower() in used:
        n += 1
        title = f"{base[:28]}~{n}"
    used.add(title.lower())
    return title


def score_format(value: Decimal) -> str:
    """The number format that shows a shown score's own decimals, no more, no fewer: the
    cell reads what the pages and the CSV read."""
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return "0." + "0" * places if places else "0"


Cell = tuple[Any, str | None, bool]


def _cell(_ws: Sheet, value: Any, kind: str = "text", bold: bool = False) -> Cell:
    """A value with its number format (text is always written as text: never a formula,
    whatever it starts with)."""
    number_format = FORMATS.get(kind)
    if isinstance(value, Decimal):
        if kind == "score":  # rounded already by the regime's display rule
            number_format = score_format(value)
        value = float(value)  # Excel keeps doubles; the shown value has few decimals
    return value, number_format, bold


def _header(ws: Sheet, headers: Sequence[str]) -> None:
    ws.append([_cell(ws, h, bold=True) for h in headers])


def _summary(wb: Workbook, facts: CycleFacts, locale: str | None = None) -> None:
    """The summary sheet; with ``locale``, its words in that language (else the ids)."""
    def say(words_id: str, text: str, **values: object) -> str:
        return words_id if locale is None else catalog.gettext(locale, text, **values)

    classes = [c.id for c in facts.classes]
    widths = [12, 30, 12, 10, *([16] * len(classes)), 12, 18]
    ws = wb.sheet(say("Summary", N_("Summary")), widths, freeze="B5")
    ws.append([_cell(ws, f"{facts.name} ({facts.cycle_id})", bold=True)])
    period = (f"Period {facts.period_start} to {facts.period_end}; regime {facts.regime.id}; "
              f"times in {facts.timezone}") if locale is None else catalog.gettext(
        locale, N_("Period from %(start)s to %(end)s; rules: %(rules)s; times in %(zone)s"),
        start=formatting.numeric_date(facts.period_start, locale),
        end=formatting.numeric_date(facts.period_end, locale),
        rules=facts.regime.name.vi if locale == "vi" else facts.regime.name.en,
        zone=formatting.zone_name(facts.timezone, locale) or facts.timezone)
    ws.append([_cell(ws, period)])
    ws.append([])
    limited = facts.regime.quota.limited_class if facts.regime.quota else None
    relative = facts.regime.quota.relative_to if facts.regime.quota else None

    def class_head(class_id: str) -> str:
        return f"class:{class_id}" if locale is None else facts.label(class_id, locale)

    _header(ws, [say("unit_id", N_("Unit id")), say("unit", N_("Unit")),
                 say("evaluations", N_("Evaluations")), say("scored", N_("Scored")),
                 *[class_head(c) for c in classes], say("mean_score", N_("Mean score")),
                 f"{limited}_share" if locale is None else catalog.gettext(
                     locale, N_("Share “%(class)s”"),
                     **{"class": facts.label(limited or "", locale)})])
    for u in facts.units:
        share = (u.classes.get(limited or "", 0) / u.classes[relative]
                 if relative and u.classes.get(relative) else None)
        ws.append([_cell(ws, u.unit_id), _cell(ws, u.name), _cell(ws, u.evaluations, "int"),
                   _cell(ws, u.scored, "int"),
                   *[_cell(ws, u.classes.get(c, 0), "int") for c in classes],
                   _cell(ws, u.scores.mean, "score"), _cell(ws, share, "share")])
    totals = facts.class_totals()
    ws.append([_cell(ws, say("total", N_("All units")), bold=True), _cell(ws, ""),
               _cell(ws, facts.evaluations, "int", True), _cell(ws, facts.scored, "int", True),
               *[_cell(ws, totals.get(c, 0), "int", True) for c in classes]])
    ws.append([])
    ws.append([_cell(ws, say("Quota pools", N_("Quota pools")), bold=True)])
    if facts.regime.quota:
        q = facts.regime.quota
        _header(ws, [say("pool", N_("Pool")), "", class_head(q.limited_class).removeprefix(
            "class:"), class_head(q.relative_to).removeprefix("class:"),
            say("allowed", N_("Allowed")), say("holds", N_("The quota holds"))])
        for m in facts.meters:
            ws.append([_cell(ws, m.pool if locale is None else words.pool(m.pool, locale)),
                       _cell(ws, ""), _cell(ws, m.limited, "int"),
                       _cell(ws, m.relative, "int"), _cell(ws, m.allowed, "int"),
                       _cell(ws, not m.breaks)])
    ws.append([])
    ws.append([_cell(ws, say("On time per phase", N_("On time per phase")), bold=True)])
    _header(ws, [say("phase", N_("Phase")), "", say("on_time", N_("On time")),
                 say("late", N_("Late")), say("still_open", N_("Still open")),
                 say("on_time_rate", N_("On-time rate"))])
    for t in facts.timeliness:
        ws.append([_cell(ws, t.phase if locale is None else words.state(t.phase, locale)),
                   _cell(ws, ""), _cell(ws, t.on_time, "int"),
                   _cell(ws, t.late, "int"), _cell(ws, t.still_open, "int"),
                   _cell(ws, t.rate, "share")])
    ws.append([])
    ws.append([_cell(ws, say("Flags", N_("Flags")), bold=True)])
    for name, n in facts.flags.items():
        ws.append([_cell(ws, name if locale is None else words.flag(name, locale)),
                   _cell(ws, ""), _cell(ws, n, "int")])


def write_workbook(path: Path, facts: CycleFacts, cols: Sequence[Column],
                   rows: Iterable[EvaluationRow], locale: str | None = None) -> int:
    """Summary first, then a sheet per unit in unit order; returns the rows written."""
    sheet = locale or "en"  # (a name, not a literal: the extraction reads literals)
    used = {"summary", catalog.gettext(sheet, N_("Summary")).lower()}
    widths = [c.width for c in cols]
    headers = [c.header for c in cols]
    # The columns' kinds once, not per row (four million cells at 100,000 people).
    kinds = [(c.value, FORMATS.get(c.kind), c.kind == "score") for c in cols]
    n = 0
    with Workbook(path) as wb:
        _summary(wb, facts, locale)
        ws: Sheet | None = None
        current: str | None = None
        for row in rows:
            if row.unit_id != current or ws is None:
                current = row.unit_id
                ws = wb.sheet(sheet_title(row.unit_id, used), widths, freeze=FROZEN)
                _header(ws, headers)
            cells: list[Cell] = []
            for value_of, number_format, is_score in kinds:
                value = value_of(row)
                if isinstance(value, Decimal):
                    cells.append((float(value), score_format(value) if is_score
                                  else number_format, False))
                else:
                    cells.append((value, number_format, False))
            ws.append(cells)
            n += 1
    return n
