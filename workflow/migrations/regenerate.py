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
    target.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
