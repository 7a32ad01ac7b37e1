"""The `kpi` command. Each module registers its commands on ``main``."""

from workflow.cli import act, cycle, demo, info, serve, setup  # noqa: F401  (registers the commands)
from workflow.cli.main import main

__all__ = ["main"]
