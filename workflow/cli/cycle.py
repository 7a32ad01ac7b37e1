"""`kpi cycle check`, `kpi cycle open`, `kpi cycle list`, `kpi tick`."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select

from workflow.calendar import zone
from workflow.cli.main import Context, main, parse_now, pass_context
from workflow.cycle_config import PHASE_ORDER
from workflow.service.core import EVALUATION, load_people
from workflow.service.cycles import load_for_open, open_cycle, plan_population
from workflow.service.sweep import tick
from workflow.timing import phase_window


def local(instant: datetime | None, tz: str) -> str:
    if instant is None:
        return "-"
    return instant.astimezone(zone(tz)).strftime("%a %Y-%m-%d %H:%M")


@main.group("cycle")
def cycle() -> None:
    """Cycles: check a calendar file before launch, open it."""


@cycle.command("check")
@click.argument("cycle_file", type=click.Path(dir_okay=False))
@pass_context
def check_cmd(ctx: Context, cycle_file: str) -> None:
    """Validate CYCLE_FILE and print its calendar and who is in it."""
    svc = ctx.service()
    loaded, rules = load_for_open(svc, cycle_file)
    config = rules.config
    tz = config.timezone
    click.echo(f"cycle {config.id}: {config.name}")
    click.echo(f"period {config.period.kind} {config.period.start} .. {config.period.end}, "
               f"timezone {tz}, regime {rules.regime.id} v{rules.regime.version}")
    click.echo("")
    click.echo("phases, if each runs its full time:")
    entered = ctx.now()
    for state in PHASE_ORDER:
        if not config.enabled(state):
            click.echo(f"  {state.value:<20} off")
            continue
        window = phase_window(config, rules.calendar, state, entered)
        moved = ""
        if window.moved_from is not None:
            moved = (f"  (set for {local(window.moved_from, tz)}, a {window.moved_because}: "
                     "moved to the next working day)")
        click.echo(f"  {state.value:<20} opens {local(window.opens_at, tz)}  "
                   f"due {local(window.due_at, tz)}{moved}")
        entered = window.due_at
    first = phase_window(config, rules.calendar, PHASE_ORDER[0], ctx.now()).opens_at
    days_off = list(rules.calendar.days_off(first.astimezone(zone(tz)).date(),
                                            entered.astimezone(zone(tz)).date()))
    holidays = [(d, why) for d, why in days_off if why != "weekend"]
    if holidays:
        click.echo("days off on the way: " + "; ".join(f"{d} {why}" for d, why in holidays))
    with svc.store.read() as session:
        plan = plan_population(svc, session, rules)
    click.echo("")
    by_unit: dict[str, int] = {}
    for e in plan.evaluations:
        by_unit[e.member.unit_id] = by_unit.get(e.member.unit_id, 0) + 1
    click.echo(f"{len(plan.evaluations)} evaluations: "
               + ", ".join(f"{u} {n}" for u, n in sorted(by_unit.items())))
    if plan.calibrator_id:
        click.echo(f"calibrator: {plan.calibrator_id}")
    for pid, why in plan.left_out:
        click.echo(f"left out: {pid}: {why}")
    if plan.problems:
        for problem in plan.problems:
            click.echo(f"problem: {problem}", err=True)
        raise SystemExit(2)
    click.echo(f"{loaded.path}: ok")


@cycle.command("open")
@click.argument("cycle_file", type=click.Path(dir_okay=False))
@click.option("--by", "actor", default="cli", show_default=True, help="Who opens (audit).")
@pass_context
def open_cmd(ctx: Context, cycle_file: str, actor: str) -> None:
    """Create the evaluations of CYCLE_FILE and queue the first emails."""
    report = open_cycle(ctx.service(), cycle_file, actor_id=actor, now=ctx.now())
    units = ", ".join(f"{u} {n}" for u, n in sorted(report.by_unit.items()))
    click.echo(f"opened cycle {report.cycle_id}: {report.evaluations} evaluations in "
               f"self_assessment ({units}); {report.emails} emails queued")
    for pid, why in report.left_out:
        click.echo(f"  left out {pid}: {why}")


@cycle.command("list")
@click.argument("cycle_id")
@click.option("--state", help="Only evaluations in this state.")
@click.option("--unit", help="Only this unit.")
@pass_context
def list_cmd(ctx: Context, cycle_id: str, state: str | None, unit: str | None) -> None:
    """List the evaluations of CYCLE_ID: id, reviewee, state, due."""
    svc = ctx.service()
    with svc.store.read() as session:
        rules = svc.rules.get(session, cycle_id)
        stmt = select(EVALUATION).where(EVALUATION.c.cycle_id == cycle_id)
        if state:
            stmt = stmt.where(EVALUATION.c.state == state)
        if unit:
            stmt = stmt.where(EVALUATION.c.unit_id == unit)
        rows = session.execute(stmt.order_by(EVALUATION.c.id)).all()
        people = load_people(session, [r.reviewee_id for r in rows])
    for r in rows:
        name = people[r.reviewee_id].full_name if r.reviewee_id in people else ""
        score = f"{r.score[:6]:>6}" if r.score else "     -"
        click.echo(f"{r.id:>7}  {r.reviewee_id:<10} {name:<28} {r.unit_id:<6} {r.state:<19} "
                   f"due {local(r.due_at, rules.tz_name)}  score {score} "
                   f"{r.final_class or ''}")


@main.command("tick")
@click.option("--now", "tick_now", metavar="ISO", callback=parse_now,
              help="Run what is due as of this time (default: now).")
@click.option("--batch", default=500, show_default=True, help="Evaluations per round.")
@pass_context
def tick_cmd(ctx: Context, tick_now: datetime | None, batch: int) -> None:
    """Run everything that is due: deadlines, reminders, escalations."""
    report = tick(ctx.service(), tick_now or ctx.now(), batch=batch)
    click.echo(report.summary())
