"""Set-based writes: one ``INSERT`` per chunk, run as the driver's own ``executemany``.

Opening a cycle and a sweep round write several rows per evaluation into five
tables. An ORM object per row costs identity-map bookkeeping and a flush that orders
rows one by one. Even a Core ``insert`` of a list of dicts spends most of its time in
SQLAlchemy's per-row parameter handling (``construct_params`` and a bind processor
call per value, which was about 40% of opening a cycle). So the statement is compiled
once per table, dialect and set of columns, each column's bind processor is applied
down the column (an instant repeated down a column, as ``now`` or a phase's due
date is, is converted once), and the rows go to the driver's ``executemany``.

Chunks bound the size of each statement's parameter list, so a caller that streams
its rows keeps memory flat however many it writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

CHUNK = 2000

Processor = Callable[[Any], Any]
# Values often repeated down a column (the instant of a change, a phase's dates, the
# flags), hashable, and converted the same way each time: converted once per chunk.
_REPEATED = frozenset({datetime, bool, type(None)})


def batched(rows: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(frozen=True)
class _Plan:
    """A compiled insert: its SQL with positional parameters, a getter of a row's
    values in that order, and the processor of each parameter that has one."""

    sql: str
    values_of: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    getters: tuple[Callable[[Mapping[str, Any]], Any], ...]
    processors: tuple[tuple[int, Processor], ...]


_PYFORMAT = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=256)
def _plan(dialect: Dialect, table: Table, keys: tuple[str, ...],
          ignore_conflict_on: str | None) -> _Plan | None:
    """The insert of ``keys`` into ``table`` for ``dialect``; None when the compiled
    statement binds something other than exactly those columns once each (a column
    default filled in by SQLAlchemy, say): the caller then takes SQLAlchemy's path."""
    stmt: Any = insert(table)
    if ignore_conflict_on is not None:
        flavour = postgresql if dialect.name == "postgresql" else sqlite
        stmt = flavour.insert(table).on_conflict_do_nothing(index_elements=[ignore_conflict_on])
    compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys))
    sql: str = compiled.string
    if compiled.positional:  # qmark (sqlite3)
        names = tuple(compiled.positiontup)
    elif dialect.paramstyle == "pyformat":  # psycopg: %(name)s made %s, tuples not dicts
        names = tuple(_PYFORMAT.findall(sql))
        sql = _PYFORMAT.sub("%s", sql)
    else:
        return None
    bound = {compiled.bind_names[b] for b in compiled.binds.values()}
    if len(names) != len(keys) or set(names) != set(keys) or bound != set(keys):
        return None
    processors = tuple(
        (i, process) for i, name in enumerate(names)
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)))
    getter = itemgetter(*names)
    values_of = getter if len(names) > 1 else (lambda row: (getter(row),))
    return _Plan(sql, values_of, tuple(map(itemgetter, names)), processors)


def _convert(values: Sequence[Any], process: Processor) -> list[Any]:
    """``process`` applied down a column; a column of instants or flags (and NULLs)
    converts each distinct value once. Only those types: a dict key would merge True
    with 1, which a JSON column must keep apart."""
    if set(map(type, values)) <= _REPEATED:
        done = {value: process(value) for value in set(values)}
        return list(map(done.__getitem__, values))
    return list(map(process, values))


def _execute(session: Session, table: Any, rows: Sequence[Mapping[str, Any]],
             ignore_conflict_on: str | None) -> None:
    conn = session.connection()
    plan = _plan(conn.dialect, table, tuple(rows[0]), ignore_conflict_on)
    # Rows with other keys than the first's (which SQLAlchemy would reject or drop)
    # take SQLAlchemy's path too, so that its error, not a silent loss, tells.
    if plan is None or len(rows) == 1 or len(set(map(len, rows))) != 1:
        stmt: Any = insert(table)
        if ignore_conflict_on is not None:
            flavour = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = flavour.insert(table).on_conflict_do_nothing(
                index_elements=[ignore_conflict_on])
        session.execute(stmt, list(rows))
        return
    params: list[Any]
    if plan.processors:
        columns: list[Any] = [list(map(get, rows)) for get in plan.getters]
        for i, process in plan.processors:
            columns[i] = _convert(columns[i], process)
        params = list(zip(*columns, strict=True))
    else:
        params = list(map(plan.values_of, rows))
    conn.exec_driver_sql(plan.sql, params)


def insert_rows(session: Session, table: Any, rows: Iterable[Mapping[str, Any]],
                chunk: int = CHUNK, *, ignore_conflict_on: str | None = None) -> int:
    """Insert ``rows`` (all with the same keys) in chunks; returns how many were given.

    With ``ignore_conflict_on`` (a uniquely indexed column), a row whose value there
    is already stored is skipped: ``ON CONFLICT (column) DO NOTHING``.
    """
    count = 0
    for part in batched(rows, chunk):
        _execute(session, table, part, ignore_conflict_on)
        count += len(part)
    return count
