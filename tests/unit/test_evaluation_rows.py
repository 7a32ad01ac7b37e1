"""The evaluation's and the assignment's records: the tables' columns in order, frozen,
changed only into a new record that names real columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from workflow.domain import Role, State
from workflow.evaluation_rows import AssignmentRecord, EvaluationRecord
from workflow.store.tables import ASSIGNMENT, EVALUATION

WHEN = datetime(2026, 5, 5, 2, 0, tzinfo=UTC)
HOSTILE = '<b>Lê "Thị" O\'Brien</b>'


def record() -> EvaluationRecord:
    values: dict[str, Any] = {c.name: None for c in EVALUATION.c}
    values.update(id=7, cycle_id="t-2026-04", reviewee_id="S1", state="supervisor_scoring",
                  version=3, phase_entered_at=WHEN, phase_opens_at=WHEN, created_at=WHEN,
                  updated_at=WHEN, escalation_level=0, petition_round=0, score="89.995")
    return EvaluationRecord.of(values)


def test_the_records_hold_the_tables_columns_in_the_tables_order() -> None:
    # The store builds them from the driver's tuple by position (service/core.py).
    assert EvaluationRecord._fields == tuple(c.name for c in EVALUATION.c)
    assert AssignmentRecord._fields == tuple(c.name for c in ASSIGNMENT.c)


def test_a_record_cannot_be_changed_in_place() -> None:
    row = record()
    with pytest.raises(AttributeError):
        row.state = State.FINALISED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        row.score = "100"  # type: ignore[misc]
    peer = AssignmentRecord(1, 7, "P1", Role.PEER.value, "pending", WHEN, None, "A1", HOSTILE)
    with pytest.raises(AttributeError):
        peer.status = "answered"  # type: ignore[misc]
    assert (row.state, row.score, peer.status) == (State.SUPERVISOR_SCORING, "89.995", "pending")


def test_a_change_is_a_new_record_with_its_state_as_the_enum() -> None:
    row = record()
    after = row.changed({"state": "appeal_window", "version": 4, "final_class": HOSTILE})
    assert after.state is State.APPEAL_WINDOW  # the text a change carries is made the State
    assert (after.version, after.final_class, after.score) == (4, HOSTILE, "89.995")
    assert (row.state, row.version, row.final_class) == (State.SUPERVISOR_SCORING, 3, None)
    assert row.changed({}) == row


def test_a_change_naming_no_column_is_refused() -> None:
    # A dict spread kept a misspelt key silently; the record refuses it.
    with pytest.raises(ValueError, match="statee"):
        record().changed({"statee": "finalised"})
    with pytest.raises(KeyError):
        record().changed({"state": "no_such_state"})


def test_a_row_missing_a_column_is_refused() -> None:
    values: dict[str, Any] = {c.name: None for c in EVALUATION.c if c.name != "score_stamp"}
    values["state"] = "self_assessment"
    with pytest.raises(KeyError, match="score_stamp"):
        EvaluationRecord.of(values)
