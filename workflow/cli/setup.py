"""`kpi init` and `kpi org import`."""

from __future__ import annotations

import click

from workflow.cli import progress
from workflow.cli.main import Context, main, pass_context
from workflow.service.org import OrgPreview, import_org, preview_org, read_org_file
from workflow.service.setup import init_database


@main.command("init")
@pass_context
def init_cmd(ctx: Context) -> None:
    """Create or upgrade the database."""
    svc = ctx.service(check_schema=False)
    before, after = init_database(svc)
    where = svc.store.safe_url
    if before == after:
        click.echo(f"database {where} is up to date (schema {after})")
    elif before is None:
        click.echo(f"created database {where} (schema {after})")
    else:
        click.echo(f"upgraded database {where} from schema {before} to {after}")


@main.group("org")
def org() -> None:
    """The organisation: units, people, positions, supervisors."""


@org.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--by", "actor", default="cli", show_default=True, help="Who imports (audit).")
@click.option("--dry-run", is_flag=True,
              help="Only say what would change (the admin page's preview); write nothing.")
@pass_context
def org_import(ctx: Context, csv_file: str, actor: str, dry_run: bool) -> None:
    """Upsert the organisation from CSV_FILE (or an .xlsx workbook's first sheet); report
    what changed. All or nothing."""
    if dry_run:
        _print_preview(preview_org(ctx.service(), csv_file, read_org_file(csv_file)))
        return
    with progress.shown("kpi org import") as shown:
        report = import_org(ctx.service(), csv_file, actor_id=actor, now=ctx.now(),
                            progress=shown)
    click.echo(f"{csv_file}: {len(report.added)} added, {len(report.changed)} changed, "
               f"{len(report.unchanged)} unchanged"
               + (f", {report.not_in_file} in the organisation but not in the file (left as "
                  "they are)" if report.not_in_file else ""))
    if report.units_added:
        click.echo(f"  units added: {', '.join(report.units_added)}")
    if report.units_renamed:
        click.echo(f"  units renamed: {', '.join(report.units_renamed)}")
    for pid, fields in sorted(report.changed.items()):
        click.echo(f"  changed {pid}: {', '.join(fields)}")
    for handover in report.handovers:
        click.echo(f"  conflict of interest: {handover.describe()}")


def _print_preview(preview: OrgPreview) -> None:
    click.echo(f"{preview.file_name}: would add {len(preview.added)}, change "
               f"{len(preview.changed)}, leave {preview.unchanged} unchanged; "
               f"{len(preview.not_in_file)} in the organisation but not in the file (left as "
               "they are); nothing written (--dry-run)")
    for uid, name in preview.units_added:
        click.echo(f"  unit added: {uid} {name}")
    for uid, before, after in preview.units_renamed:
        click.echo(f"  unit renamed: {uid} {before!r} -> {after!r}")
    for line in preview.added:
        click.echo(f"  added {line.person_id} ({line.unit_id})")
    for line in preview.changed:
        fields = "; ".join(f"{c.field} {c.before!r} -> {c.after!r}" for c in line.changes)
        click.echo(f"  changed {line.person_id}: {fields}")
    for line in (*preview.changed, *preview.not_in_file):
        if line.open_evaluations:
            click.echo(f"  open evaluations of {line.person_id}: " + ", ".join(
                f"{e.evaluation_id} ({e.cycle_id}, {e.state})" for e in line.open_evaluations))
    for handover in preview.handovers:
        click.echo(f"  conflict of interest: {handover.describe()}")
    if preview.conflicts_removed:
        click.echo("  conflicts removed: " + ", ".join(
            f"{a}-{b}" for a, b in preview.conflicts_removed)
            + "; a case already handed on is not moved back")
