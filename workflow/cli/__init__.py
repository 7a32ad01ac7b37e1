"""The `kpi` command. Each module registers its commands on ``main``."""

import workflow.cli.scoring  # noqa: F401  (kpi score check, kpi year-end)
from workflow.cli import act, cycle, demo, info, serve, setup  # noqa: F401  (registers the commands)
from workflow.cli.main import main

__all__ = ["main"]
