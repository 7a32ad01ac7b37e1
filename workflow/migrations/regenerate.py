"""Regenerate the first migration from the tables (only until the first release).

Run by `make migration`. Before kpi-workflow has a release, the schema is still one
migration, ``0001``, generated from ``workflow/store/tables.py`` against an empty
database; after the first release this script is retired and changes get their own
migrations. Column types are written as plain SQLAlchemy types so that a migration
never depends on code that may change later.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command

from workflow.store.db import MIGRATIONS_DIR, Store

# SQLite only: the audit chain's head follows each appended row inside the INSERT (a
# step saves the statement that moved it; PostgreSQL moves it in the audit row's
# own statement, a data-modifying CTE). Written into the migration after the tables.
SQLITE_AUDIT_HEAD_TRIGGER = '''
    # The audit chain's head follows each appended row, in the row's own INSERT
    # (SQLite; PostgreSQL moves it in the same statement with a CTE: store/audit.py).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER auditevent_moves_head AFTER INSERT ON auditevent "
            "BEGIN UPDATE audithead SET last_seq = NEW.seq, last_hash = NEW.row_hash "
            "WHERE id = 1; END")
'''
# SQLite only: a peer's answer marks their peer assignments of the evaluation answered
# in the answer's own INSERT (states/peer_input.peer_answered says which rows; the step
# then sends no assignment UPDATE: service/transition.py). PostgreSQL sends the UPDATE.
SQLITE_PEER_ANSWERED_TRIGGER = '''
        # A peer's answer marks their peer assignments answered, in the answer's own
        # INSERT (SQLite; PostgreSQL updates them itself: service/transition.py).
        op.execute(
            "CREATE TRIGGER submission_answers_peer AFTER INSERT ON submission "
            "WHEN NEW.kind = 'peer_input' "
            "BEGIN UPDATE assignment SET status = 'answered' "
            "WHERE evaluation_id = NEW.evaluation_id AND person_id = NEW.author_id "
            "AND role = 'peer'; END")
'''
END_OF_COMMANDS = "    # ### end Alembic commands ###\n"


def main() -> None:
    target = MIGRATIONS_DIR / "versions" / "0001_first_schema.py"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'empty.sqlite3'}")
        command.revision(store.alembic_config(), message="first schema", autogenerate=True,
                         rev_id="0001")
        store.dispose()
    text = target.read_text(encoding="utf-8")
    text = re.sub(r"import sqlmodel .*\n", "", text)
    text = re.sub(r"import workflow.store.(tables|types) .*\n", "", text)
    text = re.sub(r"Create Date: .*\n", "", text)
    text = re.sub(r"workflow\.store\.(tables|types)\.UTCDateTime\(\)", "sa.DateTime()", text)
    text = text.replace("sqlmodel.sql.sqltypes.AutoString", "sa.String")
    # After the first block's end (upgrade's); downgrade drops the table, and its trigger.
    text = text.replace(END_OF_COMMANDS, END_OF_COMMANDS + SQLITE_AUDIT_HEAD_TRIGGER
                        + SQLITE_PEER_ANSWERED_TRIGGER, 1)
    target.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
