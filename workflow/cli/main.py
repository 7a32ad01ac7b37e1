"""The `kpi` command group: settings, the clock, and one clear line per user error."""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

from workflow.cli.commands import COMMANDS, MODULES
from workflow.clock import parse_instant, utc_now
from workflow.errors import KpiError

if TYPE_CHECKING:
    from workflow.service.core import Service
    from workflow.settings import Settings


class Context:
    """What every command gets: settings, the service (built on first use), the clock."""

    def __init__(self, now: datetime | None) -> None:
        self.fixed_now = now
        self._settings: Settings | None = None
        self._service: Service | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from workflow.settings import load_settings  # noqa: PLC0415 (see LazyGroup)

            self._settings = load_settings()
        return self._settings

    def service(self, *, check_schema: bool = True) -> Service:
        if self._service is None:
            from workflow.bootstrap import build_service  # noqa: PLC0415 (see LazyGroup)

            self._service = build_service(self.settings, check_schema=check_schema)
            # Close the connections when the command ends, however it ends: a command
            # run in-process (tests, scripts) must not leave them to the garbage
            # collector (psycopg warns about each).
            current = click.get_current_context(silent=True)
            if current is not None:
                current.find_root().call_on_close(self._service.store.dispose)
        return self._service

    def now(self) -> datetime:
        return self.fixed_now or utc_now()


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"kpi: error: {message}", err=True)
    sys.exit(code)


class KpiGroup(click.Group):
    """Turns the engine's errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KpiError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:
            # SQLAlchemy's OperationalError, matched without importing SQLAlchemy (a
            # command that never imported it cannot raise it).
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is not None and isinstance(exc, sa_exc.OperationalError):
                fail(f"the database cannot be used: {exc.orig}")
            raise


class LazyGroup(KpiGroup):
    """The top `kpi` group: a command's module is imported when that command runs.

    ``kpi --help`` lists the commands from workflow/cli/commands.py without importing
    any of them; ``kpi status`` imports info.py (and what it needs), not openpyxl,
    FastAPI or the reports.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Every module the table names, even when the group is already known: `score`
        # is defined in info.py and `score check` in scoring.py, so a process that had
        # imported info.py for another command would otherwise miss `score check`.
        if cmd_name in COMMANDS:
            modules: tuple[str, ...] = COMMANDS[cmd_name][0]
        else:
            modules = () if cmd_name in self.commands else MODULES
        for module in modules:
            importlib.import_module(f"workflow.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1] if name in COMMANDS and name not in self.commands
                 else self.commands[name].get_short_help_str(limit=45))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None
              ) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--now", "now", metavar="ISO", callback=parse_now, envvar="KPI_NOW",
              help="Act as if it were this time (simulations and tests); local times are "
                   "read in Asia/Ho_Chi_Minh.")
@click.pass_context
def main(ctx: click.Context, now: datetime | None) -> None:
    """kpi-workflow: KPI evaluation cycles for public servants."""
    ctx.obj = Context(now)


pass_context = click.make_pass_decorator(Context)
