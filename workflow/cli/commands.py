"""Which module defines each `kpi` command, and its one-line help, so that the command
group imports only the module of the command being run.

Importing every command's module up front cost seconds on every `kpi` run (the
store, the scoring, the service layer); `kpi --help` now imports none of them, and
`kpi status` only its own. ``tests/e2e/test_cli_startup.py`` checks that this table
names every command that the modules define, with the help their docstrings give:
add a row here when adding a command.
"""

from __future__ import annotations

# name -> (modules to import, in order, the first defining the command; short help)
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "act": (("act",), "Do ACTION on EVALUATION_ID as a person..."),
    "audit": (("info",), "The tamper-evident audit log."),
    "calibration": (("act",), "The quota pools of a cycle: the meter,..."),
    "cancel": (("act",), "Cancel an evaluation (transfer, long..."),
    "cycle": (("cycle", "series"), "Cycles: check a calendar file before..."),
    "delegate": (("act",), "Let an acting supervisor score for a..."),
    "demo": (("demo",), "A complete demo on SQLite with the sample..."),
    "extend": (("act",), "Extend the current phase's deadline of one..."),
    "extend-bulk": (("act",), "Extend the deadline of a whole phase of..."),
    "init": (("setup",), "Create or upgrade the database."),
    "mail": (("mail",), "The outbox: deliver what is due, send dead..."),
    "org": (("setup",), "The organisation: units, people,..."),
    "override": (("act",), "Record a fact that forces a class..."),
    "publication": (("publication",), "Units' results published in the unit:..."),
    "reassign": (("act",), "Give an evaluation another supervisor or..."),
    "record": (("report",), "A person's evaluations with their..."),
    "reopen": (("act",), "Reopen a finalised evaluation for scoring..."),
    "report": (("report",), "A cycle's results: one row per evaluation..."),
    # `score check` is defined in scoring.py on info.py's group.
    "score": (("info", "scoring"), "Scores: their breakdown."),
    "serve": (("serve",), "Run the web app, the deadline sweeper and..."),
    "status": (("info",), "Progress by state and unit, overdue items,..."),
    "tick": (("cycle",), "Run everything that is due: deadlines,..."),
    "year-end": (("scoring",), "The year-end classification: a cycle of..."),
}

# Every module that defines commands (a name missing from COMMANDS is looked up in all).
MODULES = ("act", "cycle", "demo", "info", "mail", "publication", "report", "scoring", "serve",
           "series",
           "setup")
