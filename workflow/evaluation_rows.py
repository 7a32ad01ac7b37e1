"""An evaluation's row and its assignment rows as frozen typed records. Pure.

The service's snapshot holds these, the effects core and the pre-launch simulation
read them, the pages get them: a misspelt column is a type error that mypy finds,
not a ``KeyError`` the day a user opens the page, and nobody downstream can change
what the store read (assigning a field raises ``AttributeError``). A change is a new
record: ``row.changed(values)`` (or ``row._replace(column=value)``), which refuses a
name that is not a column.

They are typed tuples (``NamedTuple``), not dataclasses: the store builds one from
the driver's tuple by position, in C. Decoding a row (the column processors, then
the record) takes 0.83x the time of the ``dict`` it replaced, a frozen slots
dataclass 1.16x, as its ``__init__`` sets each of the 31 fields through
``object.__setattr__`` (bench/rows.py, section ``rows`` of bench/RESULTS.md). Their
field order is the table's column order (``workflow.store.tables``;
tests/unit/test_evaluation_rows.py keeps them equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from workflow.domain import State


class EvaluationRecord(NamedTuple):
    """One evaluation row as read (``workflow.store.tables.Evaluation``)."""

    id: int
    cycle_id: str
    reviewee_id: str
    unit_id: str
    task_group: str
    position_group: str
    is_leader: bool
    framework_id: str
    framework_hash: str
    supervisor_id: str | None
    appeal_reviewer_id: str | None
    state: State
    version: int
    phase_entered_at: datetime  # aware, as every instant the store returns
    phase_opens_at: datetime
    due_at: datetime | None
    escalation_level: int
    self_assessment_missing: bool
    peer_quorum_not_reached: bool
    escalated: bool
    extended: bool
    reopened: bool
    petition_round: int  # 0: no petition yet; 1: the first; 2: against its decision...
    score: str | None  # a Decimal's exact text
    score_class: str | None
    final_class: str | None
    scored_by: str | None
    scored_at: datetime | None
    score_stamp: Mapping[str, Any] | None  # the rule files and breakdown the score used
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> EvaluationRecord:
        """The record of a row mapping holding (at least) every column."""
        values = [row[name] for name in cls._fields]
        values[STATE_INDEX] = STATES[values[STATE_INDEX]]
        return cls._make(values)

    def changed(self, values: Mapping[str, Any]) -> EvaluationRecord:
        """This row after ``values`` (column: new value) are written; a ``state``
        given as its text is made the ``State`` it names. ValueError for a name that
        is not a column."""
        new = list(self)
        try:
            for name, value in values.items():
                new[COLUMN_INDEX[name]] = value
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]!r} is not a column of evaluation") from None
        state = values.get("state")
        if state is not None and type(state) is not State:
            new[STATE_INDEX] = STATES[state]
        # By position, as the store makes them (``_replace`` by keywords is 4x as long).
        return EvaluationRecord._make(new)


COLUMN_INDEX = {name: i for i, name in enumerate(EvaluationRecord._fields)}
STATE_INDEX = COLUMN_INDEX["state"]
# A look-up, not ``State(text)``: calling an enum takes ten times as long.
STATES: dict[str, State] = {s.value: s for s in State}


class AssignmentRecord(NamedTuple):
    """Someone asked to act beside the evaluation's fixed parts (a peer, a delegation,
    a recusal), as read (``workflow.store.tables.Assignment``)."""

    id: int
    evaluation_id: int
    person_id: str
    role: str  # a Role's value, or workflow.recusal's RECUSED / CALIBRATOR_INSTEAD
    status: str  # pending | answered | withdrawn
    valid_from: datetime
    valid_until: datetime | None
    created_by: str
    reason: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> AssignmentRecord:
        """The record of a row mapping holding (at least) every column."""
        return cls._make([row[name] for name in cls._fields])
