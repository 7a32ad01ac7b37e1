"""Acting on evaluations from the command line: the same service calls the web app makes.

Payloads are JSON files in the form the web form posts (see README "Scripting").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from workflow import formatting
from workflow.cli.main import Context, fail, main, pass_context
from workflow.cli.when import local
from workflow.clock import parse_instant
from workflow.cycle_config import PHASE_ORDER
from workflow.domain import State, SubmissionKind, Trigger
from workflow.errors import EvaluationAlreadyChanged
from workflow.inputfile import read_json_object
from workflow.scoring.model import Regime
from workflow.scoring.quota_explain import allowance_rule
from workflow.service import calibration, calibration_moves, lookups, race, records
from workflow.service.core import Service
from workflow.service.transition import fire

HUMAN_TRIGGERS = [t.value for t in Trigger if t not in (
    Trigger.SELF_ASSESSMENT_MISSED, Trigger.PEER_INPUT_CLOSED, Trigger.APPEAL_WINDOW_CLOSED,
    Trigger.APPROVE_CALIBRATION)]


def cycle_instant(text: str, tz: str) -> datetime:
    """A date-time typed for a cycle's deadline: local to the cycle without an offset."""
    try:
        return parse_instant(text, tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--until'") from None


def read_payload(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    # Capped, UTF-8 and shallow (workflow/inputfile.py): raises InputFileError.
    return read_json_object(path)


def _regime_of(svc: Service, evaluation_id: int) -> Regime:
    """The regime an evaluation is scored under (its display rule shows the score)."""
    return lookups.regime_of_evaluation(svc, evaluation_id)


@main.command("act")
@click.argument("evaluation_id", type=int)
@click.argument("action", type=click.Choice(HUMAN_TRIGGERS))
@click.option("--by", "actor", required=True, help="The person acting (employee id).")
@click.option("--file", "payload_file", type=click.Path(dir_okay=False),
              help="The submission, as JSON.")
@click.option("--reason", help="Reason (cancel, reopen).")
@pass_context
def act(ctx: Context, evaluation_id: int, action: str, actor: str, payload_file: str | None,
        reason: str | None) -> None:
    """Do ACTION on EVALUATION_ID as a person (submit, score, appeal, decide...)."""
    svc = ctx.service()
    try:
        outcome = fire(svc, evaluation_id, Trigger(action), actor,
                       read_payload(payload_file), reason, now=ctx.now())
    except EvaluationAlreadyChanged:
        # The loser of a race: what was recorded first and kept, not only "moved on".
        kept = race.first_recorded_for_trigger(svc, evaluation_id, Trigger(action), actor)
        if kept is None:
            raise
        fail(lost_race_line(svc, kept), 1)
    line = f"evaluation {evaluation_id}: {outcome.from_state.value} -> {outcome.to_state.value}"
    if outcome.score is not None:
        # Shown as on every other surface: the regime's display rule, the class's name.
        regime = _regime_of(svc, evaluation_id)
        klass = regime.band(outcome.class_id).label.en if outcome.class_id else "no class"
        line += f" (score {formatting.score(outcome.score, 'en', regime)}, {klass})"
    click.echo(line)


def lost_race_line(svc: Service, kept: race.FirstRecorded) -> str:
    """The error line of `kpi act` when another submission was recorded first."""
    tz = records.cycle_timezone(svc, evaluation_id=kept.evaluation_id)
    who = ("by you" if kept.by_reader else
           f"by {kept.author_name} ({kept.author_id})" if kept.author_id else "")
    what = kept.kind.value.replace("_", " ")
    if kept.score is not None and kept.kind in (SubmissionKind.SUPERVISOR_SCORE,
                                                 SubmissionKind.APPEAL_DECISION):
        regime = _regime_of(svc, kept.evaluation_id)
        klass = regime.band(kept.class_id).label.en if kept.class_id else "no class"
        what += f" {kept.decision or ''}".rstrip() + \
            f": score {formatting.score(kept.score, 'en', regime)}, {klass}"
    return (f"evaluation {kept.evaluation_id}: another submission was recorded first, "
            f"{who + ' ' if who else ''}on {local(kept.submitted_at, tz)} ({tz}); it is "
            f"the one kept ({what}); nothing of yours was saved. The evaluation is now in "
            f"{kept.state.value}: see `kpi score explain {kept.evaluation_id}`")


@main.command("cancel")
@click.argument("evaluation_id", type=int)
@click.option("--by", "actor", required=True)
@click.option("--reason", required=True)
@pass_context
def cancel(ctx: Context, evaluation_id: int, actor: str, reason: str) -> None:
    """Cancel an evaluation (transfer, long leave, created in error)."""
    outcome = fire(ctx.service(), evaluation_id, Trigger.CANCEL, actor, None, reason,
                   now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: {outcome.from_state.value} -> cancelled")


@main.command("reopen")
@click.argument("evaluation_id", type=int)
@click.option("--by", "actor", required=True)
@click.option("--reason", required=True)
@pass_context
def reopen(ctx: Context, evaluation_id: int, actor: str, reason: str) -> None:
    """Reopen a finalised evaluation for scoring again."""
    fire(ctx.service(), evaluation_id, Trigger.REOPEN, actor, None, reason, now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: finalised -> supervisor_scoring")


@main.command("extend")
@click.argument("evaluation_id", type=int)
@click.option("--until", "until_text", required=True, metavar="ISO",
              help="The new deadline (local time of the cycle unless an offset is given).")
@click.option("--reason", required=True)
@click.option("--approved-by", required=True, help="Who approved the extension.")
@click.option("--by", "actor", required=True)
@pass_context
def extend(ctx: Context, evaluation_id: int, until_text: str, reason: str, approved_by: str,
           actor: str) -> None:
    """Extend the current phase's deadline of one evaluation."""
    svc = ctx.service()
    tz = records.cycle_timezone(svc, evaluation_id=evaluation_id)
    until = cycle_instant(until_text, tz)
    records.extend(svc, evaluation_id, until, reason, approved_by, actor, now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: deadline moved to {local(until, tz)} ({tz})")


@main.command("extend-bulk")
@click.argument("cycle_id")
@click.option("--phase", required=True, type=click.Choice([s.value for s in PHASE_ORDER]),
              help="Extend every evaluation now in this phase.")
@click.option("--unit", "unit_id", help="Only this unit (not for calibration: one pool).")
@click.option("--until", "until_text", metavar="ISO",
              help="The new deadline (local time of the cycle unless an offset is given).")
@click.option("--working-days", type=click.IntRange(min=1),
              help="Or: move each deadline this many working days later.")
@click.option("--reason", required=True)
@click.option("--approved-by", required=True, help="Who approved the extension.")
@click.option("--by", "actor", required=True)
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
@pass_context
def extend_bulk(ctx: Context, cycle_id: str, phase: str, unit_id: str | None,
                until_text: str | None, working_days: int | None, reason: str,
                approved_by: str, actor: str, dry_run: bool) -> None:
    """Extend the deadline of a whole phase of CYCLE_ID, or of one unit in it."""
    if (until_text is None) == (working_days is None):
        fail("give exactly one of --until ISO or --working-days N", 2)
    until = None
    if until_text is not None:
        until = cycle_instant(until_text, records.cycle_timezone(ctx.service(),
                                                                 cycle_id=cycle_id))
    report = records.extend_many(ctx.service(), cycle_id, State(phase), reason, approved_by,
                                 actor, until=until, working_days=working_days,
                                 unit_id=unit_id, dry_run=dry_run, now=ctx.now())
    verb = "would move" if dry_run else "moved"
    for e in report.extended:
        click.echo(f"  {e.evaluation_id:>7}  {e.reviewee_id:<10} {e.unit_id:<8} "
                   f"{local(e.old_due_at, report.timezone)} -> "
                   f"{local(e.new_due_at, report.timezone)}")
    for eid, reviewee, why in report.unchanged:
        click.echo(f"  {eid:>7}  {reviewee:<10} unchanged: {why}")
    scope = f"unit {unit_id} of " if unit_id else ""
    click.echo(f"{scope}cycle {cycle_id}, {phase}: {verb} {len(report.extended)} deadline(s), "
               f"{len(report.unchanged)} unchanged"
               + ("; dry run: nothing was changed" if dry_run else ""))


@main.command("reassign")
@click.argument("evaluation_id", type=int)
@click.option("--supervisor", help="The new supervisor.")
@click.option("--peer", help="OLD:NEW, replacing a peer who has not answered.")
@click.option("--reason", required=True)
@click.option("--by", "actor", required=True)
@pass_context
def reassign(ctx: Context, evaluation_id: int, supervisor: str | None, peer: str | None,
             reason: str, actor: str) -> None:
    """Give an evaluation another supervisor or peer, on the record."""
    svc = ctx.service()
    if bool(supervisor) == bool(peer):
        fail("give exactly one of --supervisor or --peer OLD:NEW", 2)
    if supervisor:
        records.reassign_supervisor(svc, evaluation_id, supervisor, reason, actor, now=ctx.now())
        click.echo(f"evaluation {evaluation_id}: supervisor is now {supervisor}")
        return
    old, sep, new = (peer or "").partition(":")
    if not sep or not old or not new:
        fail(f"--peer {peer!r}: expected OLD:NEW (two employee ids)", 2)
    records.reassign_peer(svc, evaluation_id, old, new, reason, actor, now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: peer {old} replaced by {new}")


@main.command("delegate")
@click.argument("cycle_id")
@click.option("--supervisor", required=True)
@click.option("--to", "acting", required=True, help="The acting supervisor.")
@click.option("--until", "until_text", required=True, metavar="ISO",
              help="Until when (local time of the cycle unless an offset is given).")
@click.option("--reason", required=True)
@click.option("--by", "actor", required=True)
@pass_context
def delegate(ctx: Context, cycle_id: str, supervisor: str, acting: str, until_text: str,
             reason: str, actor: str) -> None:
    """Let an acting supervisor score for a supervisor until a date."""
    svc = ctx.service()
    tz = records.cycle_timezone(svc, cycle_id=cycle_id)
    until = cycle_instant(until_text, tz)
    report = records.delegate_report(svc, cycle_id, supervisor, acting, until, reason, actor,
                                     now=ctx.now())
    click.echo(f"{acting} acts for {supervisor} on {report.delegated} evaluation(s) until "
               f"{local(until, tz)} ({tz})")
    for evaluation_id, reviewee, why in report.left_out:
        click.echo(f"left out: evaluation {evaluation_id} of {reviewee}: {acting} is "
                   + {"reviewee": "the reviewee", "peer": "a peer of it",
                      "subordinate": "supervised by the reviewee"}[why])


@main.command("override")
@click.argument("evaluation_id", type=int)
@click.option("--override", "override_id", required=True,
              help="e.g. discipline_reprimand_or_higher")
@click.option("--document", required=True, help="The source document (decision number).")
@click.option("--by", "actor", required=True)
@pass_context
def override(ctx: Context, evaluation_id: int, override_id: str, document: str,
             actor: str) -> None:
    """Record a fact that forces a class regardless of the score."""
    records.record_override(ctx.service(), evaluation_id, override_id, document, actor,
                            now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: {override_id} recorded ({document})")


@main.group("calibration")
def calibration_group() -> None:
    """The quota pools of a cycle: the meter, moves, approval."""


@calibration_group.command("show")
@click.argument("cycle_id")
@pass_context
def calibration_show(ctx: Context, cycle_id: str) -> None:
    """The quota meter of every pool and who breaks it."""
    v = calibration.view(ctx.service(), cycle_id)
    click.echo(f"cycle {cycle_id}: calibrator {v.calibrator_id}; {v.waiting} waiting in "
               f"calibration, {v.not_yet_scored} not scored yet")
    if v.extension is not None:
        x = v.extension
        until = local(x.record.new_due_at, v.timezone)
        click.echo(f"  the pool's deadline was extended until {until} ({v.timezone}), "
                   f"approved by {x.approved_by_name}, recorded by "
                   f"{x.created_by_name} on {local(x.record.created_at, v.timezone)}: "
                   f"{x.record.reason}")
    decision = v.exception_decision if v.exception_ratio is not None else None
    for m in v.meters:
        mark = (f"BREAKS: holds after {m.moves} move(s)" if m.breaks
                else "not metered" if not m.metered else "holds")
        click.echo(f"  {m.pool:<18} excellent {m.limited} / allowed {m.allowed} "
                   f"(well completed {m.relative}, ratio {m.ratio}) {mark}; "
                   f"{allowance_rule(m, decision)['en']}")
    if v.needed is not None and v.needed.total:
        plan = ", ".join(f"{n} in task group {g}" for g, n in v.needed.by_task_group.items())
        click.echo(f"  at least {v.needed.total} move(s) in all make every pool hold "
                   f"(e.g. {plan}); a move in a task group counts in the agency too")
    for member in v.members:
        if member.final_class == "excellent":
            both = (" (a move counts for both the agency and its task group)"
                    if v.needed is not None and member.evaluation_id in v.needed.both else "")
            click.echo(f"    excellent: {member.evaluation_id} {member.reviewee_id} "
                       f"{member.reviewee_name} score {str(member.score)[:6]} "
                       f"({member.task_group}){both}")
    click.echo("can approve" if v.can_approve else "cannot approve yet")


@calibration_group.command("move")
@click.argument("evaluation_id", type=int)
@click.option("--to", "to_class", default="well_completed", show_default=True)
@click.option("--reason", required=True)
@click.option("--by", "actor", required=True)
@pass_context
def calibration_move(ctx: Context, evaluation_id: int, to_class: str, reason: str,
                     actor: str) -> None:
    """Move one evaluation down from excellent, with a reason."""
    calibration.move_class(ctx.service(), evaluation_id, to_class, reason, actor, now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: class moved to {to_class}")


@calibration_group.command("undo")
@click.argument("evaluation_id", type=int)
@click.option("--reason", required=True)
@click.option("--by", "actor", required=True)
@pass_context
def calibration_undo(ctx: Context, evaluation_id: int, reason: str, actor: str) -> None:
    """Undo the calibration move of one evaluation, with a reason, before approval."""
    back = calibration_moves.undo_move(ctx.service(), evaluation_id, reason, actor,
                                       now=ctx.now())
    click.echo(f"evaluation {evaluation_id}: move undone; class back to {back}")


@calibration_group.command("approve")
@click.argument("cycle_id")
@click.option("--by", "actor", required=True)
@pass_context
def calibration_approve(ctx: Context, cycle_id: str, actor: str) -> None:
    """Approve the calibration: the pool moves on to the appeal window."""
    n = calibration.approve(ctx.service(), cycle_id, actor, now=ctx.now())
    click.echo(f"cycle {cycle_id}: calibration approved; {n} evaluations in the appeal window")



