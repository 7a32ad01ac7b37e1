"""`kpi demo`: the sample cycle on a fresh SQLite file, in the browser or narrated."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import replace
from pathlib import Path

import click

from notifications.catcher import MailCatcher
from notifications.dispatcher import DeliveryReport, send_due, start_dispatcher
from workflow.bootstrap import build_service
from workflow.cli.main import Context, main, pass_context
from workflow.demo import run_demo
from workflow.settings import Settings

# The demo's audit chain key when none is configured. Public on purpose (a demo
# database holds sample data only): a random key each start, as before, left a stopped
# or restarted demo unable to verify the chain it wrote. KPI_AUDIT_KEY or
# KPI_SECRET_KEY, when set, key it instead.
DEMO_AUDIT_KEY = "kpi-demo-audit-chain"


def demo_settings(settings: Settings, url: str) -> Settings:
    """The demo's settings: its database, a session key of its own, a stable chain key."""
    return replace(settings, database_url=url,
                   secret_key=settings.secret_key or secrets.token_urlsafe(32),
                   audit_key=settings.audit_key or ("" if settings.secret_key
                                                    else DEMO_AUDIT_KEY))


def verify_hint(settings: Settings) -> str:
    """The environment a later `kpi` command needs to verify the demo's chain."""
    return f"KPI_AUDIT_KEY={settings.audit_key} " if settings.audit_key else ""


@main.command("demo")
@click.option("--dir", "workdir", default="var/demo", show_default=True,
              type=click.Path(file_okay=False), help="Where the demo keeps its database.")
@click.option("--narrated", is_flag=True,
              help="Play the whole cycle in simulated time and print it, without a browser.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@pass_context
def demo_cmd(ctx: Context, workdir: str, narrated: bool, host: str, port: int) -> None:
    """A complete demo on SQLite with the sample organisation and cycle."""
    folder = Path(workdir)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'kpi.sqlite3'}"
    with MailCatcher(folder / "mail") as catcher:  # the demo's mail goes here, not out
        settings = replace(demo_settings(ctx.settings, url), smtp_host=catcher.host,
                           smtp_port=catcher.port, smtp_tls="none", smtp_user="",
                           smtp_password="")
        if narrated:
            play_narrated(settings, folder, url)
        else:
            serve_web_demo(settings, folder, url, host, port)


def play_narrated(settings: Settings, folder: Path, url: str) -> None:
    """The whole cycle in simulated time, each day's mail delivered to the catcher."""
    reports: list[DeliveryReport] = []
    svc = build_service(settings, check_schema=False)
    run_demo(svc, settings.config_dir, click.echo,
             deliver=lambda now: reports.append(send_due(svc, now=now)))
    sent = sum(r.sent for r in reports)
    click.echo(f"\n{sent} emails delivered to the demo's mail catcher "
               f"({sum(r.digests for r in reports)} of them supervisors' digests): one .eml "
               f"file each in {folder / 'mail'}; open them with any mail client")
    click.echo(f"\nThe demo's database is {folder / 'kpi.sqlite3'}; look around with\n"
               f"  KPI_DATABASE_URL={url} .venv/bin/kpi status\n"
               f"  KPI_DATABASE_URL={url} .venv/bin/kpi score explain 10\n"
               f"  {verify_hint(settings)}KPI_DATABASE_URL={url} .venv/bin/kpi audit verify")


def serve_web_demo(settings: Settings, folder: Path, url: str, host: str, port: int) -> None:
    """Seed the live demo, print who to play and where, and serve it until Ctrl-C."""
    import uvicorn  # noqa: PLC0415 (only the web demo needs the server)

    from workflow.web import DemoHooks, create_app  # noqa: PLC0415
    from workflow.web.demo import DemoClock, jumper, mail_source, prepare  # noqa: PLC0415

    base = f"http://{host}:{port}"
    settings = replace(settings, base_url=base)
    svc = build_service(settings, check_schema=False)
    click.echo("Preparing the demo: the sample organisation, the April 2026 cycle, and "
               "everyone's part except one reviewee's...")
    plan = prepare(svc, settings.config_dir, click.echo)
    clock = DemoClock()
    app = create_app(svc, clock=clock, demo=DemoHooks(
        jump=jumper(svc, clock), mails=mail_source(svc, folder / "mail")))
    # The dispatcher delivers on the demo's clock to the catcher; the printed link was
    # read before it starts (a sent row keeps no link).
    dispatcher = start_dispatcher(svc, interval=1.0, now=clock)
    click.echo(f"""
The demo runs at {base}/ (its calendar says Monday 4 May 2026; the button
"Jump to the next deadline" on every page moves it on). Play one evaluation:

 1. The reviewee, {plan.protagonist_name} ({plan.protagonist}): open
      {plan.self_assessment_link}
    fill in the self-assessment (save a draft if you like) and submit it.
 2. Two colleagues give anonymous peer input: open {base}/demo/mail (every email
    the system sends is caught there) and answer both "task_peer_input" emails.
 3. The supervisor, {plan.supervisor_name}: sign in at {base}/sign-in with
    {plan.supervisor_email} (the sign-in link arrives in {base}/demo/mail), open
    "My team" and score {plan.protagonist_name}.
 4. The calibrator, {plan.calibrator_name}: the "task_calibration" email to
    {plan.calibrator_email} in {base}/demo/mail; move "excellent" results down with a
    reason until the quota holds, approve. The director's own evaluation is calibrated
    by whoever took it on (recusal): the other "task_calibration" email.
 5. The reviewee again: the "result" email; accept the result, or appeal with reasons.
 6. The appeal reviewer: the "task_appeal_review" email; uphold or revise.

Stop with Ctrl-C. The database is {folder / 'kpi.sqlite3'}; its audit chain verifies
with `{verify_hint(settings)}KPI_DATABASE_URL={url} kpi audit verify`.
`kpi demo --narrated` plays a whole cycle without a browser.
""")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        dispatcher.stop()
