"""The typed table exports: one per model, the model's own table, nothing else."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Table
from sqlmodel import SQLModel

from workflow.store import tables

ROOT = Path(__file__).resolve().parents[2]


def exports() -> dict[str, Table]:
    return {name: value for name, value in vars(tables).items()
            if name.isupper() and isinstance(value, Table)}


def test_every_model_has_exactly_one_typed_export_and_it_is_its_table() -> None:
    by_table = {table.name: name for name, table in exports().items()}
    assert len(by_table) == len(exports()), "two exports name the same table"
    for model in tables.ALL_TABLES:
        table = SQLModel.metadata.tables[str(model.__tablename__)]
        assert table.name in by_table, f"{model.__name__} has no export"
        assert getattr(tables, by_table[table.name]) is table


def test_every_table_in_the_schema_is_exported() -> None:
    assert {t.name for t in exports().values()} == set(SQLModel.metadata.tables)


def test_no_module_takes_a_models_table_behind_the_type_checker() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("workflow", "notifications", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "workflow" / "store" / "tables.py"
        and path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".__table__" in line
    ]
    assert offenders == [], f"import the exports of workflow.store.tables instead: {offenders}"
