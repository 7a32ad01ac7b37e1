"""`kpi report` (CSV, XLSX, HTML, decision lists) and `kpi record`."""

from __future__ import annotations

from pathlib import Path

import click

from workflow.cli import progress
from workflow.cli.main import Context, main, pass_context
from workflow.reports.decisions import LISTS


@main.command("report")
@click.argument("cycle_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.csv, FILE.xlsx or FILE.html: the extension chooses the format.")
@click.option("--list", "which", type=click.Choice(LISTS),
              help="A decision list instead of the report, as CSV.")
@click.option("--below", metavar="CLASS",
              help="For --list training: the class people stayed under (default completed).")
@click.option("--lang", type=click.Choice(["vi", "en"]),
              help="The report's language: the HTML's (default vi), and the CSV's or XLSX's "
                   "headers and words (without it they keep the column ids scripts read).")
@pass_context
def report_cmd(ctx: Context, cycle_id: str, out: Path, which: str | None,
               below: str | None, lang: str | None) -> None:
    """A cycle's results: one row per evaluation (CSV, XLSX) or the report with charts
    (HTML); or, with --list, who is not completed, excellent, or in need of training."""
    # Imported here: openpyxl and weasyprint are slow to import, and only reports use them.
    from workflow.reports.export import write_list, write_report  # noqa: PLC0415

    svc = ctx.service()
    if which:
        written = write_list(svc, cycle_id, which, out, below)
    else:
        if below:
            raise click.UsageError("--below applies to --list training only")
        with progress.shown("kpi report") as shown:
            written = write_report(svc, cycle_id, out, now=ctx.now(), locale=lang,
                                   progress=shown)
    click.echo(f"{written.path}: {written.rows} {written.what}")


@main.command("record")
@click.argument("person_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.html or FILE.pdf.")
@click.option("--lang", type=click.Choice(["vi", "en"]),
              help="The record's language (default: the person's own).")
@pass_context
def record_cmd(ctx: Context, person_id: str, out: Path, lang: str | None) -> None:
    """A person's evaluations with their breakdown, audit trail and the chain's check."""
    # Imported here, as above (weasyprint too, for PDF).
    from workflow.reports.export import write_record  # noqa: PLC0415

    written = write_record(ctx.service(), person_id, out, now=ctx.now(), locale=lang)
    click.echo(f"{written.path}: {written.rows} {written.what}")
