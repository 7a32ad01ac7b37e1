"""`kpi status`, `kpi score explain`, `kpi audit verify` and `kpi audit anchor`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from workflow.cli import progress
from workflow.cli.main import Context, main, pass_context
from workflow.cli.when import local
from workflow.domain import State

# `kpi status` imports only the light status query (workflow/service/status.py); the
# scoring, the calendar and the audit checks are imported by the commands that use
# them (issue 15: `kpi status` cost 2.3 s of CPU to start; bench/RESULTS.md).

# The columns in the phases' order (workflow.cycle_config.PHASE_ORDER, which a test
# compares with), then the two ends.
SHORT = {
    State.SELF_ASSESSMENT: "self", State.PEER_INPUT: "peer",
    State.SUPERVISOR_SCORING: "scoring", State.CALIBRATION: "calib",
    State.APPEAL_WINDOW: "window", State.APPEAL_REVIEW: "appeal",
    State.FINALISED: "final", State.CANCELLED: "cancel",
}
STATE_COLUMNS = list(SHORT)


@main.command("status")
@click.argument("cycle_id", required=False)
@pass_context
def status_cmd(ctx: Context, cycle_id: str | None) -> None:
    """Progress by state and unit, overdue items, dead letters."""
    from workflow.service.status import read_status  # noqa: PLC0415 (see the top)

    st = read_status(ctx.settings, cycle_id, now=ctx.now())
    if not st.cycles:
        click.echo("no cycle is open; open one with `kpi cycle open FILE`")
    for cs in st.cycles:
        total = sum(cs.by_state.values())
        click.echo(f"cycle {cs.cycle_id}: {cs.name} ({total} evaluations)")
        header = f"  {'unit':<8}{'name':<30}" + "".join(f"{SHORT[s]:>9}" for s in STATE_COLUMNS)
        click.echo(header)
        for unit_id in sorted(cs.by_unit):
            counts = cs.by_unit[unit_id]
            click.echo(f"  {unit_id:<8}{cs.unit_names.get(unit_id, '')[:29]:<30}"
                       + "".join(f"{counts.get(s.value, 0):>9}" for s in STATE_COLUMNS))
        click.echo(f"  {'total':<38}" + "".join(f"{cs.by_state.get(s.value, 0):>9}"
                                                for s in STATE_COLUMNS))
        flags = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in cs.flags.items() if v)
        if flags:
            click.echo(f"  flags: {flags}")
        click.echo(f"  overdue: {cs.overdue_count}")
        for o in cs.overdue:
            click.echo(f"    {o.evaluation_id:>7} {o.reviewee_name:<28} {o.state:<19} "
                       f"due {local(o.due_at, 'Asia/Ho_Chi_Minh')}"
                       f" waiting on {o.waiting_on or '-'}"
                       + (f" (escalated {o.escalation_level})" if o.escalation_level else ""))
    outbox = ", ".join(f"{k} {v}" for k, v in sorted(st.outbox.items())) or "empty"
    click.echo(f"outbox: {outbox}")
    for d in st.dead_letters:
        click.echo(f"  dead letter {d.id}: {d.event} to {d.recipient_email} after "
                   f"{d.attempts} attempts: {d.last_error}")
        click.echo(f"    {dead_letter_address(d.recipient_email, d.current_email)}")
    if st.dead_letters:
        click.echo("  send them again, once the cause is fixed, with `kpi mail retry [ID...]`")


def dead_letter_address(failed: str, current: str | None) -> str:
    """Which address failed, and whether the person's address has changed since."""
    if current is None:
        return (f"the address that failed was {failed}; the recipient is no longer in "
                "the organisation, so it cannot be sent again")
    if current.lower() != failed.lower():
        return (f"the address that failed was {failed}; it has changed since: a retry goes "
                f"to {current}")
    return (f"the address that failed, {failed}, is unchanged in the organisation: correct "
            "it with `kpi org import` before `kpi mail retry`")


@main.group("score")
def score_group() -> None:
    """Scores: their breakdown."""


@score_group.command("explain")
@click.argument("evaluation_id", type=int)
@click.option("--lang", type=click.Choice(["en", "vi"]), default="en", show_default=True,
              help="The language of the lines (vi: Vietnamese).")
@click.option("--json", "as_json", is_flag=True,
              help="The structured lines with both languages' labels, as JSON.")
@pass_context
def explain_cmd(ctx: Context, evaluation_id: int, lang: str, as_json: bool) -> None:
    """The score's breakdown, line by line, recomputed from the stored inputs."""
    from workflow.service.queries import explain  # noqa: PLC0415 (see the top)

    e = explain(ctx.service(), evaluation_id)
    if as_json:
        click.echo(json.dumps({
            "evaluation_id": e.evaluation_id, "reviewee_id": e.reviewee_id,
            "reviewee_name": e.reviewee_name, "locale": e.locale, "state": e.state,
            "score": e.stored_score, "class": e.stored_class, "final_class": e.final_class,
            "recomputed_matches": e.recomputed_matches, "stale": e.stale,
            # beside the recorded score: what the stored inputs give now (stale leaders)
            "recomputed_score": str(e.result.total) if e.result else None,
            "recomputed_class": e.result.class_id if e.result else None,
            "lines": [line.as_dict() for line in e.lines]}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"evaluation {e.evaluation_id}: {e.reviewee_name} ({e.reviewee_id}), "
                   f"{e.state}")
        if e.result is None:
            click.echo("not scored yet")
            return
        for line in e.lines:
            click.echo(line.text(lang))
    if e.recomputed_matches is False and not e.stale:
        click.echo(f"WARNING: the stored score {e.stored_score} ({e.stored_class}) differs "
                   "from the recomputed one", err=True)
        raise SystemExit(1)


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--anchor", "anchor_file", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint written by `kpi audit anchor`: the chain must still hold it.")
@pass_context
def audit_verify(ctx: Context, anchor_file: str | None) -> None:
    """Check the hash chain and the rows it vouches for; name the first broken row."""
    anchor = None
    if anchor_file is not None:
        try:
            anchor = json.loads(Path(anchor_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"{anchor_file}: not an anchor file ({exc})") from None
        if not isinstance(anchor, dict):
            raise click.ClickException(f"{anchor_file}: not an anchor file (not an object)")
    from workflow.service.queries import verify_audit  # noqa: PLC0415 (see the top)

    with progress.shown("kpi audit verify") as shown:
        result = verify_audit(ctx.service(), anchor, progress=shown)
    if not result.keyed:
        click.echo("WARNING: the audit chain is not keyed (no KPI_AUDIT_KEY nor "
                   "KPI_SECRET_KEY): whoever can write to the database can recompute it",
                   err=True)
    if result.ok:
        held = f"; it holds the anchor {anchor_file}" if anchor_file else ""
        click.echo(f"audit chain intact: {result.rows} rows, and every submission, score, "
                   f"class move and override matches it{held}")
        return
    where = f"row {result.first_broken_seq}" if result.first_broken_seq else "a vouched row"
    click.echo(f"audit chain BROKEN at {where}: {result.problem} "
               f"({result.rows} rows verified)", err=True)
    raise SystemExit(1)


@audit_group.command("anchor")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the signed checkpoint (keep it outside the database).")
@pass_context
def audit_anchor(ctx: Context, out: str) -> None:
    """Write a signed checkpoint of the chain (its head, row count and time)."""
    from workflow.service import audit_check  # noqa: PLC0415 (see the top)

    try:
        anchor = audit_check.anchor(ctx.service(), ctx.now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    Path(out).write_text(audit_check.anchor_text(anchor), encoding="utf-8")
    click.echo(f"anchor written to {out}: {anchor['rows']} rows, head {anchor['head'][:16]}..., "
               f"at {anchor['at']}; keep it where the database's writers cannot reach")
