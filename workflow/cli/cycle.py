"""`kpi cycle check`, `kpi cycle open`, `kpi cycle list`, `kpi tick`."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime

import click

from workflow import formatting
from workflow.calendar import zone
from workflow.cli import progress
from workflow.cli.main import Context, main, parse_now, pass_context
from workflow.cli.when import local
from workflow.cycle_config import (
    PETITION_PHASES,
    PHASE_ORDER,
    CycleFile,
    DaysAfter,
    WorkingDaysAfter,
)
from workflow.domain import State
from workflow.petition import source_of
from workflow.service import lookups, recusals
from workflow.service.core import PersonInfo
from workflow.service.cycles import load_for_open, open_cycle
from workflow.service.notices import DIGEST_EVENT
from workflow.service.rules import CycleRules, quorum_exception
from workflow.service.simulate import Simulation
from workflow.service.sweep import tick
from workflow.timing import further_review_windows, phase_window


@main.group("cycle")
def cycle() -> None:
    """Cycles: check a calendar file before launch, open it."""


@cycle.command("check")
@click.argument("cycle_file", type=click.Path(dir_okay=False))
@click.option("--csv", "as_csv", is_flag=True,
              help="Print only the simulated emails, as CSV (one row per email).")
@pass_context
def check_cmd(ctx: Context, cycle_file: str, as_csv: bool) -> None:
    """Validate CYCLE_FILE and print its simulated calendar before launch.

    The phases' dates, the deadlines that fall on a day off and where they move, who
    is in the cycle, and who gets which email on which day if nobody acts (the
    deadlines alone), for the organisation in the database. The cycle opens at
    `--now` (before the command name), by default now.
    """
    svc = ctx.service()
    loaded, rules = load_for_open(svc, cycle_file)
    opened_at = ctx.now()
    checked = lookups.check_cycle(svc, rules, opened_at)
    plan, sim, names = checked.plan, checked.simulation, checked.people
    if as_csv:
        _emails_csv(sim, names)
        if plan.problems:
            for problem in plan.problems:
                click.echo(f"problem: {problem}", err=True)
            raise SystemExit(2)
        return
    config = rules.config
    tz = config.timezone
    click.echo(f"cycle {config.id}: {config.name}")
    click.echo(f"period {config.period.kind} {config.period.start} .. {config.period.end}, "
               f"timezone {tz}, regime {rules.regime.id} v{rules.regime.version}")
    for note in loaded.advice():
        click.echo(f"note: {note}")
    for warning in plan.warnings:
        click.echo(f"warning: {warning}")
    exception = quorum_exception(rules)
    if exception is not None:
        click.echo(f"exception: {exception}")
    if not svc.admins(rules) and any(s.to == "admins" for s in config.escalation):
        click.echo("note: nobody is an admin (admins in the settings and in the cycle file): "
                   "escalations to the admins reach nobody")
    _phases(rules, opened_at, loaded.config)
    click.echo("")
    by_unit: dict[str, int] = {}
    for e in plan.evaluations:
        by_unit[e.member.unit_id] = by_unit.get(e.member.unit_id, 0) + 1
    click.echo(f"{len(plan.evaluations)} evaluations: "
               + ", ".join(f"{u} {n}" for u, n in sorted(by_unit.items())))
    if plan.calibrator_id:
        click.echo(f"calibrator: {plan.calibrator_id}")
    for recusal in plan.recusals:
        click.echo(f"recusal: {recusals.describe(recusal)}")
    for pid, why in plan.left_out:
        click.echo(f"left out: {pid}: {why}")
    _emails_table(sim, names, tz)
    if plan.problems:
        for problem in plan.problems:
            click.echo(f"problem: {problem}", err=True)
        raise SystemExit(2)
    click.echo(f"{loaded.path}: ok")


def _length(due: object) -> str:
    if isinstance(due, DaysAfter):
        return f"  ({due.days} days)"
    if isinstance(due, WorkingDaysAfter):
        return f"  ({due.working_days} working days)"
    return ""


def _phases(rules: CycleRules, opened_at: datetime, cycle_file: CycleFile) -> None:
    """Each phase's window if each runs its full time, and the deadlines moved off days off.

    The petition phases say where their due comes from (the regime's petition rules, or
    the cycle file); a window that starts at publication is shown as if the unit's
    results were published the moment the phase before it ends."""
    config, cal = rules.config, rules.calendar
    tz = config.timezone
    click.echo("")
    click.echo(f"phases, if each runs its full time (opened {local(opened_at, tz)}):")
    entered = opened_at
    moved: list[str] = []
    for state in PHASE_ORDER:
        if not config.enabled(state):
            click.echo(f"  {state.value:<20} off")
            continue
        window = phase_window(config, cal, state, entered)
        phase = config.phase(state)
        origin = ""
        if state in PETITION_PHASES:
            origin = f"  [{source_of(cycle_file, rules.regime, state)}]"
            if state is State.APPEAL_WINDOW and rules.petition_from_publication:
                origin += " from the publication of the unit's results"
        click.echo(f"  {state.value:<20} opens {local(window.opens_at, tz)}  "
                   f"due {local(window.due_at, tz)}{_length(phase.due)}{origin}")
        if window.moved_from is not None:
            moved.append(f"  phases.{state.value}.due {local(window.moved_from, tz)} is a day "
                         f"off ({window.moved_because}): moved to {local(window.due_at, tz)}")
        if phase.opens is not None:
            why = cal.day_off_reason(phase.opens.date())
            if why:
                moved.append(f"  phases.{state.value}.opens {phase.opens:%a %Y-%m-%d %H:%M} is "
                             f"a day off ({why}): the task emails go out then anyway")
        entered = window.due_at
    # The regime lets the decision be petitioned again (re_review): a fresh window
    # from the decision's notification, then the review by the next person up.
    for review, state, window in further_review_windows(config, cal, entered,
                                                        rules.further_reviews):
        name = f"{state.value} ({review})"
        what = ("petition against the decision" if state is State.APPEAL_WINDOW
                else f"review {review}, by the next person up from whoever decided")
        click.echo(f"  {name:<20} opens {local(window.opens_at, tz)}  "
                   f"due {local(window.due_at, tz)}{_length(config.phase(state).due)}"
                   f"  [{what}]")
        entered = window.due_at
    if rules.regime.petition is not None:
        click.echo(f"petition (kiến nghị), regime {rules.regime.id}: "
                   f"{rules.regime.petition.describe()}")
        for note in rules.regime.petition.unverified:
            click.echo(f"  unverified: {note}")
    click.echo("deadlines on a day off:" + ("" if moved else " none"))
    for line in moved:
        click.echo(line)
    start = opened_at.astimezone(zone(tz)).date()
    end = entered.astimezone(zone(tz)).date()
    holidays = [f"{d:%a %d %b} {why}" for d, why in cal.days_off(start, end) if why != "weekend"]
    swapped = [f"{d:%a %d %b} {why}" for d, why in cal.swapped_working_days(start, end)]
    click.echo("days off on the way: " + ("; ".join(holidays) or "weekends only"))
    if swapped:
        click.echo("weekend days worked: " + "; ".join(swapped))


def _emails_table(sim: Simulation, names: dict[str, PersonInfo], tz: str) -> None:
    click.echo("")
    click.echo("emails if nobody acts, by the recipient's local day and time:")
    day = None
    for e in sorted(sim.emails, key=lambda e: (e.local.replace(tzinfo=None), e.recipient_id)):
        if e.local_day != day:
            day = e.local_day
            click.echo(f"  {day:%a %Y-%m-%d}")
        person = names.get(e.recipient_id)
        about = f"about {e.reviewee_id}" if e.reviewee_id else "calibration pool"
        if e.event == DIGEST_EVENT:
            about = "the day's items, one email"
        elif e.held:
            about += ", in the digest"
        zone_note = "" if e.timezone == tz else f" ({e.timezone})"
        click.echo(f"    {e.local:%H:%M}{zone_note}  {e.event:<22} {e.recipient_id:<10} "
                   f"{(person.full_name if person else '')[:28]:<28} {about}")
    delivered = sim.delivered
    totals = Counter(e.event for e in delivered)
    click.echo(f"  {len(delivered)} emails sent: "
               + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    held = len(sim.emails) - len(delivered)
    if held:
        click.echo(f"  {held} notices to supervisors go into their daily digest rather than "
                   "alone")
    ends = Counter((end.state.value, bool(end.waiting_on)) for end in sim.ends)
    click.echo("in the end, nobody acting: " + ", ".join(
        f"{n} in {state}" + (" waiting on named people" if waiting else "")
        for (state, waiting), n in sorted(ends.items())))
    for end in sim.ends:
        if not end.waiting_on and end.state not in (State.FINALISED, State.CANCELLED):
            click.echo(f"problem: {end.reviewee_id} ends in {end.state.value} waiting on "
                       "nobody", err=True)


# `delivery`: "alone", or "digest" for a notice that goes out inside the recipient's
# digest of that instant (itself a row, event "digest").
CSV_COLUMNS = ("local_date", "local_time", "timezone", "at_utc", "event", "recipient_id",
               "recipient_name", "recipient_email", "reviewee_id", "phase", "delivery")


def _emails_csv(sim: Simulation, names: dict[str, PersonInfo]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in sim.emails:
        person = names.get(e.recipient_id)
        writer.writerow([f"{e.local_day}", f"{e.local:%H:%M}", e.timezone,
                         e.at.isoformat(timespec="minutes"), e.event, e.recipient_id,
                         person.full_name if person else "", person.email if person else "",
                         e.reviewee_id or "", e.phase.value, "digest" if e.held else "alone"])
    click.echo(out.getvalue(), nl=False)


@cycle.command("open")
@click.argument("cycle_file", type=click.Path(dir_okay=False))
@click.option("--by", "actor", default="cli", show_default=True, help="Who opens (audit).")
@pass_context
def open_cmd(ctx: Context, cycle_file: str, actor: str) -> None:
    """Create the evaluations of CYCLE_FILE and queue the first emails."""
    with progress.shown("kpi cycle open") as shown:
        report = open_cycle(ctx.service(), cycle_file, actor_id=actor, now=ctx.now(),
                            progress=shown)
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
    listed = lookups.list_evaluations(ctx.service(), cycle_id, state=state, unit=unit)
    for r in listed.lines:
        # As every other surface shows it: the regime's display rule.
        score = f"{formatting.score(r.score, 'en', listed.regime):>6}" if r.score else "     -"
        click.echo(f"{r.id:>7}  {r.reviewee_id:<10} {r.reviewee_name:<28} {r.unit_id:<6} "
                   f"{r.state.value:<19} due {local(r.due_at, listed.timezone)}  score {score} "
                   f"{r.final_class or ''}")


@main.command("tick")
@click.option("--now", "tick_now", metavar="ISO", callback=parse_now,
              help="Run what is due as of this time (default: now).")
@click.option("--batch", default=500, show_default=True, help="Evaluations per round.")
@pass_context
def tick_cmd(ctx: Context, tick_now: datetime | None, batch: int) -> None:
    """Run everything that is due: deadlines, reminders, escalations."""
    with progress.shown("kpi tick") as shown:
        report = tick(ctx.service(), tick_now or ctx.now(), batch=batch, progress=shown)
    click.echo(report.summary())
