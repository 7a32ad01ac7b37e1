"""Set-based writes: Core ``INSERT`` statements run as one ``executemany`` per chunk.

Opening a cycle writes several rows per reviewee into five tables. An ORM object per
row costs identity-map bookkeeping and a flush that orders rows one by one; a Core
insert of a list of dicts is one statement per chunk (SQLAlchemy's "insertmanyvalues"
folds RETURNING into multi-row statements on both SQLite and PostgreSQL). Chunks bound
the size of each statement's parameter list, so a caller that streams its rows keeps
memory flat however many it writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Row, insert
from sqlmodel import Session

CHUNK = 2000


def batched(rows: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def insert_rows(session: Session, table: Any, rows: Iterable[Mapping[str, Any]],
                chunk: int = CHUNK) -> int:
    """Insert ``rows`` (all with the same keys) in chunks; returns how many."""
    count = 0
    for part in batched(rows, chunk):
        session.execute(insert(table), part)
        count += len(part)
    return count


def insert_returning(session: Session, table: Any, rows: Sequence[Mapping[str, Any]],
                     returning: Sequence[Any], chunk: int = CHUNK) -> list[Row[Any]]:
    """Insert ``rows`` in chunks; ``returning`` of each row, in no promised order (on
    SQLite, promising the order would insert the rows one statement each)."""
    out: list[Row[Any]] = []
    for part in batched(rows, chunk):
        result = session.execute(insert(table).returning(*returning),
                                 part)
        out.extend(result.all())
    return out
