"""The migrations build, on an empty SQLite file and an empty PostgreSQL database, exactly
the schema the tables declare: alembic's autogenerate finds nothing to add or change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import workflow.store.tables  # noqa: F401  (registers every table on the metadata)
from tests.conftest import PgDatabases, make_settings, pg_url
from workflow.service.core import Service
from workflow.service.setup import init_database
from workflow.store.db import Store

pytestmark = pytest.mark.both_stores


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of ``backend``: no table at all, not a copy of the template."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    name = f"{dbs.prefix}_empty"
    dbs.admin.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_url(name)
    finally:
        dbs.drop(name)


def test_upgrading_an_empty_database_gives_the_tables_schema(empty_url: str) -> None:
    svc = Service(Store(empty_url), make_settings(empty_url))
    try:
        assert inspect(svc.store.engine).get_table_names() == []
        before, after = init_database(svc)
        assert before is None and after == svc.store.head_revision() == "0001"
        with svc.store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
        assert diff == [], f"the migrations and the tables differ: {diff}"
        svc.store.require_current_schema()
        assert init_database(svc) == ("0001", "0001")  # a second upgrade changes nothing
    finally:
        svc.store.dispose()
