"""CSV output: the per-evaluation report and the decision lists.

UTF-8 with a byte-order mark, so that a spreadsheet opens the Vietnamese names
right. A text cell that a spreadsheet would run as a formula (it starts with
``= + - @``, a tab or a carriage return) gets a leading apostrophe: the reasons
and names are typed by people.

Scores: a file in a reader's language (headers in words: ``kpi report --lang``, the
admin's downloads and decision lists, the unit's published list) writes
them as its pages and emails do, by ``workflow.formatting`` (89,99 in Vietnamese, 89.99
in English; a spreadsheet set to that language reads either as a number); a file
without one (column ids: ``kpi report`` and ``kpi report --list`` without ``--lang``,
for scripts) with a decimal point, whatever the language.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from workflow import catalog, formatting
from workflow.catalog import N_
from workflow.reports.rows import EvaluationRow
from workflow.reports.table import Column

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Text a spreadsheet shows as text, never runs."""
    return "'" + value if value.startswith(FORMULA_START) else value


def score_text(value: Any, locale: str | None = None) -> str:
    """A score already rounded by the regime's display rule, as a CSV file holds it: the
    way ``locale``'s pages write it (89,99 / 89.99), or with a decimal point for a file
    in no language (scripts read it); never rounded again."""
    if locale is None:
        return f"{Decimal(value):f}"
    return _written(f"{Decimal(value):f}", locale)


# A report writes a score per criterion per evaluation (millions at national scale),
# from a few thousand distinct values (0.00 to 100.00): Babel writes each one once.
@lru_cache(maxsize=65536)
def _written(text: str, locale: str) -> str:
    return formatting.shown_number(text, locale)


def cell(kind: str, value: Any, locale: str | None = None) -> str:
    """A value as the CSV holds it; ``locale``: the yes and no of the report's language."""
    if value is None:
        return ""
    if kind == "score":  # rounded already by the regime's display rule: written as is
        return score_text(value, locale)
    if kind == "bool":
        if locale is not None:
            return catalog.gettext(locale, N_("yes") if value else N_("no"))
        return "yes" if value else "no"
    if kind == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind == "int":
        return str(int(value))
    return safe_text(str(value))


def _writer(kind: str, locale: str | None) -> Callable[[Any], str]:
    """``cell`` for one column, its kind and words chosen once (millions of cells at
    national scale); the same text as ``cell``."""
    if kind == "score":
        return lambda v: "" if v is None else score_text(v, locale)
    if kind == "bool":
        yes, no = (("yes", "no") if locale is None else
                   (catalog.gettext(locale, N_("yes")), catalog.gettext(locale, N_("no"))))
        return lambda v: "" if v is None else yes if v else no
    if kind == "int":
        return lambda v: "" if v is None else str(int(v))
    if kind == "datetime":
        return lambda v: "" if v is None else v.strftime("%Y-%m-%d %H:%M") \
            if isinstance(v, datetime) else safe_text(str(v))
    if kind == "text":
        return lambda v: "" if v is None else safe_text(str(v))
    return lambda v: cell(kind, v, locale)


def write_rows(out: TextIO, cols: Sequence[Column], rows: Iterable[EvaluationRow],
               locale: str | None = None) -> int:
    writer = csv.writer(out)
    writer.writerow([c.header for c in cols])
    written = [(c.value, _writer(c.kind, locale)) for c in cols]
    n = 0
    for row in rows:
        writer.writerow([write(value(row)) for value, write in written])
        n += 1
    return n


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """A plain table (decision lists): text made safe, numbers as shown to people (the
    caller rounds scores by the regime's display rule)."""
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow([
                f"{v:f}" if isinstance(v, Decimal) else
                "" if v is None else safe_text(v) if isinstance(v, str) else str(v)
                for v in row])
            n += 1
    return n
