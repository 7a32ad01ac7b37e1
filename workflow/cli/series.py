"""`kpi cycle series check` and `kpi cycle series open`: a year of cycles from one file."""

from __future__ import annotations

import click

from workflow.cli.cycle import cycle
from workflow.cli.main import Context, pass_context
from workflow.cli.when import local
from workflow.service import series as series_service


@cycle.group("series")
def series() -> None:
    """A series file: the year's monthly or quarterly cycles and the year-end one."""


@series.command("check")
@click.argument("series_file", type=click.Path(dir_okay=False))
@pass_context
def check_cmd(ctx: Context, series_file: str) -> None:
    """Validate SERIES_FILE and print each generated cycle's id and phase dates."""
    check = series_service.check_series(ctx.service(), series_file)
    s = check.series.series
    click.echo(f"series {s.id}: {s.year}, every {s.every}"
               + (", and the year-end cycle" if s.year_end else "")
               + f"; {len(check.periods)} cycles")
    for p in check.periods:
        c = p.cycle
        tz = c.config.timezone
        status = "open since " + local(p.opened_at, tz) if p.opened_at else (
            f"scheduled ({p.scheduled})" if p.scheduled else "not open")
        click.echo("")
        click.echo(f"{c.cycle_id}  {c.config.period.kind} {c.config.period.start} .. "
                   f"{c.config.period.end}  {status}")
        click.echo(f"  {c.config.name}")
        for w in c.windows():
            moved = f"  (moved from {local(w.moved_from, tz)}: {w.moved_because})" \
                if w.moved_from else ""
            click.echo(f"  {w.state.value:<20} opens {local(w.opens_at, tz)}  "
                       f"due {local(w.due_at, tz)}{moved}")
        if p.schedule_problem and p.scheduled == series_service.FAILED:
            click.echo(f"  problem: the scheduled open failed: {p.schedule_problem}", err=True)
    click.echo(f"{check.series.path}: ok")


@series.command("open")
@click.argument("series_file", type=click.Path(dir_okay=False))
@click.option("--period", help="The period to open (2026-05, 2026-q2, 2026-year or the cycle "
                               "id); default: the first one not open yet.")
@click.option("--schedule", is_flag=True,
              help="Do not open now: let the sweep open each period (or --period) when its "
                   "self-assessment opens.")
@click.option("--by", "actor", default="cli", show_default=True, help="Who opens (audit).")
@pass_context
def open_cmd(ctx: Context, series_file: str, period: str | None, schedule: bool,
             actor: str) -> None:
    """Open a period of SERIES_FILE now, or schedule the periods to open at their dates."""
    svc = ctx.service()
    if schedule:
        report = series_service.schedule(svc, series_file, actor_id=actor, now=ctx.now(),
                                         periods=[period] if period else None)
        for cycle_id, when in report.scheduled:
            click.echo(f"scheduled {cycle_id}: opens {local(when, 'Asia/Ho_Chi_Minh')}")
        for cycle_id in report.already:
            click.echo(f"  {cycle_id}: open or scheduled already")
        for cycle_id in report.past:
            click.echo(f"  {cycle_id}: its opening has passed; open it with --period")
        return
    opened = series_service.open_period(svc, series_file, period, actor_id=actor,
                                        now=ctx.now())
    units = ", ".join(f"{u} {n}" for u, n in sorted(opened.by_unit.items()))
    click.echo(f"opened cycle {opened.cycle_id}: {opened.evaluations} evaluations in "
               f"self_assessment ({units}); {opened.emails} emails queued")
    for pid, why in opened.left_out:
        click.echo(f"  left out {pid}: {why}")
