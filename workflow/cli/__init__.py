"""The `kpi` command. Each module registers its commands on ``main``."""

from workflow.cli import (  # noqa: F401  (registers the commands)
    act,
    cycle,
    demo,
    info,
    report,
    setup,
)
from workflow.cli.main import main

__all__ = ["main"]
