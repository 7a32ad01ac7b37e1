"""`python -m workflow.cli` runs the `kpi` command (tests use it in subprocesses)."""

from workflow.cli import main

main()
