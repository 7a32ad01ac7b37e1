"""Engines, transactions and schema migrations.

SQLite (the default): WAL, ``busy_timeout``, foreign keys on, and every write
transaction opened with ``BEGIN IMMEDIATE``: a deferred transaction that upgrades
from read to write cannot wait on the busy handler and fails with "database is
locked" (shared/research/libraries.md, section 4). Reads use a plain ``BEGIN``.

PostgreSQL: ``postgresql+psycopg://``; READ COMMITTED; rows are claimed with
``FOR UPDATE SKIP LOCKED`` by the callers.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import Session

from workflow.errors import ConfigError, SchemaOutOfDate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


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

        class PgCursor(psycopg.Cursor[Any]):
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                counter.saw(query)
                return super().execute(query, *args, **kwargs)

            def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                counter.saw(query)
                return super().executemany(query, *args, **kwargs)

        return {"cursor_factory": PgCursor}


def make_engine(url: str, statement_counter: StatementCounter | None = None,
                **kwargs: Any) -> Engine:
    """An engine for ``url`` with the pragmas and transaction mode this engine relies on.

    ``statement_counter`` counts every statement sent to the driver (tests, benchmarks).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"database_url {url!r} is not a database URL (expected sqlite:///path or "
            "postgresql+psycopg://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
        if statement_counter is not None:
            connect_args.update(statement_counter.connect_args("sqlite"))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
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


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # On the driver's cursor: through exec_driver_sql, BEGIN alone cost about a
        # third of an empty write transaction (issue 16).
        sql = "BEGIN" if conn.get_execution_options().get("kpi_read_only") else "BEGIN IMMEDIATE"
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, (), exc, sqlite3.Error,
                                      dialect=conn.dialect) from exc
        finally:
            cursor.close()


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
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with Session(self._read_engine, expire_on_commit=False) as session, session.begin():
            yield session

    # --- schema ---------------------------------------------------------------

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> tuple[str | None, str]:
        """Create or upgrade the schema to the newest migration; (before, after)."""
        before = self.current_revision()
        command.upgrade(self.alembic_config(), "head")
        return before, self.head_revision()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
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

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close the pool. No connection outlives it (tests/integration/
        test_store_dispose.py): on SQLite the last close folds the write-ahead log
        into the file, so a copy of the file holds every committed row."""
        self.engine.dispose()
