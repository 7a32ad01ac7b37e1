"""Fixtures: a real SQLite file per test, initialised with the real migrations."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workflow.service.core import Service
from workflow.service.setup import init_database
from workflow.settings import PROJECT_ROOT, Settings
from workflow.store.db import Store


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, config_dir=PROJECT_ROOT / "config",
                    templates_dir=PROJECT_ROOT / "templates",
                    base_url="http://kpi.test", secret_key="test-secret-key-0123456789",
                    **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated empty SQLite file; each test copies it (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "empty.sqlite3"
    svc = Service(Store(f"sqlite:///{path}"), make_settings(f"sqlite:///{path}"))
    init_database(svc)
    svc.store.dispose()
    return path


@pytest.fixture
def new_service(tmp_path: Path, schema_template: Path) -> Iterator[Callable[..., Service]]:
    """Make services on fresh SQLite files (several per test when needed)."""
    made: list[Service] = []

    def make(name: str = "kpi.sqlite3", **overrides: object) -> Service:
        path = tmp_path / name
        shutil.copy(schema_template, path)
        url = f"sqlite:///{path}"
        svc = Service(Store(url), make_settings(url, **overrides))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.store.dispose()


@pytest.fixture
def svc(new_service: Callable[..., Service]) -> Service:
    return new_service()
