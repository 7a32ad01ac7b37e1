"""`kpi demo`: the sample cycle on a fresh SQLite file, narrated."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import click

from workflow.cli.main import Context, main, pass_context
from workflow.demo import run_demo
from workflow.service.core import Service
from workflow.store.db import Store


@main.command("demo")
@click.option("--dir", "workdir", default="var/demo", show_default=True,
              type=click.Path(file_okay=False), help="Where the demo keeps its database.")
@pass_context
def demo_cmd(ctx: Context, workdir: str) -> None:
    """A complete demo on SQLite with the sample organisation and cycle."""
    folder = Path(workdir)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'kpi.sqlite3'}"
    settings = replace(ctx.settings, database_url=url)
    svc = Service(Store(url), settings)
    run_demo(svc, settings.config_dir, click.echo)
    click.echo(f"\nThe demo's database is {folder / 'kpi.sqlite3'}; look around with\n"
               f"  KPI_DATABASE_URL={url} .venv/bin/kpi status\n"
               f"  KPI_DATABASE_URL={url} .venv/bin/kpi score explain 10\n"
               f"  KPI_DATABASE_URL={url} .venv/bin/kpi audit verify")
