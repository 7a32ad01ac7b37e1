"""The light clauses `kpi status` reads through (workflow/store/readmodel.py) name
real columns of workflow/store/tables.py with the same types, and the status columns
follow the phases' order."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.types import TypeDecorator

from workflow.cli.info import STATE_COLUMNS
from workflow.cycle_config import PHASE_ORDER
from workflow.domain import State
from workflow.store import tables
from workflow.store.readmodel import LIGHT_TABLES
from workflow.store.types import UTCDateTime


def kind(column_type: object) -> type:
    if not isinstance(column_type, UTCDateTime) and isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance  # SQLModel's AutoString is a String
    for base in (UTCDateTime, Boolean, Integer, String):
        if isinstance(column_type, base):
            return base
    raise AssertionError(f"unexpected type {column_type!r}")


def test_every_light_column_is_a_real_column_of_the_same_kind() -> None:
    real = {t.name: t for t in (tables._core_table(m) for m in tables.ALL_TABLES)}
    checked = 0
    for light in LIGHT_TABLES:
        assert light.name in real, light.name
        for col in light.c:
            assert col.name in real[light.name].c, f"{light.name}.{col.name}"
            assert kind(col.type) is kind(real[light.name].c[col.name].type), \
                f"{light.name}.{col.name}"
            checked += 1
    assert checked > 25


def test_status_columns_are_the_phases_in_order_then_the_ends() -> None:
    assert [*PHASE_ORDER, State.FINALISED, State.CANCELLED] == STATE_COLUMNS
