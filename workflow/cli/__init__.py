"""The `kpi` command. Each module registers its commands on ``main``."""

import workflow.cli.scoring  # noqa: F401  (kpi score check, kpi year-end)
from workflow.cli import (  # noqa: F401  (registers the commands)
    act,
    cycle,
    demo,
    info,
    mail,
    report,
    serve,
    setup,
)
from workflow.cli.main import main

__all__ = ["main"]
