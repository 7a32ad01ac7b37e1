"""A `kpi` command imports what it uses and nothing more (issue 15, item 9): `kpi
--help` none of the commands' modules, `kpi status` no charts, spreadsheets or web
framework. The start time itself is measured by bench/startup.py, not asserted."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click

from workflow.cli.commands import COMMANDS, MODULES

HEAVY = ["openpyxl", "weasyprint", "fastapi", "uvicorn", "starlette"]
PROBE = """
import json, sys
from workflow.cli import main
try:
    main(sys.argv[1:], prog_name="kpi")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""
# What `kpi status` does without (issue 15, item 4: it cost 2.3 s of CPU to start):
# the ORM tables, the migrations tool, the PostgreSQL driver, the scoring and the
# calendar. It reads through SQLAlchemy Core on workflow/store/readmodel.py.
NOT_FOR_STATUS = ["sqlmodel", "pydantic", "alembic", "mako", "pygments", "psycopg",
                  "holidays", "jinja2", "workflow.store.tables", "workflow.scoring",
                  "workflow.service.core", "workflow.cycle_config"]


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    env = {**os.environ, "KPI_DATABASE_URL": f"sqlite:///{tmp_path / 'kpi.sqlite3'}"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_command_and_no_store(tmp_path: Path) -> None:
    modules = imported_by(tmp_path, "--help")
    assert not {m for m in modules if m.split(".")[0] in HEAVY}, modules
    assert not {m for m in modules if m.startswith("sqlalchemy")}, modules
    assert not {f"workflow.cli.{m}" for m in MODULES} & modules, modules


def test_status_imports_neither_reports_nor_the_web(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "workflow.cli", "init"], check=True,
                   capture_output=True, env={**os.environ, "KPI_DATABASE_URL":
                                             f"sqlite:///{tmp_path / 'kpi.sqlite3'}"})
    modules = imported_by(tmp_path, "status")
    assert "workflow.cli.info" in modules  # it did run the command
    assert not {m for m in modules if m.split(".")[0] in HEAVY}, modules
    assert "workflow.reports.export" not in modules
    assert not {m for m in modules for light in NOT_FOR_STATUS
                if m == light or m.startswith(f"{light}.")}, sorted(modules)


def test_the_command_table_names_every_command_with_its_help() -> None:
    from workflow.cli.main import main
    for module in MODULES:
        importlib.import_module(f"workflow.cli.{module}")
    ctx = click.Context(main)
    assert set(main.commands) == set(COMMANDS)
    for name, (modules, short_help) in COMMANDS.items():
        command = main.commands[name]
        assert command.callback is None or command.callback.__module__ == \
            f"workflow.cli.{modules[0]}", name
        assert command.get_short_help_str(limit=45) == short_help, name
        if isinstance(command, click.Group):
            # every subcommand's module is among those the table imports
            for sub in command.list_commands(ctx):
                sub_module = command.commands[sub].callback.__module__  # type: ignore[union-attr]
                assert sub_module.rsplit(".", 1)[1] in modules, (name, sub)


def test_a_subcommand_of_a_group_defined_elsewhere_is_found_after_the_group_was_loaded(
        ) -> None:
    # `score` lives in info.py and `score check` in scoring.py. A process that ran
    # another info.py command first (tests, scripts calling main() twice) once got
    # "No such command 'check'".
    probe = ("import sys; import workflow.cli.info\n"
             "from click.testing import CliRunner\n"
             "from workflow.cli import main\n"
             "r = CliRunner().invoke(main, ['score', 'check', '--help'])\n"
             "print(r.exit_code); print(r.output)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    code, _, output = done.stdout.partition("\n")
    assert code == "0", done.stdout + done.stderr
    assert "No such command" not in output and "check" in output
