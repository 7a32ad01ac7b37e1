"""Several processes on one SQLite file: a write waits for the lock, and when the busy
handler gives up first (it polls, it does not queue: a loaded machine passes a waiter
over), ``BEGIN IMMEDIATE`` is tried again (``workflow.store.db.SQLITE_BEGIN_ATTEMPTS``)
instead of failing with "database is locked"; all the attempts together wait at most
one budget (``SQLITE_WRITE_WAIT_MS``), then DatabaseLocked names the file.

The busy timeout is made short here (100 ms or 1 s instead of 30 s) so that what a
loaded machine does in 30 s happens in a test's time; everything else is the engine's
own.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from workflow.errors import DatabaseLocked, StoreError
from workflow.store import db
from workflow.store.db import Store

pytestmark = pytest.mark.sqlite_only
SHORT_MS = 100
WORKERS_MS = 1000


def counter_file(tmp_path: Path) -> Path:
    path = tmp_path / "busy.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.execute("INSERT INTO counter VALUES (0)")
    return path


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT n FROM counter").fetchone()[0])


def hold_the_write_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    """Another writer (a sweep's long round): BEGIN IMMEDIATE, work, commit."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE counter SET n = n + 100")
    taken.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_a_write_outwaits_a_lock_held_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    path = counter_file(tmp_path)
    taken = threading.Event()
    # Held for 4 busy timeouts; the attempts wait at least 4 x 100 ms + 3 x 50 ms.
    holder = threading.Thread(target=hold_the_write_lock, args=(path, 0.4, taken))
    holder.start()
    assert taken.wait(10)
    store = Store(f"sqlite:///{path}", sqlite_busy_timeout_ms=SHORT_MS)
    try:
        started = time.monotonic()
        with store.write() as s:
            s.execute(text("UPDATE counter SET n = n + 1"))
        waited = time.monotonic() - started
    finally:
        store.dispose()
        holder.join(10)
    assert count(path) == 101  # both writes, one after the other
    assert waited > 0.3, waited  # it did wait for the holder's commit


def test_with_one_attempt_the_same_wait_is_refused_as_locked(tmp_path: Path) -> None:
    """The control: what the attempts save the caller from (and what the test above
    would see without them)."""
    path = counter_file(tmp_path)
    taken = threading.Event()
    holder = threading.Thread(target=hold_the_write_lock, args=(path, 1.0, taken))
    holder.start()
    assert taken.wait(10)
    store = Store(f"sqlite:///{path}", sqlite_busy_timeout_ms=SHORT_MS, sqlite_begin_attempts=1)
    try:
        with pytest.raises(DatabaseLocked, match="database is locked"), store.write() as s:
            s.execute(text("UPDATE counter SET n = n + 1"))
    finally:
        store.dispose()
        holder.join(10)
    assert count(path) == 100  # the refused write wrote nothing


class CountingCursor(sqlite3.Cursor):
    """Counts the statements it runs: how many attempts a BEGIN took."""

    executed = 0

    def execute(self, sql: str, *args: Any) -> Any:
        self.executed += 1
        self.said = [*getattr(self, "said", []), sql]
        return super().execute(sql, *args)


def test_a_lock_held_for_good_is_refused_within_one_budget_naming_the_file(
        tmp_path: Path) -> None:
    """Another process keeps the write lock (a shell left in a transaction): each attempt
    may wait 400 ms and there may be 4, but the write waits 500 ms in all (it waited
    the attempts times the busy timeout, 4 x 30 s by default, before), then is refused
    with the file named and what to do; it wrote nothing."""
    path = counter_file(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE counter SET n = n + 100")
    store = Store(f"sqlite:///{path}", sqlite_busy_timeout_ms=400, sqlite_begin_attempts=4,
                  sqlite_write_wait_ms=500)
    try:
        with pytest.raises(DatabaseLocked) as refused, store.write() as s:
            s.execute(text("UPDATE counter SET n = n + 1"))
    finally:
        store.dispose()
        holder.execute("ROLLBACK")
        holder.close()
    error = refused.value
    assert isinstance(error, StoreError) and error.database == str(path)
    # The budget ran out before the attempts did: 400 ms, a pause of 50 to 500 ms, and
    # at most what is left (<= 50 ms) for a second one.
    assert error.attempts < 4, error.attempts
    assert 0.45 <= error.waited_s < 1.2, error.waited_s
    said = str(error)
    assert f"the SQLite database {path} stayed locked" in said
    assert "another process holds its write lock" in said and f"fuser -v {path}" in said
    assert "kpi serve" in said and "sqlite3" in said
    assert count(path) == 0  # the holder's write rolled back, the refused one never began


def test_the_last_attempt_gets_what_is_left_of_the_budget_and_the_timeout_is_set_back(
        tmp_path: Path) -> None:
    path = counter_file(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.2)
    cursor = conn.cursor(CountingCursor)
    with pytest.raises(DatabaseLocked):
        db.begin_sqlite(cursor, "BEGIN IMMEDIATE", attempts=5, pause=(0.01, 0.02),
                        wait_s=0.3, busy_timeout_ms=200, database=str(path))
    shortened = [int(q.split("=")[1]) for q in cursor.said[:-1] if q.startswith("PRAGMA")]
    assert shortened and all(0 < ms < 200 for ms in shortened), cursor.said
    assert cursor.said[-1] == "PRAGMA busy_timeout=200"  # as the connection had it
    assert cursor.said.count("BEGIN IMMEDIATE") < 5
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    holder.execute("ROLLBACK")
    assert db.begin_sqlite(cursor, "BEGIN IMMEDIATE", busy_timeout_ms=200) == 1
    cursor.execute("ROLLBACK")
    conn.close()
    holder.close()


def test_a_lock_never_released_is_refused_after_the_attempts(tmp_path: Path) -> None:
    path = counter_file(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.02)
    cursor = conn.cursor(CountingCursor)
    with pytest.raises(DatabaseLocked, match="database is locked") as refused:
        db.begin_sqlite(cursor, "BEGIN IMMEDIATE", attempts=3, pause=(0.01, 0.02),
                        busy_timeout_ms=20, database=str(path))
    assert cursor.executed == 3 and refused.value.attempts == 3
    holder.execute("ROLLBACK")
    assert db.begin_sqlite(cursor, "BEGIN IMMEDIATE", attempts=3, pause=(0.01, 0.02)) == 1
    assert cursor.executed == 4
    cursor.execute("ROLLBACK")
    conn.close()
    holder.close()


def test_a_statement_that_is_not_busy_is_not_tried_again(tmp_path: Path) -> None:
    conn = sqlite3.connect(counter_file(tmp_path), isolation_level=None)
    cursor = conn.cursor(CountingCursor)
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        db.begin_sqlite(cursor, "BEGIN SIDEWAYS", attempts=5, pause=(0.01, 0.02))
    assert cursor.executed == 1
    conn.close()


def _writer(url: str, transactions: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(url, sqlite_busy_timeout_ms=WORKERS_MS)
    refused = 0
    for i in range(transactions):
        try:
            with store.write() as s:
                s.execute(text("UPDATE counter SET n = n + 1"))
                time.sleep(0.002)  # a transaction that does some work while it holds the lock
            if i % 10 == 0:  # and readers beside the writers
                with store.read() as s:
                    s.execute(text("SELECT n FROM counter")).scalar_one()
        except (OperationalError, DatabaseLocked):
            refused += 1
        if i % 25 == 24:  # a new engine now and then: the connection's pragmas, again
            store.dispose()
            store = Store(url, sqlite_busy_timeout_ms=WORKERS_MS)
    store.dispose()
    results.put(refused)


def test_three_processes_writing_back_to_back_lose_no_transaction(tmp_path: Path) -> None:
    """Writers, readers and new connections at once, as `kpi serve` beside sweeps: no
    write refused, none lost, none counted twice. (A busy timeout of 1 s, well above
    what a loaded machine takes to give a process the CPU back: with 100-200 ms, 6 such
    processes had up to 135 of 1,400 transactions refused before the attempts, and
    still one now and then after them, the holder of the lock being off the CPU.)"""
    path = counter_file(tmp_path)
    # Forked: the children start with the engine imported (a spawned child takes seconds
    # of CPU to import it again); none of them inherits a connection (none is open yet).
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    procs = [context.Process(target=_writer, args=(f"sqlite:///{path}", 60, results))
             for _ in range(3)]
    for proc in procs:
        proc.start()
    refused = [results.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert refused == [0] * 3
    assert count(path) == 3 * 60
