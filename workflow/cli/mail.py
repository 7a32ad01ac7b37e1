"""`kpi mail send`, `kpi mail retry`, `kpi mail show`: the outbox by hand."""

from __future__ import annotations

import click

from notifications.dispatcher import DeliveryReport, retry_dead, send_due
from notifications.outbox import row_for_preview
from notifications.render import render
from workflow.cli import progress
from workflow.cli.main import Context, main, pass_context
from workflow.errors import DeliveryError, NotFound


@main.group("mail")
def mail() -> None:
    """The outbox: deliver what is due, send dead letters again, preview a message."""


def _finish(report: DeliveryReport) -> None:
    click.echo(report.summary())
    for line in report.errors[:20]:
        click.echo(f"  {line}")
    if len(report.errors) > 20:
        click.echo(f"  ... and {len(report.errors) - 20} more; `kpi status` lists dead letters")
    if report.alert:
        raise DeliveryError(f"{report.alert}; nothing more was sent, no attempt was used up")
    if report.unreachable:
        raise DeliveryError(f"{report.unreachable}; {report.released} messages stay pending "
                            "and go out with the next `kpi mail send`")


@mail.command("send")
@pass_context
def send_cmd(ctx: Context) -> None:
    """Deliver everything due in the outbox once (digests folded first)."""
    with progress.shown("kpi mail send") as shown:
        report = send_due(ctx.service(), now=ctx.fixed_now, progress=shown)
    _finish(report)


@mail.command("retry")
@click.argument("outbox_ids", nargs=-1, type=int)
@pass_context
def retry_cmd(ctx: Context, outbox_ids: tuple[int, ...]) -> None:
    """Send dead letters again: all of them, or the OUTBOX_IDS given (`kpi status` lists them)."""
    count, report = retry_dead(ctx.service(), now=ctx.fixed_now,
                               ids=list(outbox_ids) if outbox_ids else None)
    click.echo(f"{count} dead letters queued again")
    _finish(report)


@mail.command("show")
@click.argument("outbox_id", type=int)
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part, not the text.")
@pass_context
def show_cmd(ctx: Context, outbox_id: int, as_html: bool) -> None:
    """Render outbox row OUTBOX_ID as its recipient gets it (nothing is sent)."""
    svc = ctx.service()
    row = row_for_preview(svc, outbox_id)
    if row is None:
        raise NotFound(f"outbox row {outbox_id} does not exist; `kpi status` counts the outbox")
    context = dict(row.context)
    if context.get("links_removed"):  # sent: its raw token was deleted on purpose
        base = svc.settings.base_url.rstrip("/")
        context["action_url"] = f"{base}/t/LINK-REMOVED-AFTER-SENDING"
        if isinstance(context.get("items"), list):
            context["items"] = [{**i, "action_url": context["action_url"]}
                                for i in context["items"]]
    rendered = render(event=row.event, locale=row.locale, timezone=row.timezone,
                      recipient_name=row.recipient_name, recipient_id=row.recipient_id,
                      context=context, base_url=svc.settings.base_url,
                      templates_dir=svc.settings.templates_dir, outbox_id=outbox_id)
    click.echo(f"To: {row.recipient_name} <{row.recipient_email}>")
    click.echo(f"Subject: {rendered.subject}")
    click.echo(f"Message-ID: {row.message_id}   status: {row.status}, "
               f"attempts {row.attempts}")
    click.echo("")
    click.echo(rendered.html if as_html else rendered.text, nl=False)
