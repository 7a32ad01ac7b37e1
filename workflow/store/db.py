"""Engines, transactions and schema migrations.

SQLite (the default): WAL, ``busy_timeout``, foreign keys on, and every write
transaction opened with ``BEGIN IMMEDIATE``: a deferred transaction that upgrades
from read to write cannot wait on the busy handler and fails with "database is
locked" (shared/research/libraries.md, section 4). Reads use a plain ``BEGIN``.
Several processes on one file (`kpi serve` beside a sweep, the demo's workers): the
busy handler is in place from the connection's first statement, and a ``BEGIN
IMMEDIATE`` that still finds the file locked when it gives up is tried again
(``SQLITE_BEGIN_ATTEMPTS``, below).

PostgreSQL: ``postgresql+psycopg://``; READ COMMITTED; rows are claimed with
``FOR UPDATE SKIP LOCKED`` by the callers.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from workflow.errors import ConfigError, DatabaseLocked, SchemaOutOfDate
from workflow.store import sqlite_triggers

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlmodel import Session

# Alembic (with Mako and Pygments) and psycopg are imported where they are used:
# every command checks the schema, and importing them for that cost about 0.6 s of CPU
# per `kpi status` (issue 15; bench/RESULTS.md). The check reads the version table
# and the migration files' own ``revision`` lines instead.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# How long one write transaction waits for SQLite's write lock, in all: one budget
# across the attempts below, so that a write on a file another process keeps locked
# fails after about this long (DatabaseLocked, naming the file) and not after the
# attempts times the busy timeout (it was 4 x 30 s).
SQLITE_WRITE_WAIT_MS = 30_000
# SQLite's busy handler polls (sleeps of 1 to 100 ms), it does not queue: a writer that
# waits can be passed over, poll after poll, by writers that take the lock again as soon
# as they free it, and give up with "database is locked" though every transaction is
# short (measured: 6 processes of back-to-back writes with a 200 ms timeout, 53 of 360
# transactions refused). Under a loaded machine the same happens within seconds. So a
# ``BEGIN IMMEDIATE`` refused for a busy file is tried again, after a jittered pause
# (the pauses spread the waiters apart), up to this many times in all, as long as the
# write's budget lasts; each attempt waits at most the busy timeout (the budget's share
# of one attempt, and what any other statement waits for a lock).
SQLITE_BEGIN_ATTEMPTS = 4
SQLITE_BUSY_TIMEOUT_MS = SQLITE_WRITE_WAIT_MS // SQLITE_BEGIN_ATTEMPTS
SQLITE_BEGIN_PAUSE_S = (0.05, 0.5)  # the pause before another attempt: uniform in this
_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*['\"]?([\w-]*)['\"]?",
                            re.MULTILINE)


def migration_head(versions: Path = MIGRATIONS_DIR / "versions") -> str | None:
    """The newest migration's revision, read from the files; None if they do not name
    exactly one head (a branch, an unreadable file): ask Alembic then."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if not found.get("revision"):
            return None
        revisions.add(found["revision"])
        if found.get("down_revision") not in (None, "", "None"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


class StatementCounter:
    """Counts the statements sent through the driver's cursors, whoever sends them.

    Given to ``Store`` (tests, bench/peers.py): every ``execute`` and ``executemany``
    on a DBAPI cursor counts one, the engine's own precompiled statements as much as
    SQLAlchemy's; ``kinds`` keeps transaction control (BEGIN, COMMIT) and the pool's
    ping apart from the ``work``.
    """

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.statements: list[str] = []

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    @property
    def work(self) -> int:
        """The statements that read or write data: neither transaction control nor the
        pool's liveness ping (``pool_pre_ping`` sends an empty statement on PostgreSQL)."""
        return self.kinds["work"]

    def reset(self) -> None:
        self.kinds.clear()
        self.statements.clear()

    def saw(self, sql: Any) -> None:
        text = (sql if isinstance(sql, str) else str(sql)).strip().rstrip(";")
        word = text.split(None, 1)[0].upper() if text else ""
        kind = ("ping" if not word or text.upper() == "SELECT 1" else
                "transaction" if word in ("BEGIN", "COMMIT", "ROLLBACK") else "work")
        self.kinds[kind] += 1
        self.statements.append(text)

    def connect_args(self, backend: str) -> dict[str, Any]:
        """The driver's ``connect`` arguments that route its cursors through the count."""
        counter = self
        if backend == "sqlite":
            class SqliteCursor(sqlite3.Cursor):
                def execute(self, sql: str, *args: Any) -> Any:
                    counter.saw(sql)
                    return super().execute(sql, *args)

                def executemany(self, sql: str, *args: Any) -> Any:
                    counter.saw(sql)
                    return super().executemany(sql, *args)

            class SqliteConnection(sqlite3.Connection):
                def cursor(self, factory: Any = SqliteCursor) -> Any:
                    return super().cursor(factory)

            return {"factory": SqliteConnection}

        import psycopg  # noqa: PLC0415 (only a counted PostgreSQL engine needs it)

        class PgCursor(psycopg.Cursor[Any]):
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                counter.saw(query)
                return super().execute(query, *args, **kwargs)

            def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                counter.saw(query)
                return super().executemany(query, *args, **kwargs)

        return {"cursor_factory": PgCursor}


def json_text(value: Any) -> str:
    """How a JSON column's value is written: UTF-8 as it is and no spaces. With
    ``json.dumps``'s defaults every Vietnamese letter took six bytes (``\\u1ec7``) and
    every separator a space: a score's stamp (its breakdown's labels in vi and en),
    an email's context and a payload filled pages that each step writes (issue 16).
    Read back they are the same values."""
    return _JSON_TEXT(value)


# ``json.dumps`` with these options builds an encoder per call: a sweep writes 60,000
# contexts at 20,000 people (issue 16). ``encode`` keeps no state between calls.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def make_engine(url: str, statement_counter: StatementCounter | None = None,
                sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                sqlite_begin_attempts: int = SQLITE_BEGIN_ATTEMPTS,
                sqlite_write_wait_ms: int = SQLITE_WRITE_WAIT_MS, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the pragmas and transaction mode this engine relies on.

    ``statement_counter`` counts every statement sent to the driver (tests, benchmarks);
    ``sqlite_busy_timeout_ms``: how long one SQLite statement (one attempt at a write
    transaction's BEGIN) waits for a lock, ``sqlite_begin_attempts`` how often that BEGIN
    is tried, and ``sqlite_write_wait_ms`` how long the attempts wait in all (tests make
    them small, to see what happens when they run out).
    """
    kwargs.setdefault("json_serializer", json_text)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"database_url {url!r} is not a database URL (expected sqlite:///path or "
            "postgresql+psycopg://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        # One attempt never waits longer than the whole write may.
        sqlite_busy_timeout_ms = min(sqlite_busy_timeout_ms, sqlite_write_wait_ms)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # ``timeout``: the driver's busy handler, in place before the first pragma (the
        # switch to WAL reads the file, and may find it locked by a checkpoint).
        connect_args = {"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000,
                        **kwargs.pop("connect_args", {})}
        if statement_counter is not None:
            connect_args.update(statement_counter.connect_args("sqlite"))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, sqlite_busy_timeout_ms, sqlite_begin_attempts,
                          sqlite_write_wait_ms, parsed.database or ":memory:")
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError(f"database_url {url!r}: use the psycopg driver "
                              "(postgresql+psycopg://...)")
        if statement_counter is not None:
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}),
                                      **statement_counter.connect_args("postgresql")}
        return create_engine(url, pool_pre_ping=True, **kwargs)
    raise ConfigError(f"database_url {url!r}: only sqlite and postgresql are supported")


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, begin_attempts: int,
                      write_wait_ms: int, database: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # On the driver's cursor: through exec_driver_sql, BEGIN alone cost about a
        # third of an empty write transaction (issue 16).
        sql = "BEGIN" if conn.get_execution_options().get("kpi_read_only") else "BEGIN IMMEDIATE"
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            begin_sqlite(cursor, sql, begin_attempts, wait_s=write_wait_ms / 1000,
                         busy_timeout_ms=busy_timeout_ms, database=database)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, (), exc, sqlite3.Error,
                                      dialect=conn.dialect) from exc
        finally:
            cursor.close()


def begin_sqlite(cursor: sqlite3.Cursor, sql: str, attempts: int = SQLITE_BEGIN_ATTEMPTS,
                 pause: tuple[float, float] = SQLITE_BEGIN_PAUSE_S, *,
                 wait_s: float = SQLITE_WRITE_WAIT_MS / 1000,
                 busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, database: str = "") -> int:
    """Run ``sql`` (BEGIN or BEGIN IMMEDIATE), trying again while SQLite answers that
    the file is busy (see ``SQLITE_BEGIN_ATTEMPTS``), within ``wait_s`` in all; how
    many attempts it took. DatabaseLocked, naming ``database``, when the attempts or
    the budget run out. Safe to repeat: a refused BEGIN has started nothing.

    ``busy_timeout_ms`` is the connection's own (its PRAGMA): an attempt that would
    outlast the budget is given what is left of it, and the pragma is set back after."""
    started = time.monotonic()
    deadline = started + wait_s
    shortened = False
    try:
        for attempt in range(1, attempts + 1):
            try:
                cursor.execute(sql)
                return attempt
            except sqlite3.OperationalError as exc:
                # SQLITE_BUSY, or one of its extended codes (the low byte is the code).
                if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) != sqlite3.SQLITE_BUSY:
                    raise
                left = deadline - time.monotonic()
                if attempt < attempts and left > 0:
                    time.sleep(min(random.uniform(*pause), left))
                left_ms = int((deadline - time.monotonic()) * 1000)
                if attempt == attempts or left_ms <= 0:
                    raise DatabaseLocked(database, time.monotonic() - started, attempt,
                                         str(exc)) from exc
                if left_ms < busy_timeout_ms:  # the next attempt gets what is left
                    cursor.execute(f"PRAGMA busy_timeout={left_ms}")
                    shortened = True
    finally:
        if shortened:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class Store:
    """The database: one engine, write and read transactions, the schema."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._read_engine = self.engine.execution_options(kpi_read_only=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on error."""
        from sqlmodel import Session  # noqa: PLC0415 (see read_connection)

        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write_core(self) -> Iterator[Session]:
        """One write transaction as ``write``, on a Core connection without the ORM's
        transaction machinery (a step's: workflow/store/core_session.py says why);
        what needs the ORM still gets a Session joined to it."""
        from workflow.store import core_session  # noqa: PLC0415 (see read_connection)

        with core_session.write(self) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        from sqlmodel import Session  # noqa: PLC0415 (see read_connection)

        with Session(self._read_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A read-only transaction on a Core connection, without the ORM session: for
        reads that must start fast (SQLModel costs about half a second of CPU to import;
        `kpi status` reads through workflow/store/readmodel.py with this)."""
        with self._read_engine.connect() as conn, conn.begin():
            yield conn

    # --- schema ---------------------------------------------------------------

    def alembic_config(self) -> Config:
        from alembic.config import Config  # noqa: PLC0415 (see MIGRATIONS_DIR)

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> tuple[str | None, str]:
        """Create or upgrade the schema to the newest migration; (before, after)."""
        from alembic import command  # noqa: PLC0415 (see MIGRATIONS_DIR)

        before = self.current_revision()
        command.upgrade(self.alembic_config(), "head")
        self.repair_sqlite_triggers()
        return before, self.head_revision()

    def current_revision(self) -> str | None:
        """The revision the database is at (Alembic's version table), None before init."""
        with self.engine.connect() as conn:
            if not sa_inspect(conn).has_table("alembic_version"):
                return None
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        if len(versions) > 1:
            raise SchemaOutOfDate(f"the database at {self.safe_url} is at several "
                                  "migrations at once; run `kpi init`")
        return str(versions[0][0]) if versions else None

    def head_revision(self) -> str:
        """The newest migration: from the files, or Alembic when they are not plain."""
        head = migration_head()
        if head is None:
            from alembic.script import ScriptDirectory  # noqa: PLC0415 (see MIGRATIONS_DIR)

            head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        assert head is not None
        return head

    def require_current_schema(self) -> None:
        """Raise SchemaOutOfDate unless the database is at the newest migration."""
        current = self.current_revision()
        if current != self.head_revision():
            if current is None:
                raise SchemaOutOfDate(f"the database at {self.safe_url} has no kpi-workflow "
                                      "schema yet; run `kpi init`")
            raise SchemaOutOfDate()
        self.repair_sqlite_triggers()

    def repair_sqlite_triggers(self) -> sqlite_triggers.Repair | None:
        """On a SQLite file at the newest migration made by an earlier build of it: the
        schema's triggers it lacks, created in one write transaction with the rows they
        keep in step (workflow/store/sqlite_triggers.py), and logged; None when none
        was missing (one read of the schema) or on PostgreSQL. TriggerRepairRefused,
        having changed nothing, when the audit chain after its head does not follow on."""
        if self.dialect != "sqlite":
            return None
        with self.read_connection() as conn:
            if not sqlite_triggers.missing(conn):
                return None
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE: one repair at a time
            return sqlite_triggers.repair(conn, make_url(self.url).database or self.url)

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close the pool. No connection outlives it (tests/integration/
        test_store_dispose.py): on SQLite the last close folds the write-ahead log
        into the file, so a copy of the file holds every committed row."""
        self.engine.dispose()
