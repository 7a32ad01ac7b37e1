"""The store boundary hands out typed, frozen records, the same on SQLite and PostgreSQL.

A snapshot's row and assignments are made once from the driver's tuples
(service/core.py): each field must have the type its record declares (aware instants,
real bools, the ``State``), hold what SQLAlchemy itself reads from the table, and
come out the same whichever of the snapshot's statements read it (SQLite's
one-statement read of a locked step, the chunked read of many).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from sqlalchemy import select

from tests.support import World, at, small_world
from workflow.domain import Role, State
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord
from workflow.service import records
from workflow.service.core import Service, load_snapshot, load_snapshots
from workflow.store.tables import ASSIGNMENT

pytestmark = pytest.mark.both_stores
HOSTILE = '<b>Lê "Thị" O\'Brien</b> (acting while H1 is away)'


@pytest.fixture
def world(svc: Service) -> World:
    w = small_world(svc)
    w.submit_self("S1")
    w.answer_peers("S1")
    records.delegate(svc, w.cycle_id, "H1", "D1", at("2026-05-30 17:00"), HOSTILE, "A1",
                     now=at("2026-05-11 09:00"))
    w.score("S1")
    return w


def assert_typed(record: EvaluationRecord | AssignmentRecord, hints: Mapping[str, Any]
                 ) -> None:
    """Every field of ``record`` has the type its annotation says."""
    for name, value in zip(record._fields, record, strict=True):
        hint = hints[name]
        allowed = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
        if value is None:
            assert type(None) in allowed, f"{name} is None"
            continue
        kinds = tuple(get_origin(a) or a for a in allowed if a is not type(None))
        # A bool is an int to isinstance: the flags must be bools, the counters not.
        assert isinstance(value, kinds) and (bool in kinds) == isinstance(value, bool), \
            f"{name} = {value!r} is not {hint}"
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0), f"{name} = {value!r} is not aware UTC"


def test_a_snapshots_row_and_assignments_are_typed_frozen_records(world: World) -> None:
    svc, eid = world.svc, world.ev("S1")
    with svc.store.write() as s:  # one locked evaluation: SQLite reads it in one statement
        locked = load_snapshot(svc, s, eid)
    with svc.store.read() as s:  # several, unlocked: the chunked statements
        read = load_snapshots(svc, s, [eid, world.ev("S2")], lock=False)[eid]
        stored = {r.id: dict(r._mapping) for r in s.execute(
            select(ASSIGNMENT).where(ASSIGNMENT.c.evaluation_id == eid))}
    row = locked.row
    assert isinstance(row, EvaluationRecord) and row.state is State.CALIBRATION
    assert_typed(row, get_type_hints(EvaluationRecord))
    assert row.score is not None and row.score_stamp is not None and row.scored_at is not None
    # What SQLAlchemy reads from the table, field by field, with the state as the enum.
    assert row._asdict() == {**world.row("S1"), "state": State.CALIBRATION}
    assert read.row == row and read.assignments == locked.assignments

    acting = [a for a in locked.assignments if a.role == Role.ACTING_SUPERVISOR.value]
    assert len(acting) == 1 and acting[0].person_id == "D1" and acting[0].reason == HOSTILE
    assert acting[0].valid_until == at("2026-05-30 17:00")
    assert len(locked.assignments) == len(stored) > 1  # the peers too
    for a in locked.assignments:
        assert isinstance(a, AssignmentRecord)
        assert_typed(a, get_type_hints(AssignmentRecord))
        assert a._asdict() == stored[a.id]

    # What the store read cannot be changed by a reader downstream.
    with pytest.raises(AttributeError):
        row.state = State.FINALISED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        locked.assignments[0].status = "withdrawn"  # type: ignore[misc]
    assert world.row("S1")["state"] == State.CALIBRATION.value
