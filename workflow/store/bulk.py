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

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import chain, islice
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
    # SQLite: the statement for many rows at once, made from ``sql`` (``_multi_row``);
    # None where ``sql`` is not of a shape it knows, and the rows go to ``executemany``.
    many: _ManyRows | None = None
    # PostgreSQL: ``COPY table (columns) FROM STDIN`` for a plain INSERT of many rows.
    copy: str | None = None
    # PostgreSQL: an INSERT ... ON CONFLICT DO NOTHING of many rows, staged (``_Staged``).
    staged: _Staged | None = None


@dataclass(frozen=True)
class _Staged:
    """PostgreSQL: an INSERT ... ON CONFLICT DO NOTHING of many rows, which COPY cannot
    say, run as COPY into a temporary table of the parameters' types (``kpi_n``, each
    row's place, first), then one ``INSERT ... SELECT`` from it in that order (the
    ids come out as one row at a time gives them), then the table emptied.

    psycopg's ``executemany`` sends each row as a statement of its pipeline (a Bind
    and an Execute each): 1,500 outbox rows, a sweep round's, took 58 ms that way
    and 27 ms by a plain COPY; the sweep's outbox (60,000 rows at 20,000 people) was
    4.2 s of a 14.7 s sweep (issue 16). A conflicting row is skipped as before, a
    concurrent insert of the same key waited for as before: it is the same INSERT,
    reading its rows from a table instead of from parameters.
    """

    table: str  # the temporary table's name, one per statement
    columns: str  # its columns with their types, for CREATE TEMPORARY TABLE
    copy: str  # COPY into it
    sql: str  # the INSERT reading from it


@dataclass(frozen=True)
class _ManyRows:
    """SQLite: a statement over a block of rows in one execution: ``head``, then
    ``group`` (one row's placeholders) once per row joined by ``, ``, then ``tail``.

    INSERT: ``INSERT INTO t (...) VALUES (?, ?), (?, ?) ...``. UPDATE: the rows as a
    ``VALUES`` list joined to the table (``UPDATE t SET c = v_.column1 FROM (VALUES
    ...) AS v_ WHERE t.id = v_.column2``), which matches the same rows as one UPDATE
    per row as long as each row names its own target (compare-and-set by id).
    sqlite3's ``executemany`` steps one prepared statement per row; one statement
    per block of up to 500 rows made a 5,000-person sweep about 5% faster.

    Not on PostgreSQL: there psycopg's ``executemany`` (a pipeline of one prepared
    statement) was faster than blocks of 50 to 500 rows (2,000 outbox-like rows:
    60-85 ms against 160-300 ms; parsing and planning a statement of thousands of
    parameters costs the server more than it saves), and a sweep got 1.6x slower.
    """

    head: str
    group: str
    tail: str
    rows_per_statement: int
    texts: dict[int, str]

    def sql(self, rows: int) -> str:
        found = self.texts.get(rows)
        if found is None:
            groups = ", ".join([self.group] * rows)
            found = self.texts[rows] = f"{self.head}{groups}{self.tail}"
        return found


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
    return _Plan(sql, values_of, tuple(map(itemgetter, names)), processors,
                 _multi_row(dialect, sql, names), _copy_sql(dialect, sql),
                 _staged(dialect, sql, [compiled.binds[n].type.compile(dialect=dialect)
                                        for n in names]))


_PLAIN_INSERT = re.compile(r"^INSERT INTO (\w+ \([\w, \"]+\)) VALUES \([^()']*\)"
                           r"(?: RETURNING [\w., ]+)?$")


def _copy_sql(dialect: Dialect, sql: str) -> str | None:
    """PostgreSQL: the ``COPY`` taking the rows of the plain INSERT ``sql`` (no ON
    CONFLICT, no expression but placeholders), or None.

    A sweep round's append-only rows (deadlines, personal links, audit rows) went
    through psycopg's ``executemany``, whose per-row work (a Bind and an Execute
    each, every value dumped) was 47% of a PostgreSQL sweep (issue 16); COPY sends
    them as one stream (2,000 outbox-like rows: 28-31 ms against 59-86 ms).
    """
    if dialect.name != "postgresql":
        return None
    found = _PLAIN_INSERT.match(sql)
    return None if found is None else f"COPY {found.group(1)} FROM STDIN"


_CONFLICT_INSERT = re.compile(r"^(INSERT INTO \w+ \([\w, \"]+\)) VALUES \(([^()']*)\)"
                              r"( ON CONFLICT \([\w, ]+\) DO NOTHING)(?: RETURNING [\w., ]+)?$")
_PLACEHOLDER = re.compile(r"^%s(?:::[A-Z][A-Z ]*)?$")


def _staged(dialect: Dialect, sql: str, types: list[str]) -> _Staged | None:
    """PostgreSQL: the one-row INSERT ... ON CONFLICT DO NOTHING ``sql`` (nothing but
    placeholders in its VALUES) made an INSERT from a staged table (see ``_Staged``),
    or None where it is of another shape."""
    if dialect.name != "postgresql":
        return None
    found = _CONFLICT_INSERT.match(sql)
    if found is None:
        return None
    values = found.group(2).split(", ")
    if len(values) != len(types) or not all(_PLACEHOLDER.match(v) for v in values):
        return None
    # Named by the statement: two statements never share one within a transaction.
    table = f"kpi_staged_{hashlib.sha256(sql.encode()).hexdigest()[:16]}"
    columns = ", ".join(["kpi_n bigint"] + [f"c{i} {t}" for i, t in enumerate(types)])
    picked = ", ".join(f"c{i}" for i in range(len(types)))
    return _Staged(table, columns, f"COPY {table} FROM STDIN",
                   f"{found.group(1)} SELECT {picked} FROM {table} ORDER BY kpi_n"
                   f"{found.group(3)}")


# Parameters one statement may bind: SQLite's default SQLITE_MAX_VARIABLE_NUMBER since
# 3.32 (32,766; this project needs 3.35 for RETURNING). Rows per statement are capped
# lower still: past a few hundred rows a longer statement saves nothing more.
_MAX_PARAMS = {"sqlite": 32_766}
_MAX_ROWS = 500
_RETURNING = re.compile(r" RETURNING .*$", re.DOTALL)


def _closing(sql: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start``, or -1."""
    if sql[start:start + 1] != "(":
        return -1
    depth = 0
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _multi_row(dialect: Dialect, sql: str, names: tuple[str, ...]) -> _ManyRows | None:
    """The many-row form of the one-row statement ``sql`` (see ``_ManyRows``), or None."""
    limit = _MAX_PARAMS.get(dialect.name)
    if limit is None or not names:
        return None
    rows = max(1, min(_MAX_ROWS, limit // len(names)))
    mark = "?"
    if sql.startswith("INSERT INTO "):
        # The one row's group as compiled, repeated; a RETURNING is dropped (nobody
        # reads what a block returns).
        start = sql.find(" VALUES (")
        end = _closing(sql, start + len(" VALUES "))
        if start < 0 or end < 0:
            return None
        group, tail = sql[start + len(" VALUES "):end + 1], sql[end + 1:]
        if group.count(mark) != len(names) or "'" in group:
            return None
        tail = _RETURNING.sub("", tail)
        return _ManyRows(sql[:start + len(" VALUES ")], group, tail, rows, {})
    if not sql.startswith("UPDATE ") or sql.count(" WHERE ") != 1:
        return None
    parts = sql.split(mark)
    if len(parts) != len(names) + 1 or any("'" in p for p in parts):
        return None
    # A VALUES list's columns are named column1, column2... (not by a CTE: Python's
    # sqlite3 gives no rowcount for a statement that starts with WITH).
    columns = [f"v_.column{i + 1}" for i in range(len(names))]
    joined = "".join(p + c for p, c in zip(parts, columns, strict=False)) + parts[-1]
    target, where = joined.split(" WHERE ")
    group = "(" + ", ".join([mark] * len(names)) + ")"
    return _ManyRows(f"{target} FROM (VALUES ", group, f") AS v_ WHERE {where}", rows, {})


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


def run(session: Session, sql: str, params: Any, *, many: bool = False,
        shown: tuple[str, Any] | None = None) -> Any:
    """Execute ``sql`` (the dialect's own SQL and placeholders) on the driver's cursor;
    returns the cursor. The driver's errors come out as SQLAlchemy's (IntegrityError,
    OperationalError...), as from any other statement, so callers catch one family.
    ``shown``: the statement and parameters an error names instead (a block of 500
    rows would print all their placeholders and values)."""
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
        sql, params = shown or (sql, params)
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
    if plan.copy is not None and len(params) >= _COPY_AT_LEAST:
        _copy(session, plan.copy, params)
        return len(params)
    if plan.staged is not None and len(params) >= _COPY_AT_LEAST:
        return _insert_staged(session, plan, params)
    many = plan.many
    if many is None:
        return int(run(session, plan.sql, params, many=True).rowcount)
    matched = 0
    size = many.rows_per_statement
    for start in range(0, len(params), size):
        block = params[start:start + size]
        if len(block) == 1:
            matched += int(run(session, plan.sql, block[0]).rowcount)
            continue
        flat = tuple(chain.from_iterable(block))
        shown = (f"{plan.sql} -- one of a block of {len(block)} rows", block[0])
        matched += int(run(session, many.sql(len(block)), flat, shown=shown).rowcount)
    return matched


# Rows from which COPY (two round trips: the command, then the data) beats an
# executemany (one pipeline); a step's few rows stay on executemany.
_COPY_AT_LEAST = 20


def _copy(session: Session, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
    """``params`` (bind-processed, in the COPY's column order) through ``sql``."""
    cursor = dbapi_cursor(session)
    try:
        with cursor.copy(sql) as copy:
            for values in params:
                copy.write_row(values)
    except Exception as exc:
        found = dialect(session)
        dbapi_error = found.loaded_dbapi.Error
        if not isinstance(exc, dbapi_error):
            raise
        raise DBAPIError.instance(f"{sql} -- {len(params)} rows", params[0], exc, dbapi_error,
                                  dialect=found) from exc


def _insert_staged(session: Session, plan: _Plan, params: Sequence[tuple[Any, ...]]) -> int:
    """``params`` through ``plan.staged`` (see ``_Staged``); the rows inserted. The
    temporary table lives as long as the transaction (ON COMMIT DROP)."""
    staged = plan.staged
    assert staged is not None
    made: set[str] = transaction_cache(session).setdefault("kpi_staged", set())
    if staged.table not in made:
        run(session, f"CREATE TEMPORARY TABLE {staged.table} ({staged.columns}) "
                     "ON COMMIT DROP", ())
        made.add(staged.table)
    _copy(session, staged.copy, [(n, *values) for n, values in enumerate(params)])
    shown = (f"{plan.sql} -- one of {len(params)} rows", params[0])
    inserted = int(run(session, staged.sql, (), shown=shown).rowcount)
    run(session, f"TRUNCATE {staged.table}", ())  # for the transaction's next chunk
    return inserted


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
                     cte: str, cte_params: Sequence[Any], returning: str = "") -> int:
    """``build()`` for one row (as ``execute_many``) preceded by ``cte`` and its
    parameters, in one statement, ``returning`` (a clause without parameters) after
    it; returns the rows the main statement matched."""
    plan = _plan(dialect(session), key, tuple(row), build)
    if plan is None:
        raise ValueError(f"execute_one_with: {key} takes SQLAlchemy's path for "
                         f"{sorted(row)}; use execute_many or insert_rows")
    return int(run(session, f"{cte} {plan.sql}{returning}",
                   (*cte_params, *_one_row(plan, row))).rowcount)


# A step's rows of several tables go in one PostgreSQL statement only while they are
# few (each a group of placeholders with its casts); a bigger batch takes insert_rows.
_TOGETHER_AT_MOST = 50


def insert_ctes(session: Session, parts: Sequence[tuple[Any, Sequence[Row], str | None]],
                first: int = 0) -> tuple[list[str], list[Any]] | None:
    """PostgreSQL: the INSERTs of ``parts`` (table, rows, ``ignore_conflict_on``) as
    data-modifying CTEs (``w0 AS (INSERT ...)``, named from ``first``) and their
    parameters, to run as part of one statement; None when any part cannot (another
    dialect, too many rows, rows of different keys, a statement SQLAlchemy must fill
    in): the caller then runs ``insert_rows`` for each.

    On PostgreSQL each statement is a round trip; a step writes its new timers, its
    submission, its personal links and emails, a few rows each (issue 16: at most 8
    statements a step). The CTEs of one statement all run, whatever the main
    statement does, on the same snapshot: none of these tables is read by another
    part of the statement.
    """
    if dialect_name(session) != "postgresql":
        return None
    texts: list[str] = []
    params: list[Any] = []
    for table, rows, conflict in parts:
        if not rows:
            continue
        if len(rows) > _TOGETHER_AT_MOST or len(set(map(len, rows))) != 1:
            return None
        name = "postgresql"
        plan = _plan(dialect(session), ("insert", table, conflict), tuple(rows[0]),
                     partial(_insert, name, table, conflict))
        if plan is None:
            return None
        start = plan.sql.find(" VALUES (")
        end = _closing(plan.sql, start + len(" VALUES "))
        if start < 0 or end < 0:
            return None
        group = plan.sql[start + len(" VALUES "):end + 1]
        tail = _RETURNING.sub("", plan.sql[end + 1:])
        texts.append(f"w{first + len(texts)} AS ({plan.sql[:start]} VALUES "
                     f"{', '.join([group] * len(rows))}{tail})")
        for row in rows:
            params.extend(_one_row(plan, row))
    return texts, params


def insert_together(session: Session,
                    parts: Sequence[tuple[Any, Sequence[Row], str | None]]) -> None:
    """Insert the rows of ``parts`` (table, rows, ``ignore_conflict_on``): on
    PostgreSQL in one statement when they are few (``insert_ctes``), else one
    ``insert_rows`` each."""
    parts = [p for p in parts if p[1]]
    together = insert_ctes(session, parts) if len(parts) > 1 else None
    if together is None:
        for table, rows, conflict in parts:
            insert_rows(session, table, rows, ignore_conflict_on=conflict)
        return
    texts, params = together
    # The last CTE's INSERT made the main statement: ``WITH w0 AS (...) INSERT ...``.
    *ctes, last = texts
    main = last[last.index("(") + 1:-1]
    sql = f"WITH {', '.join(ctes)} {main}" if ctes else main
    run(session, sql, tuple(params))


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
