"""`kpi publication`: each unit's publication of its results, and the published list
as a file."""

from __future__ import annotations

from pathlib import Path

import click

from workflow.calendar import zone
from workflow.cli.main import Context, main, pass_context
from workflow.service import lookups, publication


@main.command("publication")
@click.argument("cycle_id")
@click.option("--unit", "unit_id", help="One unit: its publication, or its list with --out.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.csv: the published list (of --unit, or of every published unit).")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True,
              help="The language of the file's headers and classes.")
@pass_context
def publication_cmd(ctx: Context, cycle_id: str, unit_id: str | None, out: Path | None,
                    lang: str) -> None:
    """Units' results published in the unit: when, how many, and the published list.

    A unit's results are published automatically when every evaluation of the unit
    has its result (none left before the appeal window); the date is recorded and,
    where the regime says so, starts the petition window.
    """
    svc = ctx.service()
    units = publication.cycle_publications(svc, cycle_id)
    if unit_id is not None:
        known = [u.unit_id for u in units]
        if unit_id not in known:
            raise click.UsageError(f"cycle {cycle_id} has no evaluation in unit {unit_id!r}; "
                                   f"its units are {', '.join(known)}")
        units = [u for u in units if u.unit_id == unit_id]
    tz = zone(lookups.cycle_rules(svc, cycle_id).tz_name)
    for u in units:
        when = "not published" if u.published_at is None else \
            f"published {u.published_at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
        click.echo(f"{u.unit_id} ({u.unit_name}): {when}; {u.results} results, "
                   f"{u.waiting} waiting")
    if out is None:
        return
    if out.suffix.lower() != ".csv":
        raise click.UsageError(f"--out {out}: the published list is written as FILE.csv")
    chosen = [u for u in units if u.published_at is not None]
    if not chosen:
        what = f"unit {unit_id} is" if unit_id is not None else "no unit of the cycle is"
        raise click.UsageError(f"{what} published yet: a unit is published when every one "
                               "of its evaluations has its result")
    parts = [publication.publication_csv(
        publication.unit_publication(svc, cycle_id, u.unit_id), lang) for u in chosen]
    # One header: the files of several units, one after the other.
    text = parts[0]
    for part in parts[1:]:
        text += part.split("\r\n", 1)[1]
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)  # all or nothing: never a half-written file
    click.echo(f"{out}: {sum(u.results for u in chosen)} results of {len(chosen)} units")
