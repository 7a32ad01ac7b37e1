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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import islice
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

CHUNK = 2000

Processor = Callable[[Any], Any]
# Values often repeated down a column (the instant of a change, a phase's dates, the
# flags), hashable, and converted the same way each time: converted once per chunk.
_REPEATED = frozenset({datetime, bool})
_MISSING = object()


def batched(rows: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(frozen=True)
class _Plan:
    """A compiled insert: its SQL, its parameters' order, each parameter's processor."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    processors: tuple[Processor | None, ...]


@lru_cache(maxsize=256)
def _plan(dialect: Dialect, table: Table, keys: tuple[str, ...],
          ignore_conflict_on: str | None) -> _Plan | None:
    """The insert of ``keys`` into ``table`` for ``dialect``; None when the compiled
    statement binds something other than exactly those columns (a column default
    filled in by SQLAlchemy, say): the caller then takes SQLAlchemy's own path."""
    stmt: Any = insert(table)
    if ignore_conflict_on is not None:
        flavour = postgresql if dialect.name == "postgresql" else sqlite
        stmt = flavour.insert(table).on_conflict_do_nothing(index_elements=[ignore_conflict_on])
    compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup) if compiled.positional else tuple(keys)
    bound = {compiled.bind_names[b] for b in compiled.binds.values()}
    if set(names) != set(keys) or bound != set(keys):
        return None
    processors = tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                       for name in names)
    return _Plan(compiled.string, names, bool(compiled.positional), processors)


def _column(rows: Sequence[Mapping[str, Any]], name: str, process: Processor | None
            ) -> list[Any]:
    values = [row[name] for row in rows]
    if process is None:
        return values
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        if type(value) in _REPEATED:
            hit = done.get(value, _MISSING)
            if hit is _MISSING:
                hit = done[value] = process(value)
            out.append(hit)
        else:
            out.append(process(value))
    return out


def _execute(session: Session, table: Any, rows: Sequence[Mapping[str, Any]],
             ignore_conflict_on: str | None) -> None:
    conn = session.connection()
    keys = tuple(rows[0])
    plan = _plan(conn.dialect, table, keys, ignore_conflict_on)
    # Rows with other keys than the first's (which SQLAlchemy would reject or drop)
    # take SQLAlchemy's path too, so that its error, not a silent loss, tells.
    if plan is None or len(rows) == 1 or any(len(row) != len(keys) for row in rows):
        stmt: Any = insert(table)
        if ignore_conflict_on is not None:
            flavour = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = flavour.insert(table).on_conflict_do_nothing(
                index_elements=[ignore_conflict_on])
        session.execute(stmt, list(rows))
        return
    columns = [_column(rows, name, process)
               for name, process in zip(plan.names, plan.processors, strict=True)]
    params: list[Any] = list(zip(*columns, strict=True))
    if not plan.positional:
        params = [dict(zip(plan.names, values, strict=True)) for values in params]
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
