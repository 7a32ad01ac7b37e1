"""Writing a report to a file, the format chosen by the file's extension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from workflow.errors import KpiError
from workflow.progress import SILENT, Progress, counted
from workflow.reports import csv_files, spreadsheet
from workflow.reports.decisions import decision_list
from workflow.reports.facts import cycle_facts
from workflow.reports.html import cycle_report_html, record_html, write_pdf
from workflow.reports.rows import criteria_of, evaluation_rows
from workflow.reports.table import columns, localised
from workflow.service.core import Service

REPORT_FORMATS = (".csv", ".xlsx", ".html")
RECORD_FORMATS = (".html", ".pdf")


class UnsupportedFormat(KpiError):
    exit_code = 2


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int  # evaluations, list entries or audit rows written
    what: str


def _format(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise UnsupportedFormat(f"{path}: {what} can be written as {', '.join(allowed)}; "
                                "the file's extension chooses")
    return suffix


def write_report(svc: Service, cycle_id: str, path: Path, *, now: datetime | None = None,
                 locale: str | None = None, progress: Progress = SILENT) -> Written:
    """The cycle's report: CSV or XLSX (one row per evaluation) or HTML with charts, in
    ``locale`` (the HTML: Vietnamese by default; the CSV and XLSX keep their column ids,
    which scripts read, unless a locale is asked for). ``progress`` hears of the CSV's
    or XLSX's rows written (the HTML is counted in SQL: there are no rows to walk)."""
    suffix = _format(path, REPORT_FORMATS, "a cycle report")
    if suffix == ".html":
        html = cycle_report_html(svc, cycle_id, now=now, locale=locale or "vi")
        path.write_text(html, encoding="utf-8")
        return Written(path, html.count("<figure>"), "charts")
    # Written next to the target and renamed at the end: no half-written report.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with svc.store.read() as session:
            facts = cycle_facts(svc, cycle_id, session, now=now)
            labels = {c.id: facts.label(c.id, locale or "en") for c in facts.classes}
            criteria = criteria_of(svc, session, cycle_id, locale or "en")
            cols = columns(criteria, facts.timezone, labels, locale or "en")
            if locale is not None:
                cols = localised(cols, locale, dict(criteria))
            progress.start("evaluations", sum(facts.states.values()))
            rows = counted(evaluation_rows(svc, cycle_id, session), progress)
            if suffix == ".csv":
                with partial.open("w", encoding="utf-8-sig", newline="") as out:
                    n = csv_files.write_rows(out, cols, rows, locale)
            else:
                n = spreadsheet.write_workbook(partial, facts, cols, rows, locale)
            progress.done()
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return Written(path, n, "evaluations")


def write_list(svc: Service, cycle_id: str, which: str, path: Path,
               below: str | None = None) -> Written:
    """A decision list (not-completed, excellent, training) as CSV."""
    _format(path, (".csv",), "a decision list")
    header, rows = decision_list(svc, cycle_id, which, below=below)
    return Written(path, csv_files.write_table(path, header, rows), "people")


def write_record(svc: Service, person_id: str, path: Path, *, now: datetime | None = None,
                 locale: str | None = None) -> Written:
    """A person's record as HTML, or PDF printed from the same HTML, in ``locale``
    (default: the person's own language)."""
    suffix = _format(path, RECORD_FORMATS, "a personnel record")
    html = record_html(svc, person_id, now=now, locale=locale)
    if suffix == ".pdf":
        write_pdf(html, path)
    else:
        path.write_text(html, encoding="utf-8")
    return Written(path, html.count("<section class=\"evaluation\""), "evaluations")
