"""Store.dispose leaves no connection to the database open.

The hot statements run on a driver cursor kept for the transaction
(bulk.transaction_cache). The cache lived in ``session.info``, held by the
session's reference cycle until the garbage collector ran; SQLite closes a
connection whose cursor still holds a statement only as a "zombie", so the file and
its write-ahead log stayed open after dispose, and a copy of the file lacked what
was still in the log. The garbage collector is kept off while the test runs, as it
may well be off for a while in a busy process.
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support import at, small_world
from workflow.service.core import Service
from workflow.service.sweep import tick
from workflow.store.tables import AUDIT


def open_files_of(database: Path) -> list[str]:
    """The files of ``database`` (the file, its -wal and -shm) this process holds open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listing
            continue
        if target.startswith(str(database)):
            found.append(target)
    return found


@pytest.fixture
def no_collector() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def test_dispose_closes_every_connection_and_a_copy_holds_every_row(
        svc: Service, tmp_path: Path, no_collector: None) -> None:
    database = Path(svc.store.engine.url.database or "")
    world = small_world(svc)
    world.submit_self("S1")
    tick(svc, at("2026-05-08 09:00"))  # a sweep's batch writes through the same cursors
    with svc.store.read() as s:
        audit_rows = s.execute(select(func.count()).select_from(AUDIT)).scalar_one()
    assert audit_rows > 2
    assert open_files_of(database), "the check sees the store's own connection"

    svc.store.dispose()

    assert open_files_of(database) == []
    assert not Path(f"{database}-wal").exists(), "the last close folds the log in"
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(database, copy)
    with sqlite3.connect(copy) as raw:
        copied = raw.execute("SELECT count(*) FROM auditevent").fetchone()[0]
    raw.close()
    assert copied == audit_rows
