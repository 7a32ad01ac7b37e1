"""The `kpi` command. Each module registers its commands on ``main`` when imported;
``main`` imports a command's module only when that command runs (workflow/cli/commands.py).
"""

from workflow.cli.main import main

__all__ = ["main"]
