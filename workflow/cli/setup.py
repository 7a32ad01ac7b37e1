"""`kpi init` and `kpi org import`."""

from __future__ import annotations

import click

from workflow.cli.main import Context, main, pass_context
from workflow.service.org import import_org
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
@pass_context
def org_import(ctx: Context, csv_file: str, actor: str) -> None:
    """Upsert the organisation from CSV_FILE; report what changed. All or nothing."""
    report = import_org(ctx.service(), csv_file, actor_id=actor, now=ctx.now())
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
