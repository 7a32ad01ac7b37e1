"""A backup taken mid-cycle restores into a database that finishes the cycle (issue 15,
item 10), as the README's "Backup and restore" says to take it: SQLite's online
backup API on the live file, and pg_dump / pg_restore on PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PgDatabases, make_settings, pg_url
from tests.integration.test_full_cycle import EVERYONE, approve, to_calibration
from tests.support import World, at, small_world
from workflow.domain import State
from workflow.service.core import Service
from workflow.service.queries import verify_audit
from workflow.service.sweep import tick
from workflow.store.db import Store
from workflow.store.tables import AUDIT


def audit_rows(svc: Service) -> int:
    with svc.store.read() as s:
        return int(s.execute(select(func.count()).select_from(AUDIT)).scalar_one())


def mid_cycle(svc: Service) -> World:
    """The small world in calibration: scored, not yet approved, with mail queued."""
    world = small_world(svc)
    to_calibration(world, {"S1": 0.97})
    return world


def finish(world: World) -> None:
    approve(world)
    tick(world.svc, at("2026-06-01 09:00"))  # the appeal window closes: accepted
    assert {world.state(p) for p in EVERYONE} == {State.FINALISED}
    result = verify_audit(world.svc)
    assert result.ok, result.problem


def test_a_sqlite_backup_taken_mid_cycle_restores_and_finishes(tmp_path: Path,
                                                               schema_template: Path) -> None:
    live = tmp_path / "kpi.sqlite3"
    shutil.copy(schema_template, live)
    url = f"sqlite:///{live}"
    svc = Service(Store(url), make_settings(url))
    try:
        world = mid_cycle(svc)
        rows_at_backup = audit_rows(svc)
        backup = tmp_path / "kpi-backup.sqlite3"
        # The online backup API, with the service's connections still open (WAL mode:
        # a plain file copy could miss what sits in the -wal file).
        with sqlite3.connect(live) as source, sqlite3.connect(backup) as target:
            source.backup(target)
        # The live database moves on after the backup; the restore must not see it.
        approve(world)
        assert audit_rows(svc) > rows_at_backup
    finally:
        svc.store.dispose()
    restored = tmp_path / "restored.sqlite3"
    shutil.copy(backup, restored)
    restored_url = f"sqlite:///{restored}"
    svc2 = Service(Store(restored_url), make_settings(restored_url))
    try:
        svc2.store.require_current_schema()
        again = World(svc2, world.cycle_id)
        assert audit_rows(svc2) == rows_at_backup
        assert {again.state(p) for p in EVERYONE} == {State.CALIBRATION}
        finish(again)
    finally:
        svc2.store.dispose()


@pytest.mark.postgres
def test_a_postgres_dump_taken_mid_cycle_restores_and_finishes(
        pg_databases: PgDatabases, tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed (postgresql-client)")
    source_db, target_db = pg_databases.create(), pg_databases.create()
    pg_databases.drop(target_db)
    url = pg_url(source_db)
    svc = Service(Store(url), make_settings(url))
    dump = tmp_path / "kpi.dump"
    try:
        world = mid_cycle(svc)
        rows_at_backup = audit_rows(svc)
        # What the README says: the custom format, taken while the service runs
        # (pg_dump reads one consistent snapshot).
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", dsn],
                       check=True, capture_output=True, timeout=120)
        approve(world)
    finally:
        svc.store.dispose()
    pg_databases.admin.execute(f"CREATE DATABASE {target_db}")
    target_url = pg_url(target_db)
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error",
                    f"--dbname={target_url.replace('postgresql+psycopg://', 'postgresql://')}",
                    str(dump)], check=True, capture_output=True, timeout=120)
    svc2 = Service(Store(target_url), make_settings(target_url))
    try:
        svc2.store.require_current_schema()
        again = World(svc2, world.cycle_id)
        assert audit_rows(svc2) == rows_at_backup
        assert {again.state(p) for p in EVERYONE} == {State.CALIBRATION}
        finish(again)
    finally:
        svc2.store.dispose()
        pg_databases.drop(target_db)
        pg_databases.drop(source_db)
