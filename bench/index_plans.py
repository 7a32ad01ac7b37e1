"""Which index serves which statement, on the tables a step writes (issue 16).

Every index of a table a step inserts into costs a dirtied page a step or more, so an
index no statement uses is pure cost. This tool runs test files (the step, the sweep,
the dispatcher, the web pages) on SQLite with every statement sent to the driver
recorded (``store.db.StatementCounter`` in every engine), then asks SQLite for the
plan of each distinct statement (``EXPLAIN QUERY PLAN`` on a freshly migrated
database: SQLite without ``ANALYZE`` plans from the schema, not from the data) and
prints, per index of the watched tables, the statements it serves, and the indexes
nothing used.

    .venv/bin/python -m bench.index_plans tests/integration/test_full_cycle.py ...

Statements are recorded by a pytest plugin (this module, ``-p bench.index_plans``)
into the file named by ``KPI_INDEX_PLANS_OUT``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

WATCHED = ("deadline", "outbox", "accesstoken", "auditevent", "submission", "evaluation")
OUT_ENV = "KPI_INDEX_PLANS_OUT"

# --- the pytest plugin: every engine counts (and so records) its statements ----------

_SEEN: set[str] = set()


def pytest_configure(config: Any) -> None:
    from workflow.store import db

    original = db.make_engine
    counted = db.StatementCounter.saw

    def saw(self: Any, sql: Any) -> None:
        counted(self, sql)
        _SEEN.add(self.statements.pop())  # a long test would keep them all

    def recording_engine(url: str, statement_counter: Any = None, **kwargs: Any) -> Any:
        if url.startswith("sqlite"):
            statement_counter = statement_counter or db.StatementCounter()
        return original(url, statement_counter, **kwargs)

    setattr(db.StatementCounter, "saw", saw)  # noqa: B010 (patched for this run only)
    setattr(db, "make_engine", recording_engine)  # noqa: B010


def pytest_unconfigure(config: Any) -> None:
    out = os.environ.get(OUT_ENV)
    if out:
        Path(out).write_text(json.dumps(sorted(_SEEN)), encoding="utf-8")


# --- the plans ----------------------------------------------------------------------


class _AnyName(dict[str, Any]):
    def __missing__(self, key: str) -> None:
        return None


def plan(conn: sqlite3.Connection, sql: str) -> list[str] | None:
    """The plan's lines of ``sql`` with every parameter NULL (None if it cannot plan)."""
    params: Any = ()
    for _ in range(3):
        try:
            return [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        except sqlite3.ProgrammingError as e:
            found = re.search(r"uses (\d+)", str(e))
            params = (None,) * int(found.group(1)) if found else _AnyName()
        except sqlite3.Error as e:
            print(f"cannot plan ({e}): {sql[:120]}", file=sys.stderr)
            return None
    return None


def watched_indexes(conn: sqlite3.Connection) -> dict[str, str]:
    """index name -> its table, for the watched tables (the automatic unique ones too)."""
    return {name: table for name, table in conn.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")
        if table in WATCHED}


def main(argv: list[str]) -> int:
    tests = argv or ["tests/integration/test_full_cycle.py"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "statements.json"
        env = {**os.environ, OUT_ENV: str(out), "KPI_REQUIRE_BROWSER": "1"}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "bench.index_plans",
                        "-k", "not postgresql", *tests], env=env, check=False)
        statements = json.loads(out.read_text(encoding="utf-8"))
        db_path = Path(tmp) / "schema.sqlite3"
        from workflow.service.core import Service
        from workflow.service.setup import init_database
        from workflow.settings import load_settings
        from workflow.store.db import Store
        url = f"sqlite:///{db_path}"
        svc = Service(Store(url), load_settings(env={**os.environ, "KPI_DATABASE_URL": url}))
        init_database(svc)
        svc.store.dispose()
        conn = sqlite3.connect(db_path)
        indexes = watched_indexes(conn)
        served: dict[str, list[str]] = defaultdict(list)
        scans: list[str] = []
        unplanned: list[str] = []
        for sql in statements:
            if not re.search(r"\b(" + "|".join(WATCHED) + r")\b", sql, re.IGNORECASE) \
                    or not re.match(r"\s*(SELECT|WITH|UPDATE|DELETE|INSERT)", sql, re.I):
                continue
            lines = plan(conn, sql)
            if lines is None:
                unplanned.append(sql[:160])
                continue
            for line in lines:
                for name in re.findall(r"(?:INDEX|USING INDEX) (\w+)", line):
                    served[name].append(sql)
                if re.match(r"SCAN (" + "|".join(WATCHED) + r")\b", line):
                    scans.append(f"{line}: {sql[:160]}")
    print(f"\n{len(statements)} distinct statements recorded\n")
    for name in sorted(indexes, key=lambda n: (indexes[n], n)):
        uses = served.get(name, [])
        print(f"{indexes[name]}.{name}: {len(uses)} statement(s)")
        for sql in uses[:6]:
            print(f"    {sql[:200]}")
    print("\nnot planned (SQLite refused the statement with NULL parameters):")
    for sql in unplanned:
        print(f"    {sql}")
    print("\nfull scans of watched tables:")
    for line in scans:
        print(f"    {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
