"""What a data change's statement tells back, typed.

A session's ``execute`` is typed as returning a plain ``Result``, which has no
``rowcount``; the result of an UPDATE or a DELETE is a ``CursorResult``, which has.
One checked narrowing here instead of a ``type: ignore`` at each compare-and-set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Result


def rows_matched(result: Result[Any]) -> int:
    """How many rows the UPDATE or DELETE that gave ``result`` matched."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} counts no rows: not a data change's result")
    return int(result.rowcount)
