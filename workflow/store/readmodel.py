"""The columns that `kpi status` reads, as light Core clauses (``sqlalchemy.table``).

The SQLModel classes of workflow/store/tables.py cost about 0.6 s of CPU to import,
more than the rest of `kpi status` together (issue 15; bench/RESULTS.md). These
clauses name the same tables and columns with the same types, and nothing else:
``tests/unit/test_readmodel.py`` checks each against tables.py, so a renamed or
retyped column fails there, not in an operator's terminal.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, column, table

from workflow.store.types import UTCDateTime

CYCLE = table("cycle", column("id", String), column("name", String),
              column("opened_at", UTCDateTime()))
UNIT = table("unit", column("id", String), column("name", String))
PERSON = table("person", column("id", String), column("full_name", String),
               column("email", String))
EVALUATION = table(
    "evaluation", column("id", Integer), column("cycle_id", String),
    column("reviewee_id", String), column("unit_id", String), column("state", String),
    column("due_at", UTCDateTime()), column("supervisor_id", String),
    column("appeal_reviewer_id", String), column("escalation_level", Integer),
    column("self_assessment_missing", Boolean), column("peer_quorum_not_reached", Boolean),
    column("escalated", Boolean), column("extended", Boolean), column("reopened", Boolean))
OUTBOX = table(
    "outbox", column("id", Integer), column("event", String), column("status", String),
    column("recipient_id", String), column("recipient_email", String),
    column("attempts", Integer), column("last_error", String),
    column("evaluation_id", Integer))

LIGHT_TABLES = (CYCLE, UNIT, PERSON, EVALUATION, OUTBOX)
