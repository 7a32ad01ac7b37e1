"""Set-based writes: one statement per chunk, run as the driver's own ``executemany``.

Opening a cycle and a sweep round write several rows per evaluation into five
tables and update as many. An ORM object per row costs identity-map bookkeeping and
a flush that orders rows one by one. Even a Core statement given a list of dicts
spends most of its time in SQLAlchemy's per-row parameter handling
(``construct_params`` and a bind processor call per value: about 40% of opening a
cycle). So a statement is compiled once per dialect, statement and set of
parameters, each parameter's bind processor is applied down its column (an instant
or a flag repeated down a column, as ``now`` or a phase's due date is, is converted
once), and the rows go to the driver's ``executemany`` as tuples.

Chunks bound the size of each statement's parameter list, so a caller that streams
its rows keeps memory flat however many it writes.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, event, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql import Executable
from sqlmodel import Session

CHUNK = 2000
log = logging.getLogger("kpi.store")

Processor = Callable[[Any], Any]
Row = Mapping[str, Any]
# Values often repeated down a column (the instant of a change, a phase's dates, the
# flags), hashable, and converted the same way each time: converted once per chunk.
_REPEATED = frozenset({datetime, bool, type(None)})
_PYFORMAT = re.compile(r"%\((\w+)\)s")


def batched(rows: Iterable[Row], size: int) -> Iterable[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(frozen=True)
class _Plan:
    """A compiled statement: its SQL with positional parameters, getters of a row's
    values in that order, and the processor of each parameter that has one."""

    sql: str
    values_of: Callable[[Row], tuple[Any, ...]]
    getters: tuple[Callable[[Row], Any], ...]
    processors: tuple[tuple[int, Processor], ...]


def _compile(dialect: Dialect, stmt: Any, keys: tuple[str, ...]) -> _Plan | None:
    """``stmt`` for ``dialect`` with the rows' ``keys`` as its parameters; None when it
    binds anything else, or a key twice (a column default SQLAlchemy fills in, a
    literal): the caller then takes SQLAlchemy's own path."""
    compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys))
    sql: str = compiled.string
    if compiled.positional:  # qmark (sqlite3)
        names = tuple(compiled.positiontup)
    elif dialect.paramstyle == "pyformat":  # psycopg: %(name)s made %s, tuples not dicts
        names = tuple(_PYFORMAT.findall(sql))
        sql = _PYFORMAT.sub("%s", sql)
    else:
        return None
    if len(names) != len(keys) or set(names) != set(keys) or set(compiled.binds) != set(keys):
        return None
    processors = tuple(
        (i, process) for i, name in enumerate(names)
        if (process := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)))
    getter = itemgetter(*names)
    values_of = getter if len(names) > 1 else (lambda row: (getter(row),))
    return _Plan(sql, values_of, tuple(map(itemgetter, names)), processors)


_plans: dict[tuple[Any, ...], _Plan | None] = {}
_plans_lock = threading.Lock()


def _plan(dialect: Dialect, key: Hashable, keys: tuple[str, ...],
          build: Callable[[], Any]) -> _Plan | None:
    cache_key = (dialect, key, keys)
    try:
        return _plans[cache_key]
    except KeyError:
        pass
    plan = _compile(dialect, build(), keys)
    with _plans_lock:
        if len(_plans) > 1024:  # statements are few; this only bounds a misuse
            _plans.clear()
        _plans[cache_key] = plan
    return plan


def _convert(values: Sequence[Any], process: Processor) -> list[Any]:
    """``process`` applied down a column; a column of instants or flags (and NULLs)
    converts each distinct value once. Only those types: a dict key would merge True
    with 1, which a JSON column must keep apart."""
    if set(map(type, values)) <= _REPEATED:
        done = {value: process(value) for value in set(values)}
        return list(map(done.__getitem__, values))
    return list(map(process, values))


# Instants converted for one-row statements, by (processor, instant, zone, fold; a
# zone's wall times compare equal across a DST fold, hence the last two): a
# step binds the same few (its ``now``, the new phase's dates) in row after row of
# its statements, and a conversion costs more than finding it here.
_INSTANTS: dict[tuple[Processor, datetime, Any, int], Any] = {}


def _one_row(plan: _Plan, row: Row) -> tuple[Any, ...]:
    """``row``'s values in ``plan``'s order, each through its bind processor."""
    values = list(plan.values_of(row))
    for i, process in plan.processors:
        value = values[i]
        if type(value) is not datetime:
            values[i] = process(value)
            continue
        key = (process, value, value.tzinfo, value.fold)
        try:
            values[i] = _INSTANTS[key]
        except KeyError:
            if len(_INSTANTS) > 4096:  # a step's instants are few; this bounds a long run
                _INSTANTS.clear()
            values[i] = _INSTANTS[key] = process(value)
    return tuple(values)


def transaction_cache(session: Session) -> dict[str, Any]:
    """A dict that lives as long as ``session``'s current transaction: what a
    transaction has read once (the people, the audit head) and its driver cursor.

    Tied to the transaction, not the session: it is dropped when the transaction ends
    (``_forget_transaction_cache``), so a session that commits and goes on starts with
    an empty one, and nothing read under an earlier lock is trusted.
    """
    held = session.info.get("kpi_tx")
    if held is None:
        conn = session.connection()  # begins the transaction if none is open yet
        held = session.info["kpi_tx"] = (session.get_transaction(),
                                         {"connection": conn, "dialect": conn.dialect})
    cache: dict[str, Any] = held[1]
    return cache


@event.listens_for(Session, "after_transaction_end")
def _forget_transaction_cache(session: Session, transaction: Any) -> None:
    """Drop the transaction's cache when it ends and close its driver cursor.

    A session and its transactions refer to each other, so the cache (in
    ``session.info``) outlives the ``with`` block until the garbage collector runs.
    Its cursor held a prepared statement, and SQLite's ``close`` leaves a connection
    with unfinalised statements open as a "zombie": the pool had closed it, yet the
    file, its write-ahead log and its shared memory stayed open after
    ``Store.dispose``, and a copy of the file missed the rows still in the log.
    """
    held = session.info.get("kpi_tx")
    if held is None or held[0] is not transaction:
        return
    end_transaction_cache(session.info)


def end_transaction_cache(info: dict[str, Any]) -> None:
    """Drop the transaction cache kept in ``info`` (a session's) and close its driver
    cursor: at the end of a Session's transaction (above), or of a ``CoreSession``'s
    (workflow/store/core_session.py), which has no Session events."""
    held = info.pop("kpi_tx", None)
    cursor = None if held is None else held[1].get("cursor")
    if cursor is None:
        return
    try:
        cursor.close()
    except held[1]["dialect"].loaded_dbapi.Error:
        # The pool closed the connection first (an overflow connection is closed when
        # it is checked in): the cursor, no longer referenced, is freed with it.
        pass


def dbapi_cursor(session: Session) -> Any:
    """The driver's own cursor on the connection of ``session``'s transaction.

    The hot statements of a step go straight to it: through SQLAlchemy's execution
    context (parameter processing, a result object, events) one statement cost
    about ten times its execution by the driver (issue 16).
    """
    cache = transaction_cache(session)
    cursor = cache.get("cursor")
    if cursor is None:
        dbapi = cache["connection"].connection.dbapi_connection
        assert dbapi is not None  # a connection in a transaction is checked out
        cursor = cache["cursor"] = dbapi.cursor()
    return cursor


def dialect(session: Session) -> Dialect:
    """The dialect of ``session``'s connection (kept for the transaction)."""
    found: Dialect = transaction_cache(session)["dialect"]
    return found


def dialect_name(session: Session) -> str:
    return dialect(session).name


def run(session: Session, sql: str, params: Any, *, many: bool = False) -> Any:
    """Execute ``sql`` (the dialect's own SQL and placeholders) on the driver's cursor;
    returns the cursor. The driver's errors come out as SQLAlchemy's (IntegrityError,
    OperationalError...), as from any other statement, so callers catch one family."""
    cursor = dbapi_cursor(session)
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except Exception as exc:
        found = dialect(session)
        dbapi_error = found.loaded_dbapi.Error
        if not isinstance(exc, dbapi_error):
            raise
        raise DBAPIError.instance(sql, params, exc, dbapi_error, dialect=found) from exc
    return cursor


def query(session: Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (the dialect's own SQL and placeholders) run by the driver."""
    rows: list[tuple[Any, ...]] = run(session, sql, tuple(params)).fetchall()
    return rows


def id_list(dialect: str, ids: Sequence[Any]) -> Any:
    """A list of values as one parameter: ``= ANY(%s)`` on PostgreSQL, ``IN (SELECT value
    FROM json_each(?))`` on SQLite (``in_ids``), so one compiled text serves any length."""
    return list(ids) if dialect == "postgresql" else json.dumps(list(ids))


def in_ids(dialect: str) -> str:
    return "= ANY(%s)" if dialect == "postgresql" else "IN (SELECT value FROM json_each(?))"


def result_processors(dialect: Dialect, columns: Sequence[Any]
                      ) -> tuple[Callable[[Any], Any] | None, ...]:
    """The result processor of each column (instants made aware, flags made bool, JSON
    decoded where the driver does not), as SQLAlchemy would apply them."""
    return tuple(c.type._cached_result_processor(dialect, None) for c in columns)


def _execute(session: Session, key: Hashable, build: Callable[[], Any],
             rows: Sequence[Row]) -> int:
    """Run the statement ``build()`` once per row; the rows it matched or wrote."""
    plan = _plan(dialect(session), key, tuple(rows[0]), build)
    # Rows with other keys than the first's (which SQLAlchemy would reject or drop)
    # take SQLAlchemy's path too, so that its error, not a silent loss, tells.
    if plan is None or len(set(map(len, rows))) != 1:
        result: Any = session.execute(build(), list(rows))
        return int(result.rowcount)
    if len(rows) == 1:  # a step's one row: its values in order, each processed
        return int(run(session, plan.sql, _one_row(plan, rows[0])).rowcount)
    params: list[Any]
    if plan.processors:
        columns: list[Any] = [list(map(get, rows)) for get in plan.getters]
        for i, process in plan.processors:
            columns[i] = _convert(columns[i], process)
        params = list(zip(*columns, strict=True))
    else:
        params = list(map(plan.values_of, rows))
    return int(run(session, plan.sql, params, many=True).rowcount)


def _insert(dialect_name: str, table: Table, ignore_conflict_on: str | None) -> Any:
    if ignore_conflict_on is None:
        return insert(table)
    flavour = postgresql if dialect_name == "postgresql" else sqlite
    return flavour.insert(table).on_conflict_do_nothing(index_elements=[ignore_conflict_on])


def insert_rows(session: Session, table: Any, rows: Iterable[Row], chunk: int = CHUNK, *,
                ignore_conflict_on: str | None = None) -> int:
    """Insert ``rows`` (all with the same keys) in chunks; returns how many were given.

    With ``ignore_conflict_on`` (a uniquely indexed column), a row whose value there
    is already stored is skipped: ``ON CONFLICT (column) DO NOTHING``.
    """
    count = 0
    for part in batched(rows, chunk):
        name = dialect_name(session)
        _execute(session, ("insert", table, ignore_conflict_on),
                 partial(_insert, name, table, ignore_conflict_on), part)
        count += len(part)
    return count


def insert_one_with(session: Session, table: Any, row: Row, cte: str,
                    cte_params: Sequence[Any]) -> None:
    """Insert ``row`` in a statement that also runs ``cte`` (PostgreSQL: a
    data-modifying ``WITH name AS (UPDATE ...)``, its parameters first): two writes
    in one round trip."""
    name = dialect_name(session)
    execute_one_with(session, ("insert", table, None), partial(_insert, name, table, None),
                     row, cte, cte_params)


def execute_one_with(session: Session, key: Hashable, build: Callable[[], Any], row: Row,
                     cte: str, cte_params: Sequence[Any]) -> int:
    """``build()`` for one row (as ``execute_many``) preceded by ``cte`` and its
    parameters, in one statement; returns the rows the main statement matched."""
    plan = _plan(dialect(session), key, tuple(row), build)
    if plan is None:
        raise ValueError(f"execute_one_with: {key} takes SQLAlchemy's path for "
                         f"{sorted(row)}; use execute_many or insert_rows")
    return int(run(session, f"{cte} {plan.sql}", (*cte_params, *_one_row(plan, row))).rowcount)


def reserve_ids(session: Session, table: Any, count: int) -> list[int]:
    """``count`` new primary keys of ``table`` for rows this transaction will insert.

    Knowing the ids before the insert spares reading them back afterwards: a
    multi-row RETURNING does not come back in order on SQLite, and a SELECT by
    reviewee was planned as a scan of the whole cycle on a PostgreSQL without
    statistics yet (150 such scans made opening 100,000 four times slower).
    PostgreSQL: the column's own sequence. SQLite: one above the highest id; the
    transaction holds SQLite's one write lock (BEGIN IMMEDIATE) from its start, so
    no other writer can take them before the rows are in.
    """
    if count <= 0:
        return []
    name = table.name
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :count)"), {"table": name, "count": count}).scalars())
    highest = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar_one()
    return list(range(int(highest) + 1, int(highest) + 1 + count))


def analyze(store: Any, tables: Sequence[str]) -> None:
    """Refresh PostgreSQL's statistics of ``tables`` after a bulk load (autovacuum
    does so only a minute or more later, and not at all where it is turned off),
    so that the next sweep's and dispatcher's queries are planned for the real
    sizes. Nothing on SQLite, whose planner works from the indexes alone."""
    if store.dialect != "postgresql":
        return
    try:
        with store.engine.connect() as conn:
            conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
            conn.commit()
    except SQLAlchemyError as exc:  # the load is committed; stale statistics only slow
        log.warning("ANALYZE %s after a bulk load failed (autovacuum will catch up): %s",
                    ", ".join(tables), exc)


def execute_many(session: Session, key: Hashable, build: Callable[[], Executable],
                 rows: Sequence[Row]) -> int:
    """Run the statement ``build()`` (its parameters all ``bindparam``s named by the
    rows' keys) once per row, as one ``executemany``; returns the rows it matched.

    ``key`` names the statement (with the rows' keys, it finds the compiled form):
    two different statements must not share a key.
    """
    return _execute(session, key, build, rows) if rows else 0
