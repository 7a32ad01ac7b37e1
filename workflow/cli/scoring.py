"""`kpi score check` (regime and framework files) and `kpi year-end import`."""

from __future__ import annotations

from pathlib import Path

import click

from workflow.cli.info import score_group
from workflow.cli.main import Context, main, pass_context
from workflow.configfile import read_yaml
from workflow.errors import ConfigError, ConfigFileError
from workflow.scoring.model import Regime, framework_from, regime_from
from workflow.service.year_end import import_periods


def _is_framework(data: object) -> bool:
    return isinstance(data, dict) and "criteria" in data


@score_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_context
def check_cmd(ctx: Context, files: tuple[str, ...]) -> None:
    """Validate regime and framework files; every error names the file, line and key.

    A framework is checked against its regime: one of FILES, else the regime of
    that id in the config folder (config/regimes/ID.yaml).
    """
    loaded = [read_yaml(f) for f in files]
    regimes: dict[str, Regime] = {}
    failures: list[str] = []
    for lf in loaded:
        if _is_framework(lf.data):
            continue
        try:
            regime = regime_from(lf)
        except ConfigError as exc:
            failures.append(str(exc))
            continue
        regimes[regime.id] = regime
        click.echo(f"ok: {lf.path}: regime {regime.id} version {regime.version}")
    for lf in loaded:
        if not _is_framework(lf.data):
            continue
        regime_id = str(lf.data.get("regime") or "")
        try:
            regime = regimes.get(regime_id) or regime_from(read_yaml(
                ctx.settings.config_dir / "regimes" / f"{regime_id}.yaml"), regime_id)
            fw = framework_from(lf, regime, Path(lf.path).stem)
        except ConfigFileError as exc:
            failures.append(str(exc) if str(exc).startswith(str(lf.path)) else
                            f"{lf.path}: regime: {regime_id!r} cannot be used: {exc}")
            continue
        except ConfigError as exc:
            failures.append(str(exc))
            continue
        click.echo(f"ok: {lf.path}: framework {fw.id} version {fw.version} under {regime.id} "
                   f"({fw.content_hash[:12]})")
    if failures:
        raise ConfigError("\n".join(failures))


@main.group("year-end")
def year_end_group() -> None:
    """The year-end classification: a cycle of its own (see README "Year end")."""


@year_end_group.command("import")
@click.argument("cycle_id")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--by", "actor", required=True, help="The admin importing (employee id).")
@click.option("--replace", is_flag=True,
              help="Replace the periods imported earlier for the people of the file.")
@pass_context
def import_cmd(ctx: Context, cycle_id: str, file: str, actor: str, replace: bool) -> None:
    """Import a former agency's period scores (CSV) into a year-end cycle, all or nothing."""
    report = import_periods(ctx.service(), cycle_id, file, actor, replace=replace,
                            now=ctx.now())
    click.echo(f"cycle {cycle_id}: {report.rows} period(s) imported for "
               f"{len(report.people)} person(s)"
               + (f"; {report.replaced} earlier row(s) replaced" if report.replaced else ""))
