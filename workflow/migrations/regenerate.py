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

# SQLite only: the schema's triggers, from their one definition (the store creates
# any that a file of an earlier build lacks from the same: workflow/store/
# sqlite_triggers.py). Written into the migration after the tables.
SQLITE_TRIGGERS = '''
    # SQLite only: the triggers the engine relies on there (the audit chain's head, a
    # peer's answer); PostgreSQL does the same in its own statements. One definition,
    # which the store also reads: workflow/store/sqlite_triggers.py.
    if op.get_bind().dialect.name == "sqlite":
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger.create)
'''
TRIGGERS_IMPORT = "from workflow.store.sqlite_triggers import SQLITE_TRIGGERS\n"
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
    text = text.replace(END_OF_COMMANDS, END_OF_COMMANDS + SQLITE_TRIGGERS, 1)
    text = text.replace("from alembic import op\n", "from alembic import op\n\n"
                        + TRIGGERS_IMPORT, 1)
    target.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
